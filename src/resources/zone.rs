//! The public hosted zone and the stack's records in it: each region's
//! `<region>.api.` name, the failover pair at the API domain (the primary's
//! guarded by the health check), and (for certificates) validation
//! records. Route 53 has no tags here: the stack's records are known by
//! name, set identifier and where they point, the zone by its comment.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, HostedZoneConfig, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetFailover, RrType,
};
use serde::Serialize;

use super::{POLL, STACK_TAG, gone, health_check, nonce, regional_api_domain};
use crate::deploy::{Action, Ctx, Done, Writer, aws_error, wait_for};

/// The comment on a zone `up` created (a zone without it predates the
/// stack and `down` keeps it).
pub fn zone_comment(ctx: &Ctx) -> String {
    format!("{STACK_TAG}={}", ctx.stack())
}

/// The public hosted zone of the stack's domain.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Without `/hostedzone/`.
    pub id: String,
    /// Whether `up` created it (its comment names the stack).
    pub made_by_us: bool,
}

/// The public hosted zone for the domain (private zones of the same name
/// are skipped), if there is one.
pub async fn find(ctx: &Ctx) -> anyhow::Result<Option<Zone>> {
    let domain = &ctx.config.domain;
    let want = format!("{domain}.");
    let zones = ctx
        .clients
        .route53
        .list_hosted_zones_by_name()
        .dns_name(domain)
        .send()
        .await
        .map_err(|e| aws_error("ListHostedZonesByName", e))?;
    Ok(zones
        .hosted_zones()
        .iter()
        .find(|z| z.name() == want && !z.config().is_some_and(|c| c.private_zone()))
        .map(|z| Zone {
            id: z.id().trim_start_matches("/hostedzone/").to_owned(),
            made_by_us: z.config().and_then(|c| c.comment()) == Some(zone_comment(ctx).as_str()),
        }))
}

/// Ensures the zone: found, or (on the sandbox) created; on AWS a missing
/// zone is an error (it must be delegated by hand).
pub async fn ensure(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let domain = &ctx.config.domain;
    let mut w = ctx.writer();
    if let Some(z) = find(&ctx).await? {
        ctx.outputs.zone_id.set(&z.id);
        return Ok(w.finish(z.id));
    }
    if !ctx.create_zone {
        anyhow::bail!(
            "there is no public hosted zone {domain} in this account: create it in Route 53, delegate {domain} to its name servers at your registrar, and run up again"
        );
    }
    let created = w
        .create(|| async {
            let zone = ctx
                .clients
                .route53
                .create_hosted_zone()
                .name(domain)
                .caller_reference(format!("{}-zone-{}", ctx.stack(), nonce()))
                .hosted_zone_config(
                    HostedZoneConfig::builder()
                        .comment(zone_comment(&ctx))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws_error("CreateHostedZone", e))?
                .hosted_zone
                .ok_or_else(|| anyhow::anyhow!("CreateHostedZone returned no zone"))?;
            Ok(zone.id().trim_start_matches("/hostedzone/").to_owned())
        })
        .await?;
    match created {
        Some(id) => {
            ctx.outputs.zone_id.set(&id);
            Ok(w.finish(id))
        }
        None => Ok(w.finish(domain)),
    }
}

/// A record set with one value.
pub fn simple_record(
    name: &str,
    rtype: &str,
    value: &str,
    ttl: i64,
) -> anyhow::Result<ResourceRecordSet> {
    Ok(ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::from(rtype))
        .ttl(ttl)
        .resource_records(ResourceRecord::builder().value(value).build()?)
        .build()?)
}

fn fqdn(name: &str) -> String {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    format!("{n}.")
}

/// The record sets at `name` (any type), as Route 53 lists them.
async fn records_at(ctx: &Ctx, zone: &str, name: &str) -> anyhow::Result<Vec<ResourceRecordSet>> {
    let out = ctx
        .clients
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(name)
        .max_items(20)
        .send()
        .await
        .map_err(|e| aws_error("ListResourceRecordSets", e))?;
    Ok(out
        .resource_record_sets()
        .iter()
        .filter(|r| fqdn(r.name()) == fqdn(name))
        .cloned()
        .collect())
}

/// Whether two record sets say the same (names compared as DNS names).
fn same_record(a: &ResourceRecordSet, b: &ResourceRecordSet) -> bool {
    let values = |r: &ResourceRecordSet| -> Vec<String> {
        r.resource_records()
            .iter()
            .map(|v| v.value().trim_end_matches('.').to_ascii_lowercase())
            .collect()
    };
    fqdn(a.name()) == fqdn(b.name())
        && a.r#type() == b.r#type()
        && a.set_identifier() == b.set_identifier()
        && a.failover() == b.failover()
        && a.ttl() == b.ttl()
        && a.health_check_id() == b.health_check_id()
        && values(a) == values(b)
}

/// Compares `want` with what is at its name: `None` when an identical
/// record set is there, `Some(fresh)` when it is to be written (`fresh`:
/// nothing of its type and set identifier is there yet). A record there
/// that the stack did not make is an error: it is never replaced.
pub async fn compare_record(
    ctx: &Ctx,
    zone: &str,
    want: &ResourceRecordSet,
) -> anyhow::Result<Option<bool>> {
    let existing = records_at(ctx, zone, want.name()).await?;
    if existing.iter().any(|r| same_record(r, want)) {
        return Ok(None);
    }
    // Only records that point where the stack's records point (an API
    // Gateway regional domain, an ACM validation target) are overwritten;
    // anything else at the name is someone else's.
    let ours = |r: &ResourceRecordSet| {
        r.alias_target().is_none()
            && r.resource_records().iter().all(|v| {
                let v = v.value().trim_end_matches('.');
                v.contains(".execute-api.") || v.ends_with(".acm-validations.aws")
            })
    };
    if let Some(other) = existing.iter().find(|r| {
        let same_slot = r.r#type() == want.r#type() && r.set_identifier() == want.set_identifier();
        let conflicting = r.r#type() != want.r#type()
            && matches!(r.r#type(), RrType::A | RrType::Aaaa | RrType::Cname);
        (same_slot || conflicting) && !ours(r)
    }) {
        anyhow::bail!(
            "{} already has a {} record the stack did not make; remove it or choose another domain",
            want.name(),
            other.r#type().as_str()
        );
    }
    Ok(Some(!existing.iter().any(|r| {
        r.r#type() == want.r#type() && r.set_identifier() == want.set_identifier()
    })))
}

/// UPSERTs `want` and waits until Route 53 has it everywhere.
pub async fn upsert(ctx: &Ctx, zone: &str, want: ResourceRecordSet) -> anyhow::Result<()> {
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(want)
        .build()?;
    apply_changes(ctx, zone, vec![change]).await
}

/// Writes `want` through `w` unless it is there already; `None` when it
/// was, else whether it is new.
async fn ensure_record(
    ctx: &Ctx,
    w: &mut Writer,
    zone: &str,
    want: ResourceRecordSet,
) -> anyhow::Result<Option<bool>> {
    let Some(fresh) = compare_record(ctx, zone, &want).await? else {
        return Ok(None);
    };
    let what = want.name().trim_end_matches('.').to_owned();
    w.change(what, || upsert(ctx, zone, want)).await?;
    Ok(Some(fresh))
}

/// Applies a change batch and waits until Route 53 says INSYNC.
async fn apply_changes(ctx: &Ctx, zone: &str, changes: Vec<Change>) -> anyhow::Result<()> {
    let r53 = &ctx.clients.route53;
    let info = r53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(ChangeBatch::builder().set_changes(Some(changes)).build()?)
        .send()
        .await
        .map_err(|e| aws_error("ChangeResourceRecordSets", e))?
        .change_info
        .ok_or_else(|| anyhow::anyhow!("ChangeResourceRecordSets returned no change"))?;
    let id = info.id().trim_start_matches("/change/").to_owned();
    wait_for(
        &format!("DNS change {id} to be INSYNC"),
        Duration::from_secs(300),
        POLL,
        || async {
            let c = r53
                .get_change()
                .id(&id)
                .send()
                .await
                .map_err(|e| aws_error("GetChange", e))?;
            Ok((c.change_info().map(|i| i.status()) == Some(&ChangeStatus::Insync)).then_some(()))
        },
    )
    .await
}

/// A step over several records is a creation when every one is new.
fn created_if_all_new(w: &mut Writer, results: &[Option<bool>]) {
    if !results.is_empty() && results.iter().all(|r| *r == Some(true)) {
        w.mark_created();
    }
}

/// Ensures each region's `<region>.api.` CNAME to its custom domain.
pub async fn ensure_regional_records(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let zone = ctx.outputs.zone_id.get();
    let mut w = ctx.writer();
    let mut results = Vec::new();
    for region in ctx.config.regions() {
        let name = regional_api_domain(&ctx, region);
        let (Some(zone), Some(target)) = (&zone, ctx.outputs.domain_own.get(region)) else {
            // Only in a dry run: the zone or the domain is still to come.
            w.note(name);
            results.push(Some(true));
            continue;
        };
        let want = simple_record(&name, "CNAME", &target, ctx.config.dns_ttl_seconds.into())?;
        results.push(ensure_record(&ctx, &mut w, zone, want).await?);
    }
    created_if_all_new(&mut w, &results);
    let id = ctx
        .config
        .regions()
        .iter()
        .map(|r| regional_api_domain(&ctx, r))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(w.finish(id))
}

/// The set identifiers of the failover pair.
fn failover_set_ids(ctx: &Ctx) -> [String; 2] {
    [
        format!("{}-primary", ctx.stack()),
        format!("{}-secondary", ctx.stack()),
    ]
}

/// Ensures the failover pair at the API domain, and deletes health checks
/// of an earlier interval that nothing references any more.
pub async fn ensure_failover_records(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let name = ctx.config.api_domain();
    let (Some(zone), Some(health)) = (ctx.outputs.zone_id.get(), ctx.outputs.health_check_id.get())
    else {
        // Only in a dry run: the zone or the health check is still to come.
        return Ok(Done::new(Action::WouldCreate, name));
    };
    let [p, s] = ctx.config.regions();
    let [primary_id, secondary_id] = failover_set_ids(&ctx);
    let mut w = ctx.writer();
    let mut results = Vec::new();
    for (region, role, set_id) in [
        (p, ResourceRecordSetFailover::Primary, primary_id),
        (s, ResourceRecordSetFailover::Secondary, secondary_id),
    ] {
        let Some(target) = ctx.outputs.domain_target.get(region) else {
            w.note(format!("{name} ({region})"));
            results.push(Some(true));
            continue;
        };
        let mut want = ResourceRecordSet::builder()
            .name(&name)
            .r#type(RrType::Cname)
            .ttl(ctx.config.dns_ttl_seconds.into())
            .set_identifier(set_id)
            .failover(role.clone())
            .resource_records(ResourceRecord::builder().value(&target).build()?);
        if role == ResourceRecordSetFailover::Primary {
            want = want.health_check_id(&health);
        }
        results.push(ensure_record(&ctx, &mut w, &zone, want.build()?).await?);
    }
    created_if_all_new(&mut w, &results);
    // Health checks of an earlier interval are no longer referenced.
    for old in health_check::find(&ctx)
        .await?
        .iter()
        .filter(|h| h.id() != health)
    {
        w.change(format!("superseded health check {}", old.id()), || {
            health_check::delete(&ctx, old.id())
        })
        .await?;
    }
    Ok(w.finish(name))
}

/// Every record set in `zone` for which `ours` holds, every page read.
async fn records_where(
    ctx: &Ctx,
    zone: &str,
    ours: impl Fn(&ResourceRecordSet) -> bool,
) -> anyhow::Result<Vec<ResourceRecordSet>> {
    let r53 = &ctx.clients.route53;
    let mut found = Vec::new();
    let mut next: Option<(String, RrType, Option<String>)> = None;
    loop {
        let mut req = r53.list_resource_record_sets().hosted_zone_id(zone);
        if let Some((name, rtype, id)) = next.take() {
            req = req
                .start_record_name(name)
                .start_record_type(rtype)
                .set_start_record_identifier(id);
        }
        let page = req
            .send()
            .await
            .map_err(|e| aws_error("ListResourceRecordSets", e))?;
        found.extend(
            page.resource_record_sets()
                .iter()
                .filter(|r| ours(r))
                .cloned(),
        );
        if !page.is_truncated() {
            return Ok(found);
        }
        next = page
            .next_record_name()
            .zip(page.next_record_type())
            .map(|(n, t)| {
                (
                    n.to_owned(),
                    t.clone(),
                    page.next_record_identifier().map(str::to_owned),
                )
            });
    }
}

/// Deletes the stack's records: the failover pair by set identifier, the
/// regional names, and the certificates' validation records.
pub async fn remove_records(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let Some(zone) = find(&ctx).await? else {
        return gone(&ctx.config.domain);
    };
    let validation = super::certificate::validation_record_names(&ctx).await?;
    let regional: Vec<String> = ctx
        .config
        .regions()
        .iter()
        .map(|r| regional_api_domain(&ctx, r))
        .collect();
    let api = ctx.config.api_domain();
    let set_ids = failover_set_ids(&ctx);
    let points_at_api = |r: &ResourceRecordSet| {
        r.resource_records()
            .iter()
            .all(|v| v.value().trim_end_matches('.').contains(".execute-api."))
    };
    let doomed = records_where(&ctx, &zone.id, |r| {
        let name = r.name().trim_end_matches('.').to_ascii_lowercase();
        let cname = r.r#type() == &RrType::Cname;
        (name == api
            && cname
            && r.set_identifier()
                .is_some_and(|i| set_ids.iter().any(|s| s == i))
            && points_at_api(r))
            || (regional.contains(&name) && cname && points_at_api(r))
            || (validation.contains(&name) && cname)
    })
    .await?;
    if doomed.is_empty() {
        return gone(format!("records in {}", ctx.config.domain));
    }
    let id = format!("{} records", doomed.len());
    ctx.delete(id.clone(), || async {
        let changes = doomed
            .into_iter()
            .map(|r| {
                Change::builder()
                    .action(ChangeAction::Delete)
                    .resource_record_set(r)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        ctx.clients
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(&zone.id)
            .change_batch(ChangeBatch::builder().set_changes(Some(changes)).build()?)
            .send()
            .await
            .map_err(|e| aws_error("ChangeResourceRecordSets", e))?;
        Ok(Done::new(Action::Deleted, id))
    })
    .await
}

/// Deletes the zone if `up` created it and it holds nothing else.
pub async fn remove(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let Some(zone) = find(&ctx).await? else {
        return gone(&ctx.config.domain);
    };
    if !zone.made_by_us {
        return Ok(Done::new(Action::Kept, &zone.id).because("the zone predates the stack"));
    }
    ctx.delete(zone.id.clone(), || async {
        match ctx
            .clients
            .route53
            .delete_hosted_zone()
            .id(&zone.id)
            .send()
            .await
        {
            Ok(_) => Ok(Done::new(Action::Deleted, zone.id)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_hosted_zone_not_empty()) =>
            {
                Ok(Done::new(Action::Kept, zone.id)
                    .because("it holds records the stack did not make"))
            }
            Err(e) => Err(aws_error("DeleteHostedZone", e)),
        }
    })
    .await
}

/// What `status` shows of DNS: where the API domain points now.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DnsState {
    pub name: String,
    /// Route 53's answer now (TestDNSAnswer).
    pub answer: Vec<String>,
    /// The region whose custom domain the answer names.
    pub region: Option<String>,
    pub ttl: Option<i64>,
}

/// Route 53's answer for the API domain now, and the region it names:
/// the one whose custom domain (`targets`: region → API Gateway target)
/// the answer names, or failing that the region an API Gateway regional
/// name carries. `None` when there is no zone.
pub async fn observe(
    ctx: &Ctx,
    targets: &BTreeMap<String, String>,
) -> anyhow::Result<Option<DnsState>> {
    let r53 = &ctx.clients.route53;
    let name = ctx.config.api_domain();
    let Some(zone) = find(ctx).await? else {
        return Ok(None);
    };
    let (answer, sets) = tokio::join!(
        r53.test_dns_answer()
            .hosted_zone_id(&zone.id)
            .record_name(&name)
            .record_type(RrType::Cname)
            .send(),
        r53.list_resource_record_sets()
            .hosted_zone_id(&zone.id)
            .start_record_name(&name)
            .max_items(10)
            .send(),
    );
    let answer = answer.map_err(|e| aws_error("TestDNSAnswer", e))?;
    let data: Vec<String> = answer
        .record_data()
        .iter()
        .map(|d| d.trim_end_matches('.').to_owned())
        .collect();
    let region = targets
        .iter()
        .find(|(_, target)| data.iter().any(|d| d.eq_ignore_ascii_case(target)))
        .map(|(r, _)| r.clone())
        .or_else(|| {
            ctx.config.regions().iter().find_map(|r| {
                data.iter()
                    .any(|d| d.contains(&format!(".execute-api.{r}.")))
                    .then(|| r.to_string())
            })
        });
    let ttl = sets.ok().and_then(|s| {
        s.resource_record_sets()
            .iter()
            .find(|r| r.name().trim_end_matches('.') == name)
            .and_then(|r| r.ttl())
    });
    Ok(Some(DnsState {
        name,
        answer: data,
        region,
        ttl,
    }))
}
