//! The Route 53 health check on the primary region's `/health`, which the
//! primary failover record depends on. Health checks have no names: the
//! stack's are known by their caller reference,
//! `<stack>-health-<interval>s-<nonce>` (the interval cannot change, so a
//! new interval means a new check; the old one goes once no record uses it).

use std::sync::Arc;

use aws_sdk_route53::types::{HealthCheck, HealthCheckConfig, HealthCheckType};
use serde::Serialize;

use super::{gone, nonce, regional_api_domain};
use crate::deploy::{Action, Ctx, Done, aws_error};

/// The prefix of this stack's caller references.
pub fn prefix(ctx: &Ctx) -> String {
    format!("{}-health-", ctx.stack())
}

/// The interval a caller reference of this stack's health checks encodes:
/// exactly `<stack>-health-<interval>s-<nonce>` (another stack whose name
/// starts the same never matches).
pub fn interval(ctx: &Ctx, caller_reference: &str) -> Option<u32> {
    let rest = caller_reference.strip_prefix(&prefix(ctx))?;
    let (interval, nonce) = rest.split_once("s-")?;
    (!nonce.is_empty() && nonce.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| interval.parse().ok())
        .flatten()
}

/// This stack's health checks (by caller reference), every page read.
pub async fn find(ctx: &Ctx) -> anyhow::Result<Vec<HealthCheck>> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = ctx
            .clients
            .route53
            .list_health_checks()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("ListHealthChecks", e))?;
        out.extend(
            page.health_checks()
                .iter()
                .filter(|h| interval(ctx, h.caller_reference()).is_some())
                .cloned(),
        );
        if !page.is_truncated() {
            return Ok(out);
        }
        marker = page.next_marker().map(str::to_owned);
    }
}

/// Deletes the health check `id`.
pub async fn delete(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    ctx.clients
        .route53
        .delete_health_check()
        .health_check_id(id)
        .send()
        .await
        .map_err(|e| aws_error("DeleteHealthCheck", e))?;
    Ok(())
}

/// Ensures a health check of the configured interval on the primary's own
/// domain, its settings as `up` makes them (a drill's Inverted or Disabled
/// is undone).
pub async fn ensure(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let want_interval = ctx.config.health_check_interval_seconds as i32;
    let threshold = ctx.config.health_check_failure_threshold as i32;
    let target = regional_api_domain(&ctx, &ctx.config.primary_region);
    let r53 = &ctx.clients.route53;
    let mut w = ctx.writer();
    let existing = find(&ctx).await?;
    if let Some(h) = existing
        .iter()
        .find(|h| interval(&ctx, h.caller_reference()) == Some(want_interval as u32))
    {
        ctx.outputs.health_check_id.set(h.id());
        let same = h.health_check_config().is_some_and(|c| {
            c.r#type() == &HealthCheckType::Https
                && c.fully_qualified_domain_name() == Some(target.as_str())
                && c.resource_path() == Some("/health")
                && c.port() == Some(443)
                && c.failure_threshold() == Some(threshold)
                && !c.inverted().unwrap_or(false)
                && !c.disabled().unwrap_or(false)
        });
        if !same {
            w.change(
                "settings (a drill's Inverted or Disabled is undone)",
                || async {
                    r53.update_health_check()
                        .health_check_id(h.id())
                        .health_check_version(h.health_check_version())
                        .fully_qualified_domain_name(&target)
                        .resource_path("/health")
                        .port(443)
                        .failure_threshold(threshold)
                        .inverted(false)
                        .disabled(false)
                        .send()
                        .await
                        .map_err(|e| aws_error("UpdateHealthCheck", e))
                },
            )
            .await?;
        }
        return Ok(w.finish(h.id()));
    }
    // Route 53 refuses a deleted check's caller reference for a while, so
    // each new check gets a fresh one; the interval (immutable) is in it.
    let reference = format!("{}{want_interval}s-{}", prefix(&ctx), nonce());
    let created = w
        .create(|| async {
            r53.create_health_check()
                .caller_reference(&reference)
                .health_check_config(
                    HealthCheckConfig::builder()
                        .r#type(HealthCheckType::Https)
                        .fully_qualified_domain_name(&target)
                        .port(443)
                        .resource_path("/health")
                        .request_interval(want_interval)
                        .failure_threshold(threshold)
                        .enable_sni(true)
                        .build()?,
                )
                .send()
                .await
                .map_err(|e| aws_error("CreateHealthCheck", e))?
                .health_check
                .ok_or_else(|| anyhow::anyhow!("CreateHealthCheck returned nothing"))
        })
        .await?;
    match created {
        Some(check) => {
            ctx.outputs.health_check_id.set(check.id());
            Ok(w.finish(check.id()))
        }
        None => Ok(w.finish(target)),
    }
}

/// Deletes every health check of the stack.
pub async fn remove(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let checks = find(&ctx).await?;
    if checks.is_empty() {
        return gone(format!("{}*", prefix(&ctx)));
    }
    let ids: Vec<String> = checks.iter().map(|h| h.id().to_owned()).collect();
    ctx.delete(ids.join(", "), || async {
        for id in &ids {
            delete(&ctx, id).await?;
        }
        Ok(Done::new(Action::Deleted, ids.join(", ")))
    })
    .await
}

/// What `status` shows of the health check.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckState {
    pub id: String,
    pub target: String,
    /// Route 53's view: more than 18% of checkers report healthy.
    pub healthy: bool,
    pub checkers_healthy: usize,
    pub checkers: usize,
    pub inverted: bool,
    pub disabled: bool,
    pub last_failure: Option<String>,
}

/// The stack's health check as Route 53's checkers see it now.
pub async fn observe(ctx: &Ctx) -> anyhow::Result<Option<HealthCheckState>> {
    let r53 = &ctx.clients.route53;
    let Some(check) = find(ctx).await?.into_iter().next() else {
        return Ok(None);
    };
    let id = check.id().to_owned();
    let config = check.health_check_config();
    let (status, failure) = tokio::join!(
        r53.get_health_check_status().health_check_id(&id).send(),
        r53.get_health_check_last_failure_reason()
            .health_check_id(&id)
            .send(),
    );
    let observations = status.map_err(|e| aws_error("GetHealthCheckStatus", e))?;
    let obs = observations.health_check_observations();
    let ok = obs
        .iter()
        .filter(|o| {
            o.status_report()
                .and_then(|r| r.status())
                .is_some_and(|s| s.starts_with("Success"))
        })
        .count();
    let inverted = config.and_then(|c| c.inverted()).unwrap_or(false);
    let disabled = config.and_then(|c| c.disabled()).unwrap_or(false);
    // Route 53's rule: healthy while more than 18% of checkers say so.
    let raw = obs.is_empty() || ok * 100 > obs.len() * 18;
    let healthy = if disabled { !inverted } else { raw != inverted };
    let last_failure = failure.ok().and_then(|f| {
        f.health_check_observations()
            .iter()
            .filter_map(|o| o.status_report())
            .max_by_key(|r| r.checked_time().map(|t| t.secs()))
            .and_then(|r| r.status().map(str::to_owned))
    });
    Ok(Some(HealthCheckState {
        id,
        target: config
            .and_then(|c| c.fully_qualified_domain_name())
            .unwrap_or_default()
            .to_owned(),
        healthy,
        checkers_healthy: ok,
        checkers: obs.len(),
        inverted,
        disabled,
        last_failure,
    }))
}
