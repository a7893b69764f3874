//! `wildrydes sandbox`: the embedded two-region AWS stand-in.

use clap::Args;

use super::{Outcome, not_built};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct SandboxArgs {}

pub async fn run(_args: SandboxArgs, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    Err(not_built("sandbox", 3))
}
