//! `down`'s plan: everything `up` made, deleted in reverse dependency
//! order, concurrently where possible, waiting where AWS requires it, and
//! skipping what is already gone. A resource is deleted only when it
//! carries this stack's tag (Route 53, which has no tags here, goes by the
//! stack's set identifiers, caller references and zone comment).

use std::sync::Arc;
use std::time::Duration;

use super::steps::{
    api_name, auth_role_name, bucket_name, developer_provider, find_distribution, find_pool,
    function_name, health_check_prefix, lambda_role_name, regional_api_domain, stack_certificates,
    stack_health_checks, table_name, zone_comment,
};
use super::{Action, Ctx, Done, STACK_TAG, Step, aws_error, key, tagged, wait_for};

const SLOW: Duration = Duration::from_secs(30 * 60);
const POLL: Duration = Duration::from_millis(200);

fn gone(id: impl Into<String>) -> anyhow::Result<Done> {
    Ok(Done::new(Action::Absent, id))
}

fn kept(id: impl Into<String>) -> anyhow::Result<Done> {
    Ok(Done::new(Action::Kept, id).because(format!("no {STACK_TAG} tag for this stack")))
}

/// Every step of `down`, with its dependencies.
pub fn plan(ctx: &Ctx) -> Vec<Step> {
    let [p, s] = ctx.config.regions();
    let g = "global";
    let d = super::deps;
    let mut steps = vec![
        Step::new("records", "DNS records", g, &[], delete_records),
        Step::new(
            "health-check",
            "health checks",
            g,
            &d(&["records"]),
            delete_health_checks,
        ),
        Step::new(
            "distribution",
            "CloudFront distribution",
            g,
            &[],
            delete_distribution,
        ),
        Step::new("bucket", "web bucket", p, &[], delete_bucket),
        Step::new(
            "identity-pool",
            "Cognito identity pool",
            p,
            &[],
            delete_pool,
        ),
        Step::new(
            "auth-role",
            "signed-in users' role",
            g,
            &d(&["identity-pool"]),
            |c| async move {
                let name = auth_role_name(&c);
                delete_role(&c, &name).await
            },
        ),
        Step::new("replica", "global-table replica", s, &[], delete_replica),
        Step::new("table", "DynamoDB table", p, &d(&["replica"]), delete_table),
    ];
    for r in [p, s] {
        steps.extend([
            Step::regional(
                "domains",
                "custom domains",
                r,
                &d(&["records"]),
                delete_domains,
            ),
            Step::regional(
                "certificate",
                "ACM certificate",
                r,
                &[key("domains", r)],
                delete_certificate,
            ),
            Step::regional("api", "REST API", r, &[key("domains", r)], delete_api),
            Step::regional(
                "function",
                "Lambda function",
                r,
                &[key("api", r)],
                delete_function,
            ),
        ]);
    }
    steps.extend([
        Step::new(
            "lambda-role",
            "Lambda execution role",
            g,
            &[key("function", p), key("function", s)],
            |c| async move {
                let name = lambda_role_name(&c);
                delete_role(&c, &name).await
            },
        ),
        Step::new(
            "zone",
            "hosted zone",
            g,
            &[
                "records".into(),
                "health-check".into(),
                key("certificate", p),
                key("certificate", s),
            ],
            delete_zone,
        ),
    ]);
    steps
}

fn dry(ctx: &Ctx, id: &str) -> Option<anyhow::Result<Done>> {
    ctx.dry_run.then(|| Ok(Done::new(Action::WouldDelete, id)))
}

async fn find_zone(ctx: &Ctx) -> anyhow::Result<Option<(String, bool)>> {
    let domain = &ctx.config.domain;
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
        .find(|z| z.name() == format!("{domain}.") && !z.config().is_some_and(|c| c.private_zone()))
        .map(|z| {
            let made_by_us =
                z.config().and_then(|c| c.comment()) == Some(zone_comment(ctx).as_str());
            (
                z.id().trim_start_matches("/hostedzone/").to_owned(),
                made_by_us,
            )
        }))
}

/// The stack's records: failover records by set identifier, the regional
/// names, and the certificates' validation records.
async fn delete_records(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_route53::types::*;
    let Some((zone, _)) = find_zone(&ctx).await? else {
        return gone(&ctx.config.domain);
    };
    let r53 = &ctx.clients.route53;
    let mut validation = Vec::new();
    for region in ctx.config.regions() {
        let acm = &ctx.clients.region(region).acm;
        for arn in stack_certificates(&ctx, region).await? {
            if let Ok(out) = acm
                .describe_certificate()
                .certificate_arn(&arn)
                .send()
                .await
                && let Some(c) = out.certificate()
            {
                validation.extend(
                    c.domain_validation_options()
                        .iter()
                        .filter_map(|o| o.resource_record())
                        .map(|r| r.name().trim_end_matches('.').to_ascii_lowercase()),
                );
            }
        }
    }
    let regional: Vec<String> = ctx
        .config
        .regions()
        .iter()
        .map(|r| regional_api_domain(&ctx, r))
        .collect();
    let api = ctx.config.api_domain();
    let set_ids = [
        format!("{}-primary", ctx.stack()),
        format!("{}-secondary", ctx.stack()),
    ];
    let points_at_api = |r: &ResourceRecordSet| {
        r.resource_records()
            .iter()
            .all(|v| v.value().trim_end_matches('.').contains(".execute-api."))
    };
    let mut doomed = Vec::new();
    let mut next: Option<(String, RrType, Option<String>)> = None;
    loop {
        let mut req = r53.list_resource_record_sets().hosted_zone_id(&zone);
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
        for r in page.resource_record_sets() {
            let name = r.name().trim_end_matches('.').to_ascii_lowercase();
            let cname = r.r#type() == &RrType::Cname;
            let ours = (name == api
                && cname
                && r.set_identifier()
                    .is_some_and(|i| set_ids.iter().any(|s| s == i))
                && points_at_api(r))
                || (regional.contains(&name) && cname && points_at_api(r))
                || (validation.contains(&name) && cname);
            if ours {
                doomed.push(r.clone());
            }
        }
        if !page.is_truncated() {
            break;
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
    if doomed.is_empty() {
        return gone(format!("records in {}", ctx.config.domain));
    }
    let id = format!("{} records", doomed.len());
    if let Some(d) = dry(&ctx, &id) {
        return d;
    }
    let changes = doomed
        .into_iter()
        .map(|r| {
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(r)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(ChangeBatch::builder().set_changes(Some(changes)).build()?)
        .send()
        .await
        .map_err(|e| aws_error("ChangeResourceRecordSets", e))?;
    Ok(Done::new(Action::Deleted, id))
}

async fn delete_health_checks(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let checks = stack_health_checks(&ctx).await?;
    if checks.is_empty() {
        return gone(format!("{}*", health_check_prefix(&ctx)));
    }
    let ids: Vec<String> = checks.iter().map(|h| h.id().to_owned()).collect();
    if let Some(d) = dry(&ctx, &ids.join(", ")) {
        return d;
    }
    for id in &ids {
        ctx.clients
            .route53
            .delete_health_check()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| aws_error("DeleteHealthCheck", e))?;
    }
    Ok(Done::new(Action::Deleted, ids.join(", ")))
}

async fn delete_zone(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let Some((zone, made_by_us)) = find_zone(&ctx).await? else {
        return gone(&ctx.config.domain);
    };
    if !made_by_us {
        return Ok(Done::new(Action::Kept, &zone).because("the zone predates the stack"));
    }
    if let Some(d) = dry(&ctx, &zone) {
        return d;
    }
    match ctx
        .clients
        .route53
        .delete_hosted_zone()
        .id(&zone)
        .send()
        .await
    {
        Ok(_) => Ok(Done::new(Action::Deleted, zone)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_hosted_zone_not_empty()) =>
        {
            Ok(Done::new(Action::Kept, zone).because("it holds records the stack did not make"))
        }
        Err(e) => Err(aws_error("DeleteHostedZone", e)),
    }
}

async fn delete_distribution(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let cf = &ctx.clients.cloudfront;
    let Some((id, _, _)) = find_distribution(&ctx).await? else {
        return gone("distribution");
    };
    if let Some(d) = dry(&ctx, &id) {
        return d;
    }
    let current = cf
        .get_distribution_config()
        .id(&id)
        .send()
        .await
        .map_err(|e| aws_error("GetDistributionConfig", e))?;
    let mut etag = current.e_tag().unwrap_or_default().to_owned();
    if let Some(config) = current.distribution_config()
        && config.enabled()
    {
        let mut disabled = config.clone();
        disabled.enabled = false;
        etag = cf
            .update_distribution()
            .id(&id)
            .if_match(&etag)
            .distribution_config(disabled)
            .send()
            .await
            .map_err(|e| aws_error("UpdateDistribution (disable)", e))?
            .e_tag
            .unwrap_or_default();
    }
    // CloudFront deletes only a disabled distribution that finished deploying.
    wait_for(
        &format!("distribution {id} to finish disabling"),
        SLOW,
        POLL,
        || async {
            let d = cf
                .get_distribution()
                .id(&id)
                .send()
                .await
                .map_err(|e| aws_error("GetDistribution", e))?;
            Ok((d.distribution().map(|d| d.status()) == Some("Deployed")).then_some(()))
        },
    )
    .await?;
    cf.delete_distribution()
        .id(&id)
        .if_match(etag)
        .send()
        .await
        .map_err(|e| aws_error("DeleteDistribution", e))?;
    Ok(Done::new(Action::Deleted, id))
}

async fn delete_bucket(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let s3 = &ctx.clients.region(&ctx.config.primary_region).s3;
    let bucket = bucket_name(&ctx)?;
    match s3.head_bucket().bucket(&bucket).send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => return gone(bucket),
        Err(e) => return Err(aws_error("HeadBucket", e)),
    }
    let tagged = match s3.get_bucket_tagging().bucket(&bucket).send().await {
        Ok(t) => t
            .tag_set()
            .iter()
            .any(|t| t.key() == STACK_TAG && t.value() == ctx.stack()),
        Err(_) => false,
    };
    if !tagged {
        return kept(bucket);
    }
    if let Some(d) = dry(&ctx, &bucket) {
        return d;
    }
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| aws_error("ListObjectsV2", e))?;
        let keys: Vec<ObjectIdentifier> = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<_, _>>()?;
        if keys.is_empty() {
            break;
        }
        let out = s3
            .delete_objects()
            .bucket(&bucket)
            .delete(Delete::builder().set_objects(Some(keys)).build()?)
            .send()
            .await
            .map_err(|e| aws_error("DeleteObjects", e))?;
        // Per-key failures come back with HTTP 200.
        if let Some(e) = out.errors().first() {
            anyhow::bail!(
                "DeleteObjects could not delete {}: {}: {}",
                e.key().unwrap_or("?"),
                e.code().unwrap_or("error"),
                e.message().unwrap_or("")
            );
        }
    }
    s3.delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| aws_error("DeleteBucket", e))?;
    Ok(Done::new(Action::Deleted, bucket))
}

async fn delete_pool(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let Some(pool) = find_pool(&ctx).await? else {
        return gone(developer_provider(&ctx));
    };
    let id = pool.identity_pool_id().to_owned();
    if let Some(d) = dry(&ctx, &id) {
        return d;
    }
    ctx.clients
        .region(&ctx.config.primary_region)
        .cognito
        .delete_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .map_err(|e| aws_error("DeleteIdentityPool", e))?;
    Ok(Done::new(Action::Deleted, id))
}

async fn delete_role(ctx: &Ctx, name: &str) -> anyhow::Result<Done> {
    let iam = &ctx.clients.iam;
    let role = match iam.get_role().role_name(name).send().await {
        Ok(r) => r.role,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return gone(name);
        }
        Err(e) => return Err(aws_error("GetRole", e)),
    };
    let tagged = role.as_ref().is_some_and(|r| {
        r.tags()
            .iter()
            .any(|t| t.key() == STACK_TAG && t.value() == ctx.stack())
    });
    if !tagged {
        return kept(name);
    }
    if let Some(d) = dry(ctx, name) {
        return d;
    }
    let policies = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| aws_error("ListRolePolicies", e))?;
    for p in policies.policy_names() {
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(p)
            .send()
            .await
            .map_err(|e| aws_error("DeleteRolePolicy", e))?;
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| aws_error("ListAttachedRolePolicies", e))?;
    for p in attached.attached_policies() {
        iam.detach_role_policy()
            .role_name(name)
            .policy_arn(p.policy_arn().unwrap_or_default())
            .send()
            .await
            .map_err(|e| aws_error("DetachRolePolicy", e))?;
    }
    iam.delete_role()
        .role_name(name)
        .send()
        .await
        .map_err(|e| aws_error("DeleteRole", e))?;
    Ok(Done::new(Action::Deleted, name))
}

async fn describe(ctx: &Ctx) -> anyhow::Result<Option<aws_sdk_dynamodb::types::TableDescription>> {
    let ddb = &ctx.clients.region(&ctx.config.primary_region).dynamodb;
    match ddb
        .describe_table()
        .table_name(table_name(ctx))
        .send()
        .await
    {
        Ok(out) => Ok(out.table),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error("DescribeTable", e)),
    }
}

async fn table_is_tagged(ctx: &Ctx, arn: &str) -> anyhow::Result<bool> {
    let ddb = &ctx.clients.region(&ctx.config.primary_region).dynamodb;
    let tags = ddb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("ListTagsOfResource", e))?;
    Ok(tags
        .tags()
        .iter()
        .any(|t| t.key() == STACK_TAG && t.value() == ctx.stack()))
}

async fn delete_replica(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_dynamodb::types::*;
    let secondary = ctx.config.secondary_region.clone();
    let id = format!("{} in {secondary}", table_name(&ctx));
    let Some(t) = describe(&ctx).await? else {
        return gone(id);
    };
    if !t
        .replicas()
        .iter()
        .any(|r| r.region_name() == Some(secondary.as_str()))
    {
        return gone(id);
    }
    if !table_is_tagged(&ctx, t.table_arn().unwrap_or_default()).await? {
        return kept(id);
    }
    if let Some(d) = dry(&ctx, &id) {
        return d;
    }
    ctx.clients
        .region(&ctx.config.primary_region)
        .dynamodb
        .update_table()
        .table_name(table_name(&ctx))
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .delete(
                    DeleteReplicationGroupMemberAction::builder()
                        .region_name(&secondary)
                        .build()?,
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_error("UpdateTable (remove replica)", e))?;
    // The table cannot be deleted until the replica is gone.
    wait_for(
        &format!("the replica in {secondary} to be removed"),
        SLOW,
        POLL,
        || async {
            let t = describe(&ctx).await?;
            Ok(t.filter(|t| {
                t.replicas()
                    .iter()
                    .all(|r| r.region_name() != Some(secondary.as_str()))
                    && t.table_status() == Some(&TableStatus::Active)
            })
            .map(|_| ()))
        },
    )
    .await?;
    Ok(Done::new(Action::Deleted, id))
}

async fn delete_table(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let name = table_name(&ctx);
    let Some(t) = describe(&ctx).await? else {
        return gone(name);
    };
    if !table_is_tagged(&ctx, t.table_arn().unwrap_or_default()).await? {
        return kept(name);
    }
    if let Some(d) = dry(&ctx, &name) {
        return d;
    }
    let ddb = &ctx.clients.region(&ctx.config.primary_region).dynamodb;
    ddb.delete_table()
        .table_name(&name)
        .send()
        .await
        .map_err(|e| aws_error("DeleteTable", e))?;
    wait_for(
        &format!("table {name} to be deleted"),
        SLOW,
        POLL,
        || async { Ok(describe(&ctx).await?.is_none().then_some(())) },
    )
    .await?;
    Ok(Done::new(Action::Deleted, name))
}

async fn delete_domains(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let apigw = &ctx.clients.region(&region).apigateway;
    let mut deleted = Vec::new();
    let mut kept_names = Vec::new();
    for name in [ctx.config.api_domain(), regional_api_domain(&ctx, &region)] {
        let d = match apigw.get_domain_name().domain_name(&name).send().await {
            Ok(d) => d,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_not_found_exception()) =>
            {
                continue;
            }
            Err(e) => return Err(aws_error("GetDomainName", e)),
        };
        if !tagged(d.tags(), ctx.stack()) {
            kept_names.push(name);
            continue;
        }
        deleted.push(name.clone());
        if ctx.dry_run {
            continue;
        }
        let mappings = apigw
            .get_base_path_mappings()
            .domain_name(&name)
            .send()
            .await
            .map_err(|e| aws_error("GetBasePathMappings", e))?;
        for m in mappings.items() {
            apigw
                .delete_base_path_mapping()
                .domain_name(&name)
                .base_path(m.base_path().unwrap_or("(none)"))
                .send()
                .await
                .map_err(|e| aws_error("DeleteBasePathMapping", e))?;
        }
        // AWS allows one DeleteDomainName every 30 s per account.
        wait_for(
            &format!("API Gateway to accept deleting {name}"),
            Duration::from_secs(300),
            Duration::from_secs(2),
            || async {
                match apigw.delete_domain_name().domain_name(&name).send().await {
                    Ok(_) => Ok(Some(())),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_too_many_requests_exception()) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(aws_error("DeleteDomainName", e)),
                }
            },
        )
        .await?;
    }
    if deleted.is_empty() {
        return if kept_names.is_empty() {
            gone("custom domains")
        } else {
            kept(kept_names.join(", "))
        };
    }
    let action = if ctx.dry_run {
        Action::WouldDelete
    } else {
        Action::Deleted
    };
    Ok(Done::new(action, deleted.join(", ")))
}

async fn delete_certificate(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let arns = stack_certificates(&ctx, &region).await?;
    if arns.is_empty() {
        return gone(ctx.config.api_domain());
    }
    if let Some(d) = dry(&ctx, &arns.join(", ")) {
        return d;
    }
    let acm = &ctx.clients.region(&region).acm;
    for arn in &arns {
        // A domain name lets go of its certificate a moment after deletion.
        wait_for(
            &format!("certificate {arn} to be released"),
            Duration::from_secs(300),
            POLL,
            || async {
                match acm.delete_certificate().certificate_arn(arn).send().await {
                    Ok(_) => Ok(Some(())),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_resource_in_use_exception()) =>
                    {
                        Ok(None)
                    }
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_resource_not_found_exception()) =>
                    {
                        Ok(Some(()))
                    }
                    Err(e) => Err(aws_error("DeleteCertificate", e)),
                }
            },
        )
        .await?;
    }
    Ok(Done::new(Action::Deleted, arns.join(", ")))
}

async fn delete_api(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let apigw = &ctx.clients.region(&region).apigateway;
    let name = api_name(&ctx);
    let found = super::steps::rest_apis_named(&ctx, &region, &name).await?;
    if found.is_empty() {
        return gone(name);
    }
    let mine: Vec<String> = found
        .iter()
        .filter(|a| tagged(a.tags(), ctx.stack()))
        .filter_map(|a| a.id().map(str::to_owned))
        .collect();
    if mine.is_empty() {
        return kept(name);
    }
    if let Some(d) = dry(&ctx, &mine.join(", ")) {
        return d;
    }
    for id in &mine {
        apigw
            .delete_rest_api()
            .rest_api_id(id)
            .send()
            .await
            .map_err(|e| aws_error("DeleteRestApi", e))?;
    }
    Ok(Done::new(Action::Deleted, mine.join(", ")))
}

async fn delete_function(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let lambda = &ctx.clients.region(&region).lambda;
    let name = function_name(&ctx);
    let f = match lambda.get_function().function_name(&name).send().await {
        Ok(f) => f,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return gone(name);
        }
        Err(e) => return Err(aws_error("GetFunction", e)),
    };
    if !tagged(f.tags(), ctx.stack()) {
        return kept(name);
    }
    if let Some(d) = dry(&ctx, &name) {
        return d;
    }
    match lambda.delete_function().function_name(&name).send().await {
        Ok(_) => Ok(Done::new(Action::Deleted, name)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            gone(name)
        }
        Err(e) => Err(aws_error("DeleteFunction", e)),
    }
}
