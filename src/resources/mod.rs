//! One module per AWS resource the stack owns, each with the same small
//! surface (DESIGN.md, "Layout"):
//!
//! - `find`: the stack's resource, by name and [`STACK_TAG`], every page read;
//! - `ensure`: read, compare with what it should be, write only what differs
//!   (through a [`Writer`](crate::deploy::Writer), which owns the dry-run
//!   rule), and say created / updated / unchanged;
//! - `remove`: what `down` does (only what carries the stack's tag);
//! - `observe`: what `status` reads.
//!
//! `up`, `down` and `status` are plans over these functions, so a resource
//! is found one way everywhere. This module holds what several share: the
//! stack's names and the ownership checks.

pub mod api;
pub mod certificate;
pub mod distribution;
pub mod domains;
pub mod function;
pub mod health_check;
pub mod identity_pool;
pub mod role;
pub mod site;
pub mod table;
pub mod zone;

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::deploy::{Action, Ctx, Done};
pub use crate::deploy::{STACK_TAG, tagged};

/// How long to wait for AWS to finish something slow (replicas, certificates,
/// distributions); the sandbox takes well under a second.
pub const SLOW: Duration = Duration::from_secs(30 * 60);
/// How often to look while waiting.
pub const POLL: Duration = Duration::from_millis(200);

// --- names -----------------------------------------------------------------

/// The global table's name.
pub fn table_name(ctx: &Ctx) -> String {
    ctx.name("tickets")
}
/// The ticket function's name, the same in both regions.
pub fn function_name(ctx: &Ctx) -> String {
    ctx.name("tickets")
}
/// The REST API's name, the same in both regions.
pub fn api_name(ctx: &Ctx) -> String {
    ctx.name("tickets")
}
/// The Lambda execution role's name.
pub fn lambda_role_name(ctx: &Ctx) -> String {
    ctx.name("tickets-lambda")
}
/// The role the identity pool gives signed-in users.
pub fn auth_role_name(ctx: &Ctx) -> String {
    ctx.name("authenticated")
}
/// Identity pool names allow letters, digits, spaces and underscores.
pub fn pool_name(ctx: &Ctx) -> String {
    format!("{}_tickets", ctx.stack().replace('-', "_"))
}
/// The developer provider drills sign in with.
pub fn developer_provider(ctx: &Ctx) -> String {
    format!("{}.drills", ctx.stack())
}
/// The web bucket's name (account and region make it globally unique).
pub fn bucket_name(ctx: &Ctx) -> String {
    format!(
        "{}-web-{}-{}",
        ctx.stack(),
        ctx.account,
        ctx.config.primary_region
    )
}
/// `<region>.api.<domain>`.
pub fn regional_api_domain(ctx: &Ctx, region: &str) -> String {
    format!("{region}.{}", ctx.config.api_domain())
}
/// The global table's ARN in `region`.
pub fn table_arn(ctx: &Ctx, region: &str) -> String {
    format!(
        "arn:aws:dynamodb:{region}:{}:table/{}",
        ctx.account,
        table_name(ctx)
    )
}

// --- ownership and results ---------------------------------------------------

/// The error for a resource of the stack's name that is not the stack's.
pub fn not_tagged(kind: &str, name: &str, ctx: &Ctx) -> anyhow::Error {
    anyhow::anyhow!(
        "{kind} {name} exists but is not stack {}'s (it has no {STACK_TAG}={} tag): choose another stack name or remove it yourself",
        ctx.stack(),
        ctx.stack()
    )
}

/// `remove`'s result when there is nothing to remove.
pub fn gone(id: impl Into<String>) -> anyhow::Result<Done> {
    Ok(Done::new(Action::Absent, id))
}

/// `remove`'s result for a resource of the stack's name that is not its.
pub fn kept(id: impl Into<String>) -> anyhow::Result<Done> {
    Ok(Done::new(Action::Kept, id).because(format!("no {STACK_TAG} tag for this stack")))
}

/// Whether a list of AWS tags (key, value) carries this stack's tag.
pub fn has_stack_tag<'a>(
    mut tags: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    stack: &str,
) -> bool {
    tags.any(|(k, v)| k == STACK_TAG && v == Some(stack))
}

/// Hex SHA-256, for content comparisons.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A random 16-hex-digit nonce for caller references.
pub fn nonce() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}
