//! The Cognito identity pools, one in each region (identity pools are
//! regional): signed-in users (via Facebook, or the sandbox's stand-in)
//! and drills (a developer provider) get credentials for the signed-in
//! users' role from either, so logging in does not depend on the primary.
//! The same Facebook user gets a different identity id from each pool;
//! the ticket API keys tickets by the login instead (README, "Identity
//! across regions").

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_cognitoidentity::operation::describe_identity_pool::DescribeIdentityPoolOutput;

use super::{STACK_TAG, developer_provider, gone, pool_name, tagged};
use crate::deploy::{Action, Ctx, Done, aws_error};

/// The app id the sandbox's Facebook stand-in uses when none is configured.
pub const SANDBOX_FACEBOOK_APP: &str = "100000000000001";

/// The Facebook app id the pool trusts.
pub fn facebook_app_id(ctx: &Ctx) -> String {
    ctx.config
        .facebook_app_id
        .clone()
        .unwrap_or_else(|| SANDBOX_FACEBOOK_APP.into())
}

/// The stack's identity pool in `region` (by name and tag), every page
/// read.
pub async fn find(ctx: &Ctx, region: &str) -> anyhow::Result<Option<DescribeIdentityPoolOutput>> {
    let cognito = &ctx.clients.region(region).cognito;
    let name = pool_name(ctx);
    let mut token = None;
    loop {
        let page = cognito
            .list_identity_pools()
            .max_results(60)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("ListIdentityPools", e))?;
        for p in page.identity_pools() {
            if p.identity_pool_name() == Some(name.as_str()) {
                let d = cognito
                    .describe_identity_pool()
                    .identity_pool_id(p.identity_pool_id().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| aws_error("DescribeIdentityPool", e))?;
                if tagged(d.identity_pool_tags(), ctx.stack()) {
                    return Ok(Some(d));
                }
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// Ensures `region`'s pool: no guests, Facebook and the developer
/// provider.
pub async fn ensure(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let cognito = &ctx.clients.region(&region).cognito;
    let name = pool_name(&ctx);
    let providers = HashMap::from([("graph.facebook.com".to_owned(), facebook_app_id(&ctx))]);
    let mut w = ctx.writer();
    if let Some(d) = find(&ctx, &region).await? {
        ctx.outputs.pool_id.set(&region, d.identity_pool_id());
        let same = !d.allow_unauthenticated_identities()
            && d.supported_login_providers() == Some(&providers)
            && d.developer_provider_name() == Some(developer_provider(&ctx).as_str());
        if !same {
            w.change("login providers", || async {
                cognito
                    .update_identity_pool()
                    .identity_pool_id(d.identity_pool_id())
                    .identity_pool_name(&name)
                    .allow_unauthenticated_identities(false)
                    .set_supported_login_providers(Some(providers))
                    .developer_provider_name(developer_provider(&ctx))
                    .set_identity_pool_tags(d.identity_pool_tags().cloned())
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateIdentityPool", e))
            })
            .await?;
        }
        return Ok(w.finish(d.identity_pool_id()));
    }
    let created = w
        .create(|| async {
            cognito
                .create_identity_pool()
                .identity_pool_name(&name)
                .allow_unauthenticated_identities(false)
                .set_supported_login_providers(Some(providers))
                .developer_provider_name(developer_provider(&ctx))
                .identity_pool_tags(STACK_TAG, ctx.stack())
                .send()
                .await
                .map_err(|e| aws_error("CreateIdentityPool", e))
        })
        .await?;
    match created {
        Some(pool) => {
            ctx.outputs.pool_id.set(&region, pool.identity_pool_id());
            Ok(w.finish(pool.identity_pool_id()))
        }
        None => Ok(w.finish(name)),
    }
}

/// Deletes the stack's pool in `region`.
pub async fn remove(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let Some(pool) = find(&ctx, &region).await? else {
        return gone(developer_provider(&ctx));
    };
    let id = pool.identity_pool_id().to_owned();
    ctx.delete(id.clone(), || async {
        ctx.clients
            .region(&region)
            .cognito
            .delete_identity_pool()
            .identity_pool_id(&id)
            .send()
            .await
            .map_err(|e| aws_error("DeleteIdentityPool", e))?;
        Ok(Done::new(Action::Deleted, id))
    })
    .await
}

/// A region's identity pool as `status` shows it.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IdentityPoolState {
    pub id: String,
    /// The login providers it trusts (`graph.facebook.com`).
    pub logins: Vec<String>,
    /// The developer provider drills log in with, if set.
    pub developer_provider: Option<String>,
}

/// The stack's pool in `region` as `status` shows it.
pub async fn observe(ctx: &Ctx, region: &str) -> anyhow::Result<Option<IdentityPoolState>> {
    Ok(find(ctx, region).await?.map(|d| {
        let mut logins: Vec<String> = d
            .supported_login_providers()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        logins.sort();
        IdentityPoolState {
            id: d.identity_pool_id().to_owned(),
            logins,
            developer_provider: d.developer_provider_name().map(str::to_owned),
        }
    }))
}
