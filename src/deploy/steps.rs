//! The ensure steps `up` runs (DESIGN.md, "Resources `up` ensures"). Each
//! reads the resource by name, checks it carries this stack's tag (a
//! resource of the same name that is not ours is an error, never adopted),
//! compares it with what it should be, and creates or updates only what
//! differs. In a dry run it stops at the comparison.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Action, Ctx, Done, STACK_TAG, Step, aws_error, key, tagged, wait_for};

/// How long to wait for AWS to finish something slow (replicas, certificates,
/// distributions); the sandbox takes well under a second.
const SLOW: Duration = Duration::from_secs(30 * 60);
const POLL: Duration = Duration::from_millis(200);

// --- names -----------------------------------------------------------------

pub fn table_name(ctx: &Ctx) -> String {
    ctx.name("tickets")
}
pub fn function_name(ctx: &Ctx) -> String {
    ctx.name("tickets")
}
pub fn api_name(ctx: &Ctx) -> String {
    ctx.name("tickets")
}
pub fn lambda_role_name(ctx: &Ctx) -> String {
    ctx.name("tickets-lambda")
}
pub fn auth_role_name(ctx: &Ctx) -> String {
    ctx.name("authenticated")
}
/// Identity pool names allow letters, digits, spaces and underscores.
pub fn pool_name(ctx: &Ctx) -> String {
    format!("{}_tickets", ctx.stack().replace('-', "_"))
}
pub fn developer_provider(ctx: &Ctx) -> String {
    format!("{}.drills", ctx.stack())
}
pub fn bucket_name(ctx: &Ctx) -> anyhow::Result<String> {
    Ok(format!(
        "{}-web-{}-{}",
        ctx.stack(),
        ctx.outputs.get("account")?,
        ctx.config.primary_region
    ))
}
/// `<region>.api.<domain>`.
pub fn regional_api_domain(ctx: &Ctx, region: &str) -> String {
    format!("{region}.{}", ctx.config.api_domain())
}
/// The interval a caller reference of this stack's health checks encodes:
/// exactly `<stack>-health-<interval>s-<nonce>` (another stack whose name
/// starts the same never matches).
pub fn health_check_interval(ctx: &Ctx, caller_reference: &str) -> Option<u32> {
    let rest = caller_reference.strip_prefix(&health_check_prefix(ctx))?;
    let (interval, nonce) = rest.split_once("s-")?;
    (!nonce.is_empty() && nonce.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| interval.parse().ok())
        .flatten()
}

pub fn health_check_prefix(ctx: &Ctx) -> String {
    format!("{}-health-", ctx.stack())
}
pub fn distribution_comment(ctx: &Ctx) -> String {
    format!("{STACK_TAG}={} web UI", ctx.stack())
}
pub fn zone_comment(ctx: &Ctx) -> String {
    format!("{STACK_TAG}={}", ctx.stack())
}

/// The S3 website endpoint of a bucket, in the region's own spelling.
pub fn website_endpoint(bucket: &str, region: &str) -> String {
    // The regions that predate the dot form keep the dash form.
    const DASH: &[&str] = &[
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    ];
    if DASH.contains(&region) {
        format!("{bucket}.s3-website-{region}.amazonaws.com")
    } else {
        format!("{bucket}.s3-website.{region}.amazonaws.com")
    }
}

fn table_arn(ctx: &Ctx, region: &str) -> anyhow::Result<String> {
    Ok(format!(
        "arn:aws:dynamodb:{region}:{}:table/{}",
        ctx.outputs.get("account")?,
        table_name(ctx)
    ))
}

fn not_tagged(kind: &str, name: &str, ctx: &Ctx) -> anyhow::Error {
    anyhow::anyhow!(
        "{kind} {name} exists but is not stack {}'s (it has no {STACK_TAG}={} tag): choose another stack name or remove it yourself",
        ctx.stack(),
        ctx.stack()
    )
}

fn would(ctx: &Ctx, action: Action, id: impl Into<String>) -> Option<Done> {
    ctx.dry_run.then(|| {
        Done::new(
            match action {
                Action::Created => Action::WouldCreate,
                _ => Action::WouldUpdate,
            },
            id,
        )
    })
}

/// IAM returns policy documents URL-encoded.
fn decode_policy(doc: &str) -> Value {
    let decoded = if doc.trim_start().starts_with('{') {
        doc.to_owned()
    } else {
        percent_decode(doc)
    };
    serde_json::from_str(&decoded).unwrap_or(Value::Null)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len() + 1
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// --- the plan -------------------------------------------------------------

/// Every step of `up`, with its dependencies.
pub fn plan(ctx: &Ctx) -> Vec<Step> {
    let [p, s] = ctx.config.regions();
    let g = "global";
    let d = super::deps;
    let mut steps = vec![
        Step::new("table", "DynamoDB table", p, &[], ensure_table),
        Step::new(
            "replica",
            "global-table replica",
            s,
            &d(&["table"]),
            ensure_replica,
        ),
        Step::new(
            "lambda-role",
            "Lambda execution role",
            g,
            &[],
            ensure_lambda_role,
        ),
        Step::new("zone", "hosted zone", g, &[], ensure_zone),
        Step::new("bucket", "web bucket", p, &[], ensure_bucket),
        Step::new(
            "distribution",
            "CloudFront distribution",
            g,
            &d(&["bucket"]),
            ensure_distribution,
        ),
        Step::new(
            "identity-pool",
            "Cognito identity pool",
            p,
            &[],
            ensure_identity_pool,
        ),
    ];
    for r in [p, s] {
        let mut function_deps = d(&["lambda-role", "table", "distribution"]);
        if r == s {
            function_deps.push("replica".into());
        }
        steps.extend([
            Step::regional(
                "function",
                "Lambda function",
                r,
                &function_deps,
                ensure_function,
            ),
            Step::regional(
                "api",
                "REST API + stage prod",
                r,
                &[key("function", r), "distribution".into()],
                ensure_api,
            ),
            Step::regional(
                "certificate",
                "ACM certificate",
                r,
                &d(&["zone"]),
                ensure_certificate,
            ),
            Step::regional(
                "domains",
                "custom domains",
                r,
                &[key("certificate", r), key("api", r)],
                ensure_domains,
            ),
        ]);
    }
    let both = |kind: &str| [key(kind, p), key(kind, s)];
    let mut records_deps = d(&["zone"]);
    records_deps.extend(both("domains"));
    let mut auth_deps = d(&["identity-pool"]);
    auth_deps.extend(both("api"));
    steps.extend([
        Step::new(
            "regional-records",
            "regional DNS records",
            g,
            &records_deps,
            ensure_regional_records,
        ),
        Step::new(
            "health-check",
            "primary health check",
            g,
            &d(&["regional-records"]),
            ensure_health_check,
        ),
        Step::new(
            "failover-records",
            "failover DNS records",
            g,
            &d(&["health-check", "regional-records"]),
            ensure_failover_records,
        ),
        Step::new(
            "auth-role",
            "signed-in users' role",
            g,
            &auth_deps,
            ensure_auth_role,
        ),
        Step::new(
            "site",
            "web UI files",
            p,
            &d(&["bucket", "distribution", "identity-pool"]),
            ensure_site,
        ),
    ]);
    steps
}

// --- DynamoDB ---------------------------------------------------------------

async fn ensure_table(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_dynamodb::types::*;
    let region = ctx.config.primary_region.clone();
    let ddb = &ctx.clients.region(&region).dynamodb;
    let name = table_name(&ctx);
    ctx.outputs
        .set(format!("table.arn/{region}"), table_arn(&ctx, &region)?);
    match ddb.describe_table().table_name(&name).send().await {
        Ok(out) => {
            let t = out
                .table
                .ok_or_else(|| anyhow::anyhow!("DescribeTable returned no table"))?;
            let arn = t.table_arn().unwrap_or_default().to_owned();
            let tags = ddb
                .list_tags_of_resource()
                .resource_arn(&arn)
                .send()
                .await
                .map_err(|e| aws_error("ListTagsOfResource", e))?;
            let tags: HashMap<String, String> = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            if !tagged(Some(&tags), ctx.stack()) {
                return Err(not_tagged("DynamoDB table", &name, &ctx));
            }
            let keys: Vec<(String, String)> = t
                .key_schema()
                .iter()
                .map(|k| {
                    (
                        k.attribute_name().to_owned(),
                        k.key_type().as_str().to_owned(),
                    )
                })
                .collect();
            if keys
                != [
                    ("owner".into(), "HASH".into()),
                    ("id".into(), "RANGE".into()),
                ]
            {
                anyhow::bail!(
                    "table {name} has the key schema {keys:?}, not owner (HASH) + id (RANGE); a key schema cannot change: delete the table (`wildrydes down`) and run up again"
                );
            }
            let stream_ok = t.stream_specification().is_some_and(|s| {
                s.stream_enabled() && s.stream_view_type() == Some(&StreamViewType::NewAndOldImages)
            });
            if !stream_ok {
                if let Some(d) = would(&ctx, Action::Updated, &name) {
                    return Ok(d.because("stream NEW_AND_OLD_IMAGES"));
                }
                ddb.update_table()
                    .table_name(&name)
                    .stream_specification(
                        StreamSpecification::builder()
                            .stream_enabled(true)
                            .stream_view_type(StreamViewType::NewAndOldImages)
                            .build()?,
                    )
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateTable", e))?;
                wait_table_active(&ctx, &region).await?;
                return Ok(Done::new(Action::Updated, &name).because("stream NEW_AND_OLD_IMAGES"));
            }
            Ok(Done::new(Action::Unchanged, &name))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            if let Some(d) = would(&ctx, Action::Created, &name) {
                return Ok(d);
            }
            let attr = |n: &str| {
                AttributeDefinition::builder()
                    .attribute_name(n)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
            };
            let key = |n: &str, t: KeyType| {
                KeySchemaElement::builder()
                    .attribute_name(n)
                    .key_type(t)
                    .build()
            };
            ddb.create_table()
                .table_name(&name)
                .attribute_definitions(attr("owner")?)
                .attribute_definitions(attr("id")?)
                .key_schema(key("owner", KeyType::Hash)?)
                .key_schema(key("id", KeyType::Range)?)
                .billing_mode(BillingMode::PayPerRequest)
                .stream_specification(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(StreamViewType::NewAndOldImages)
                        .build()?,
                )
                .tags(Tag::builder().key(STACK_TAG).value(ctx.stack()).build()?)
                .send()
                .await
                .map_err(|e| aws_error("CreateTable", e))?;
            wait_table_active(&ctx, &region).await?;
            Ok(Done::new(Action::Created, &name))
        }
        Err(e) => Err(aws_error("DescribeTable", e)),
    }
}

/// Waits until the primary table and every replica are ACTIVE.
async fn wait_table_active(ctx: &Ctx, region: &str) -> anyhow::Result<()> {
    let ddb = ctx.clients.region(region).dynamodb.clone();
    let name = table_name(ctx);
    wait_for(&format!("table {name} to be ACTIVE"), SLOW, POLL, || {
        let ddb = ddb.clone();
        let name = name.clone();
        async move {
            let t = ddb
                .describe_table()
                .table_name(&name)
                .send()
                .await
                .map_err(|e| aws_error("DescribeTable", e))?
                .table;
            Ok(t.filter(|t| {
                t.table_status() == Some(&aws_sdk_dynamodb::types::TableStatus::Active)
                    && t.replicas().iter().all(|r| {
                        r.replica_status() == Some(&aws_sdk_dynamodb::types::ReplicaStatus::Active)
                    })
            })
            .map(|_| ()))
        }
    })
    .await
}

async fn ensure_replica(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_dynamodb::types::*;
    let primary = ctx.config.primary_region.clone();
    let secondary = ctx.config.secondary_region.clone();
    let ddb = &ctx.clients.region(&primary).dynamodb;
    let name = table_name(&ctx);
    ctx.outputs.set(
        format!("table.arn/{secondary}"),
        table_arn(&ctx, &secondary)?,
    );
    let id = format!("{name} in {secondary}");
    let t = match ddb.describe_table().table_name(&name).send().await {
        Ok(out) => out.table,
        Err(e)
            if ctx.dry_run
                && e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(Done::new(Action::WouldCreate, id));
        }
        Err(e) => return Err(aws_error("DescribeTable", e)),
    };
    let present = t.as_ref().is_some_and(|t| {
        t.replicas()
            .iter()
            .any(|r| r.region_name() == Some(secondary.as_str()))
    });
    if present {
        if !ctx.dry_run {
            wait_table_active(&ctx, &primary).await?;
        }
        return Ok(Done::new(Action::Unchanged, id));
    }
    if let Some(d) = would(&ctx, Action::Created, &id) {
        return Ok(d);
    }
    ddb.update_table()
        .table_name(&name)
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .create(
                    CreateReplicationGroupMemberAction::builder()
                        .region_name(&secondary)
                        .build()?,
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_error("UpdateTable (add replica)", e))?;
    wait_table_active(&ctx, &primary).await?;
    Ok(Done::new(Action::Created, id))
}

// --- IAM --------------------------------------------------------------------

/// Ensures a role with `trust` and one inline policy `policy_name`.
async fn ensure_role(
    ctx: &Ctx,
    name: &str,
    trust: Value,
    policy_name: &str,
    policy: Value,
) -> anyhow::Result<Done> {
    use aws_sdk_iam::types::Tag;
    let iam = &ctx.clients.iam;
    let mut changes = Vec::new();
    let created;
    match iam.get_role().role_name(name).send().await {
        Ok(out) => {
            let role = out
                .role
                .ok_or_else(|| anyhow::anyhow!("GetRole returned no role"))?;
            let tags: HashMap<String, String> = role
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            if !tagged(Some(&tags), ctx.stack()) {
                return Err(not_tagged("IAM role", name, ctx));
            }
            ctx.outputs.set(format!("role.arn/{name}"), role.arn());
            created = false;
            if decode_policy(role.assume_role_policy_document().unwrap_or_default()) != trust {
                changes.push("trust policy");
                if !ctx.dry_run {
                    iam.update_assume_role_policy()
                        .role_name(name)
                        .policy_document(trust.to_string())
                        .send()
                        .await
                        .map_err(|e| aws_error("UpdateAssumeRolePolicy", e))?;
                }
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            if let Some(d) = would(ctx, Action::Created, name) {
                return Ok(d);
            }
            let role = iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust.to_string())
                .description(format!("wildrydes stack {}", ctx.stack()))
                .tags(Tag::builder().key(STACK_TAG).value(ctx.stack()).build()?)
                .send()
                .await
                .map_err(|e| aws_error("CreateRole", e))?
                .role
                .ok_or_else(|| anyhow::anyhow!("CreateRole returned no role"))?;
            ctx.outputs.set(format!("role.arn/{name}"), role.arn());
            created = true;
        }
        Err(e) => return Err(aws_error("GetRole", e)),
    }
    let current = match iam
        .get_role_policy()
        .role_name(name)
        .policy_name(policy_name)
        .send()
        .await
    {
        Ok(out) => decode_policy(out.policy_document()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Value::Null
        }
        Err(e) => return Err(aws_error("GetRolePolicy", e)),
    };
    if current != policy {
        changes.push("policy");
        if !ctx.dry_run {
            iam.put_role_policy()
                .role_name(name)
                .policy_name(policy_name)
                .policy_document(policy.to_string())
                .send()
                .await
                .map_err(|e| aws_error("PutRolePolicy", e))?;
        }
    }
    Ok(if created {
        Done::new(Action::Created, name)
    } else if changes.is_empty() {
        Done::new(Action::Unchanged, name)
    } else if ctx.dry_run {
        Done::new(Action::WouldUpdate, name).because(changes.join(", "))
    } else {
        Done::new(Action::Updated, name).because(changes.join(", "))
    })
}

async fn ensure_lambda_role(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let [p, s] = ctx.config.regions();
    let account = ctx.outputs.get("account")?;
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Tickets", "Effect": "Allow",
         "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
         "Resource": [table_arn(&ctx, p)?, table_arn(&ctx, s)?]},
        {"Sid": "Logs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [format!("arn:aws:logs:*:{account}:log-group:/aws/lambda/{}:*", function_name(&ctx))]}
    ]});
    ensure_role(&ctx, &lambda_role_name(&ctx), trust, "tickets", policy).await
}

async fn ensure_auth_role(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let [p, s] = ctx.config.regions();
    let account = ctx.outputs.get("account")?;
    let pool = ctx
        .outputs
        .maybe("pool.id")
        .unwrap_or_else(|| "(new pool)".into());
    let api = |r: &str| -> String {
        let id = ctx
            .outputs
            .maybe(&format!("api.id/{r}"))
            .unwrap_or_else(|| "(new api)".into());
        format!("arn:aws:execute-api:{r}:{account}:{id}/*")
    };
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": pool},
                      "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}}]});
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [api(p), api(s)]}]});
    let name = auth_role_name(&ctx);
    let mut done = ensure_role(&ctx, &name, trust, "invoke", policy).await?;
    if ctx.dry_run && done.action == Action::WouldCreate {
        return Ok(done);
    }
    // The pool hands out this role to signed-in users.
    let cognito = &ctx.clients.region(p).cognito;
    let role_arn = ctx.outputs.get(&format!("role.arn/{name}"))?;
    let Some(pool_id) = ctx.outputs.maybe("pool.id") else {
        return Ok(done);
    };
    let roles = cognito
        .get_identity_pool_roles()
        .identity_pool_id(&pool_id)
        .send()
        .await
        .map_err(|e| aws_error("GetIdentityPoolRoles", e))?;
    let current = roles.roles().and_then(|r| r.get("authenticated")).cloned();
    if current.as_deref() != Some(role_arn.as_str()) {
        if ctx.dry_run {
            return Ok(Done::new(Action::WouldUpdate, name).because("pool roles"));
        }
        cognito
            .set_identity_pool_roles()
            .identity_pool_id(&pool_id)
            .roles("authenticated", &role_arn)
            .send()
            .await
            .map_err(|e| aws_error("SetIdentityPoolRoles", e))?;
        if done.action == Action::Unchanged {
            done = Done::new(Action::Updated, &name).because("pool roles");
        }
    }
    Ok(done)
}

// --- Lambda -----------------------------------------------------------------

/// The function's environment.
fn function_env(ctx: &Ctx) -> anyhow::Result<HashMap<String, String>> {
    let origin = ctx
        .outputs
        .maybe("web.origin")
        .unwrap_or_else(|| "(new distribution)".into());
    let mut env = HashMap::from([
        ("TABLE_NAME".to_owned(), table_name(ctx)),
        ("ALLOWED_ORIGIN".to_owned(), origin),
    ]);
    // `up` always knows the secret; `status` keeps whatever is deployed.
    if let Some(secret) = ctx.outputs.maybe("cursor_secret") {
        env.insert("CURSOR_SECRET".to_owned(), secret);
    }
    Ok(env)
}

const FUNCTION_TIMEOUT: i32 = 10;
const FUNCTION_MEMORY: i32 = 256;

async fn ensure_function(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::*;
    let lambda = &ctx.clients.region(&region).lambda;
    let name = function_name(&ctx);
    // `status` compares everything but the code (it has no package).
    let package = ctx.lambda.as_ref();
    let role_arn = ctx
        .outputs
        .maybe(&format!("role.arn/{}", lambda_role_name(&ctx)))
        .unwrap_or_default();
    let mut env = function_env(&ctx)?;
    let arch = match ctx.config.lambda_architecture.as_str() {
        "arm64" => Architecture::Arm64,
        _ => Architecture::X8664,
    };
    let waiters_timeout = Duration::from_secs(300);
    match lambda.get_function().function_name(&name).send().await {
        Ok(out) => {
            if !tagged(out.tags(), ctx.stack()) {
                return Err(not_tagged("Lambda function", &name, &ctx));
            }
            let c = out
                .configuration()
                .ok_or_else(|| anyhow::anyhow!("GetFunction returned no configuration"))?;
            ctx.outputs.set(
                format!("function.arn/{region}"),
                c.function_arn().unwrap_or_default(),
            );
            let mut changes = Vec::new();
            if let Some(p) = package
                && c.code_sha256() != Some(p.code_sha256.as_str())
            {
                changes.push("code");
            }
            if c.architectures() != [arch.clone()] {
                changes.push("architecture");
            }
            let current_env = c
                .environment()
                .and_then(|e| e.variables())
                .cloned()
                .unwrap_or_default();
            if let (false, Some(secret)) = (
                env.contains_key("CURSOR_SECRET"),
                current_env.get("CURSOR_SECRET"),
            ) {
                env.insert("CURSOR_SECRET".to_owned(), secret.clone());
            }
            let config_differs = c.role() != Some(role_arn.as_str())
                || c.runtime() != Some(&Runtime::Providedal2023)
                || c.handler() != Some("bootstrap")
                || c.timeout() != Some(FUNCTION_TIMEOUT)
                || c.memory_size() != Some(FUNCTION_MEMORY)
                || current_env != env;
            if config_differs {
                changes.push("configuration");
            }
            let reserved = out
                .concurrency()
                .and_then(|c| c.reserved_concurrent_executions());
            if reserved.is_some() {
                changes.push("reserved concurrency");
            }
            if changes.is_empty() {
                return Ok(Done::new(Action::Unchanged, &name));
            }
            let detail = changes.join(", ");
            if ctx.dry_run {
                return Ok(Done::new(Action::WouldUpdate, &name).because(detail));
            }
            let wait_updated = || wait_function(lambda, &name, waiters_timeout);
            if changes.contains(&"code") || changes.contains(&"architecture") {
                let package =
                    package.ok_or_else(|| anyhow::anyhow!("internal: no Lambda package"))?;
                lambda
                    .update_function_code()
                    .function_name(&name)
                    .zip_file(Blob::new(package.zip.clone()))
                    .architectures(arch.clone())
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateFunctionCode", e))?;
                wait_updated().await?;
            }
            if config_differs {
                lambda
                    .update_function_configuration()
                    .function_name(&name)
                    .role(&role_arn)
                    .runtime(Runtime::Providedal2023)
                    .handler("bootstrap")
                    .timeout(FUNCTION_TIMEOUT)
                    .memory_size(FUNCTION_MEMORY)
                    .environment(Environment::builder().set_variables(Some(env)).build())
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateFunctionConfiguration", e))?;
                wait_updated().await?;
            }
            if reserved.is_some() {
                lambda
                    .delete_function_concurrency()
                    .function_name(&name)
                    .send()
                    .await
                    .map_err(|e| aws_error("DeleteFunctionConcurrency", e))?;
            }
            Ok(Done::new(Action::Updated, &name).because(detail))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            if let Some(d) = would(&ctx, Action::Created, &name) {
                return Ok(d);
            }
            let package = package.ok_or_else(|| anyhow::anyhow!("internal: no Lambda package"))?;
            // A new role takes a few seconds before Lambda may assume it.
            let created = wait_for(
                &format!("Lambda to accept the role {role_arn}"),
                Duration::from_secs(120),
                Duration::from_secs(1),
                || async {
                    let sent = lambda
                        .create_function()
                        .function_name(&name)
                        .runtime(Runtime::Providedal2023)
                        .handler("bootstrap")
                        .role(&role_arn)
                        .architectures(arch.clone())
                        .timeout(FUNCTION_TIMEOUT)
                        .memory_size(FUNCTION_MEMORY)
                        .environment(
                            Environment::builder()
                                .set_variables(Some(env.clone()))
                                .build(),
                        )
                        .code(
                            FunctionCode::builder()
                                .zip_file(Blob::new(package.zip.clone()))
                                .build(),
                        )
                        .tags(STACK_TAG, ctx.stack())
                        .send()
                        .await;
                    match sent {
                        Ok(out) => Ok(Some(out)),
                        Err(e)
                            if e.as_service_error().is_some_and(|s| {
                                s.is_invalid_parameter_value_exception()
                                    && s.message().is_some_and(|m| m.contains("cannot be assumed"))
                            }) =>
                        {
                            Ok(None)
                        }
                        Err(e) => Err(aws_error("CreateFunction", e)),
                    }
                },
            )
            .await?;
            ctx.outputs.set(
                format!("function.arn/{region}"),
                created.function_arn().unwrap_or_default(),
            );
            wait_function(lambda, &name, waiters_timeout).await?;
            Ok(Done::new(Action::Created, &name))
        }
        Err(e) => Err(aws_error("GetFunction", e)),
    }
}

/// Waits until a function is Active with its last update Successful; a
/// Failed state or update is an error with Lambda's reason.
async fn wait_function(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    use aws_sdk_lambda::types::{LastUpdateStatus, State};
    wait_for(
        &format!("function {name} to be ready"),
        timeout,
        POLL,
        || async {
            let c = lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .map_err(|e| aws_error("GetFunctionConfiguration", e))?;
            if c.state() == Some(&State::Failed)
                || c.last_update_status() == Some(&LastUpdateStatus::Failed)
            {
                anyhow::bail!(
                    "function {name} failed: {}",
                    c.state_reason()
                        .or(c.last_update_status_reason())
                        .unwrap_or("no reason given")
                );
            }
            let ready = c.state() == Some(&State::Active)
                && c.last_update_status()
                    .is_none_or(|s| *s == LastUpdateStatus::Successful);
            Ok(ready.then_some(()))
        },
    )
    .await
}

// --- API Gateway ------------------------------------------------------------

/// One method of the ticket API.
struct MethodSpec {
    path: &'static str,
    method: &'static str,
    auth: &'static str,
    /// AWS_PROXY to the function, else MOCK (CORS preflight).
    proxy: bool,
}

const METHODS: &[MethodSpec] = &[
    MethodSpec {
        path: "/tickets",
        method: "GET",
        auth: "AWS_IAM",
        proxy: true,
    },
    MethodSpec {
        path: "/tickets",
        method: "POST",
        auth: "AWS_IAM",
        proxy: true,
    },
    MethodSpec {
        path: "/tickets",
        method: "OPTIONS",
        auth: "NONE",
        proxy: false,
    },
    MethodSpec {
        path: "/tickets/{id}",
        method: "GET",
        auth: "AWS_IAM",
        proxy: true,
    },
    MethodSpec {
        path: "/tickets/{id}",
        method: "OPTIONS",
        auth: "NONE",
        proxy: false,
    },
    MethodSpec {
        path: "/health",
        method: "GET",
        auth: "NONE",
        proxy: true,
    },
];

const CORS_HEADERS: &str =
    "Content-Type,Authorization,X-Amz-Date,X-Amz-Security-Token,X-Amz-Content-Sha256";

/// Every REST API named `name` in `region`, all pages read.
pub async fn rest_apis_named(
    ctx: &Ctx,
    region: &str,
    name: &str,
) -> anyhow::Result<Vec<aws_sdk_apigateway::types::RestApi>> {
    let apigw = &ctx.clients.region(region).apigateway;
    let mut out = Vec::new();
    let mut position = None;
    loop {
        let page = apigw
            .get_rest_apis()
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(|e| aws_error("GetRestApis", e))?;
        out.extend(
            page.items()
                .iter()
                .filter(|a| a.name() == Some(name))
                .cloned(),
        );
        position = page.position().map(str::to_owned);
        if position.is_none() || page.items().is_empty() {
            return Ok(out);
        }
    }
}

async fn ensure_api(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    use aws_sdk_apigateway::types::*;
    let apigw = &ctx.clients.region(&region).apigateway;
    let name = api_name(&ctx);
    let account = ctx.outputs.get("account")?;
    let apis = rest_apis_named(&ctx, &region, &name).await?;
    let found: Vec<&RestApi> = apis.iter().collect();
    let mut created = false;
    let api_id = match found.as_slice() {
        [api] if tagged(api.tags(), ctx.stack()) => api.id().unwrap_or_default().to_owned(),
        [] => {
            if let Some(d) = would(&ctx, Action::Created, &name) {
                return Ok(d);
            }
            created = true;
            apigw
                .create_rest_api()
                .name(&name)
                .description(format!("wildrydes ticket API, stack {}", ctx.stack()))
                .endpoint_configuration(
                    EndpointConfiguration::builder()
                        .types(EndpointType::Regional)
                        .build(),
                )
                .tags(STACK_TAG, ctx.stack())
                .send()
                .await
                .map_err(|e| aws_error("CreateRestApi", e))?
                .id
                .unwrap_or_default()
        }
        [_] => return Err(not_tagged("REST API", &name, &ctx)),
        _ => anyhow::bail!(
            "{} REST APIs are named {name} in {region}; remove the extra ones",
            found.len()
        ),
    };
    ctx.outputs.set(format!("api.id/{region}"), &api_id);
    let function_arn = ctx
        .outputs
        .maybe(&format!("function.arn/{region}"))
        .unwrap_or_default();
    let uri = format!(
        "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    );
    let origin = ctx.outputs.maybe("web.origin").unwrap_or_default();
    let mut changes: Vec<String> = Vec::new();

    // Resources by path.
    let resources = apigw
        .get_resources()
        .rest_api_id(&api_id)
        .limit(500)
        .send()
        .await
        .map_err(|e| aws_error("GetResources", e))?;
    let mut ids: BTreeMap<String, String> = resources
        .items()
        .iter()
        .filter_map(|r| Some((r.path()?.to_owned(), r.id()?.to_owned())))
        .collect();
    for path in ["/tickets", "/tickets/{id}", "/health"] {
        if ids.contains_key(path) {
            continue;
        }
        changes.push(format!("resource {path}"));
        if ctx.dry_run {
            continue;
        }
        let (parent, part) = path.rsplit_once('/').unwrap_or(("", path));
        let parent_id = ids
            .get(if parent.is_empty() { "/" } else { parent })
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("API {api_id} has no resource {parent}"))?;
        let id = apigw
            .create_resource()
            .rest_api_id(&api_id)
            .parent_id(parent_id)
            .path_part(part)
            .send()
            .await
            .map_err(|e| aws_error("CreateResource", e))?
            .id
            .unwrap_or_default();
        ids.insert(path.to_owned(), id);
    }

    for m in METHODS {
        let Some(resource) = ids.get(m.path).cloned() else {
            changes.push(format!("{} {}", m.method, m.path));
            continue;
        };
        let current = apigw
            .get_method()
            .rest_api_id(&api_id)
            .resource_id(&resource)
            .http_method(m.method)
            .send()
            .await;
        let current = match current {
            Ok(c) => Some(c),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(aws_error("GetMethod", e)),
        };
        let method_ok = current
            .as_ref()
            .is_some_and(|c| c.authorization_type() == Some(m.auth));
        let integration_ok = current
            .as_ref()
            .and_then(|c| c.method_integration())
            .is_some_and(|i| {
                if m.proxy {
                    i.r#type() == Some(&IntegrationType::AwsProxy) && i.uri() == Some(uri.as_str())
                } else {
                    i.r#type() == Some(&IntegrationType::Mock)
                        && i.integration_responses()
                            .and_then(|r| r.get("200"))
                            .and_then(|r| r.response_parameters())
                            .and_then(|p| {
                                p.get("method.response.header.Access-Control-Allow-Origin")
                            })
                            == Some(&format!("'{origin}'"))
                }
            });
        if method_ok && integration_ok {
            continue;
        }
        changes.push(format!("{} {}", m.method, m.path));
        if ctx.dry_run {
            continue;
        }
        // A MOCK method's responses cannot be put twice (ConflictException):
        // a wrong one is recreated whole.
        let recreate = current.is_some() && (!method_ok || !m.proxy);
        if recreate {
            apigw
                .delete_method()
                .rest_api_id(&api_id)
                .resource_id(&resource)
                .http_method(m.method)
                .send()
                .await
                .map_err(|e| aws_error("DeleteMethod", e))?;
        }
        if recreate || current.is_none() {
            apigw
                .put_method()
                .rest_api_id(&api_id)
                .resource_id(&resource)
                .http_method(m.method)
                .authorization_type(m.auth)
                .send()
                .await
                .map_err(|e| aws_error("PutMethod", e))?;
        }
        if m.proxy {
            apigw
                .put_integration()
                .rest_api_id(&api_id)
                .resource_id(&resource)
                .http_method(m.method)
                .r#type(IntegrationType::AwsProxy)
                .integration_http_method("POST")
                .uri(&uri)
                .send()
                .await
                .map_err(|e| aws_error("PutIntegration", e))?;
        } else {
            let allow_methods = if m.path == "/tickets" {
                "'GET,POST,OPTIONS'"
            } else {
                "'GET,OPTIONS'"
            };
            apigw
                .put_integration()
                .rest_api_id(&api_id)
                .resource_id(&resource)
                .http_method(m.method)
                .r#type(IntegrationType::Mock)
                .request_templates("application/json", r#"{"statusCode": 200}"#)
                .send()
                .await
                .map_err(|e| aws_error("PutIntegration", e))?;
            let headers = [
                ("Access-Control-Allow-Origin", format!("'{origin}'")),
                ("Access-Control-Allow-Headers", format!("'{CORS_HEADERS}'")),
                ("Access-Control-Allow-Methods", allow_methods.to_owned()),
            ];
            let mut response = apigw
                .put_method_response()
                .rest_api_id(&api_id)
                .resource_id(&resource)
                .http_method(m.method)
                .status_code("200");
            for (h, _) in &headers {
                response =
                    response.response_parameters(format!("method.response.header.{h}"), false);
            }
            response
                .send()
                .await
                .map_err(|e| aws_error("PutMethodResponse", e))?;
            let mut integration = apigw
                .put_integration_response()
                .rest_api_id(&api_id)
                .resource_id(&resource)
                .http_method(m.method)
                .status_code("200");
            for (h, v) in &headers {
                integration =
                    integration.response_parameters(format!("method.response.header.{h}"), v);
            }
            integration
                .send()
                .await
                .map_err(|e| aws_error("PutIntegrationResponse", e))?;
        }
    }

    // API Gateway may invoke the function, from this API only.
    let source_arn = format!("arn:aws:execute-api:{region}:{account}:{api_id}/*");
    let statement_id = format!("apigateway-{api_id}");
    let lambda = &ctx.clients.region(&region).lambda;
    let policy = match lambda
        .get_policy()
        .function_name(function_name(&ctx))
        .send()
        .await
    {
        Ok(p) => p
            .policy
            .map(|p| serde_json::from_str::<Value>(&p).unwrap_or(Value::Null)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws_error("GetPolicy", e)),
    };
    let permitted = policy
        .as_ref()
        .and_then(|p| p["Statement"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .any(|s| s["Sid"] == statement_id.as_str() && s.to_string().contains(&source_arn));
    if !permitted {
        changes.push("invoke permission".into());
        if !ctx.dry_run {
            lambda
                .add_permission()
                .function_name(function_name(&ctx))
                .statement_id(&statement_id)
                .action("lambda:InvokeFunction")
                .principal("apigateway.amazonaws.com")
                .source_arn(&source_arn)
                .send()
                .await
                .map_err(|e| aws_error("AddPermission", e))?;
        }
    }

    // A new deployment only when the API's definition changed.
    let spec = sha256_hex(
        format!(
            "{uri}|{origin}|{}",
            METHODS
                .iter()
                .map(|m| format!("{} {} {}", m.method, m.path, m.auth))
                .collect::<Vec<_>>()
                .join(",")
        )
        .as_bytes(),
    );
    let spec = &spec[..16];
    let stage = match apigw
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
    {
        Ok(s) => Some(s),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws_error("GetStage", e)),
    };
    let deployed_spec = stage
        .as_ref()
        .and_then(|s| s.variables())
        .and_then(|v| v.get("wildrydes_spec"))
        .cloned();
    if deployed_spec.as_deref() != Some(spec) || !changes.is_empty() {
        changes.push("deployment".into());
        if !ctx.dry_run {
            let deployment = apigw
                .create_deployment()
                .rest_api_id(&api_id)
                .description(format!("wildrydes up, spec {spec}"))
                .send()
                .await
                .map_err(|e| aws_error("CreateDeployment", e))?
                .id
                .unwrap_or_default();
            match stage {
                Some(_) => {
                    apigw
                        .update_stage()
                        .rest_api_id(&api_id)
                        .stage_name("prod")
                        .patch_operations(
                            PatchOperation::builder()
                                .op(Op::Replace)
                                .path("/deploymentId")
                                .value(&deployment)
                                .build(),
                        )
                        .patch_operations(
                            PatchOperation::builder()
                                .op(Op::Replace)
                                .path("/variables/wildrydes_spec")
                                .value(spec)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| aws_error("UpdateStage", e))?;
                }
                None => {
                    apigw
                        .create_stage()
                        .rest_api_id(&api_id)
                        .stage_name("prod")
                        .deployment_id(&deployment)
                        .variables("wildrydes_spec", spec)
                        .tags(STACK_TAG, ctx.stack())
                        .send()
                        .await
                        .map_err(|e| aws_error("CreateStage", e))?;
                }
            }
        }
    }
    Ok(if created {
        Done::new(Action::Created, &api_id)
    } else if changes.is_empty() {
        Done::new(Action::Unchanged, &api_id)
    } else if ctx.dry_run {
        Done::new(Action::WouldUpdate, &api_id).because(changes.join(", "))
    } else {
        Done::new(Action::Updated, &api_id).because(changes.join(", "))
    })
}

// --- ACM and custom domains ---------------------------------------------------

/// This stack's certificates in `region`.
pub async fn stack_certificates(ctx: &Ctx, region: &str) -> anyhow::Result<Vec<String>> {
    use aws_sdk_acm::types::CertificateStatus;
    let acm = &ctx.clients.region(region).acm;
    let mut summaries = Vec::new();
    let mut token = None;
    loop {
        let page = acm
            .list_certificates()
            .certificate_statuses(CertificateStatus::PendingValidation)
            .certificate_statuses(CertificateStatus::Issued)
            .certificate_statuses(CertificateStatus::Failed)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("ListCertificates", e))?;
        summaries.extend(page.certificate_summary_list().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for c in &summaries {
        if c.domain_name() != Some(ctx.config.api_domain().as_str()) {
            continue;
        }
        let arn = c.certificate_arn().unwrap_or_default();
        let tags = acm
            .list_tags_for_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("ListTagsForCertificate", e))?;
        if tags
            .tags()
            .iter()
            .any(|t| t.key() == STACK_TAG && t.value() == Some(ctx.stack()))
        {
            out.push(arn.to_owned());
        }
    }
    Ok(out)
}

async fn ensure_certificate(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    use aws_sdk_acm::types::*;
    let acm = &ctx.clients.region(&region).acm;
    let domain = ctx.config.api_domain();
    let own = regional_api_domain(&ctx, &region);
    let arn = stack_certificates(&ctx, &region).await?.into_iter().next();
    let created = arn.is_none();
    let arn = match arn {
        Some(a) => a,
        None => {
            if let Some(d) = would(&ctx, Action::Created, &domain) {
                return Ok(d);
            }
            acm.request_certificate()
                .domain_name(&domain)
                .subject_alternative_names(&domain)
                .subject_alternative_names(&own)
                .validation_method(ValidationMethod::Dns)
                .tags(Tag::builder().key(STACK_TAG).value(ctx.stack()).build()?)
                .send()
                .await
                .map_err(|e| aws_error("RequestCertificate", e))?
                .certificate_arn
                .ok_or_else(|| anyhow::anyhow!("RequestCertificate returned no ARN"))?
        }
    };
    ctx.outputs.set(format!("certificate.arn/{region}"), &arn);
    // The validation records appear a few seconds after the request on AWS.
    let detail = wait_for(
        &format!("the validation records of {arn}"),
        Duration::from_secs(120),
        POLL,
        || async {
            // Just after the request ACM may not know the ARN yet, and
            // fills in the validation records a few seconds later.
            let c = match acm
                .describe_certificate()
                .certificate_arn(&arn)
                .send()
                .await
            {
                Ok(out) => out.certificate,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    None
                }
                Err(e) => return Err(aws_error("DescribeCertificate", e)),
            };
            let Some(c) = c else {
                return Ok(None);
            };
            let options = c.domain_validation_options();
            let ready = matches!(
                c.status(),
                Some(CertificateStatus::Issued | CertificateStatus::Failed)
            ) || (!options.is_empty()
                && options.iter().all(|o| o.resource_record().is_some()));
            Ok(ready.then_some(c))
        },
    )
    .await?;
    if detail.status() == Some(&CertificateStatus::Failed) {
        anyhow::bail!(
            "certificate {arn} failed validation ({}): `wildrydes down` removes it, then run up again",
            detail
                .failure_reason()
                .map(|r| r.as_str())
                .unwrap_or("no reason given")
        );
    }
    if detail.status() == Some(&CertificateStatus::Issued) {
        return Ok(Done::new(
            if created {
                Action::Created
            } else {
                Action::Unchanged
            },
            &arn,
        ));
    }
    let records: Vec<(String, String)> = detail
        .domain_validation_options()
        .iter()
        .filter_map(|o| o.resource_record())
        .map(|r| (r.name().to_owned(), r.value().to_owned()))
        .collect();
    if ctx.dry_run {
        return Ok(Done::new(Action::WouldUpdate, &arn).because("validation records"));
    }
    let zone = ctx.outputs.get("zone.id")?;
    for (name, value) in records {
        upsert_if_different(&ctx, &zone, simple_record(&name, "CNAME", &value, 300)?).await?;
    }
    wait_for(&format!("certificate {arn} to be ISSUED"), SLOW, POLL, || async {
        let c = acm
            .describe_certificate()
            .certificate_arn(&arn)
            .send()
            .await
            .map_err(|e| aws_error("DescribeCertificate", e))?
            .certificate;
        match c.as_ref().and_then(|c| c.status()) {
            Some(CertificateStatus::Issued) => Ok(Some(())),
            Some(CertificateStatus::Failed) => anyhow::bail!(
                "certificate {arn} failed validation: `wildrydes down` removes it, then run up again"
            ),
            _ => Ok(None),
        }
    })
    .await?;
    Ok(Done::new(
        if created {
            Action::Created
        } else {
            Action::Updated
        },
        &arn,
    )
    .because("validated"))
}

async fn ensure_domains(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    use aws_sdk_apigateway::types::*;
    let apigw = &ctx.clients.region(&region).apigateway;
    let cert = ctx
        .outputs
        .maybe(&format!("certificate.arn/{region}"))
        .unwrap_or_default();
    let api_id = ctx
        .outputs
        .maybe(&format!("api.id/{region}"))
        .unwrap_or_default();
    let mut changes = Vec::new();
    let names = [ctx.config.api_domain(), regional_api_domain(&ctx, &region)];
    for (i, name) in names.iter().enumerate() {
        let key = if i == 0 {
            format!("domain.target/{region}")
        } else {
            format!("domain.own/{region}")
        };
        let current = match apigw.get_domain_name().domain_name(name).send().await {
            Ok(d) => Some(d),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(aws_error("GetDomainName", e)),
        };
        let target = match current {
            Some(d) => {
                if !tagged(d.tags(), ctx.stack()) {
                    return Err(not_tagged("custom domain", name, &ctx));
                }
                if d.regional_certificate_arn() != Some(cert.as_str()) {
                    changes.push(format!("{name} certificate"));
                    if !ctx.dry_run {
                        apigw
                            .update_domain_name()
                            .domain_name(name)
                            .patch_operations(
                                PatchOperation::builder()
                                    .op(Op::Replace)
                                    .path("/regionalCertificateArn")
                                    .value(&cert)
                                    .build(),
                            )
                            .send()
                            .await
                            .map_err(|e| aws_error("UpdateDomainName", e))?;
                    }
                }
                d.regional_domain_name().unwrap_or_default().to_owned()
            }
            None => {
                changes.push(format!("{name} created"));
                if ctx.dry_run {
                    continue;
                }
                apigw
                    .create_domain_name()
                    .domain_name(name)
                    .regional_certificate_arn(&cert)
                    .endpoint_configuration(
                        EndpointConfiguration::builder()
                            .types(EndpointType::Regional)
                            .build(),
                    )
                    .security_policy(SecurityPolicy::Tls12)
                    .tags(STACK_TAG, ctx.stack())
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateDomainName", e))?
                    .regional_domain_name
                    .unwrap_or_default()
            }
        };
        ctx.outputs.set(key, target);
        let mappings = match apigw
            .get_base_path_mappings()
            .domain_name(name)
            .send()
            .await
        {
            Ok(m) => m.items().to_vec(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_not_found_exception()) =>
            {
                Vec::new()
            }
            Err(e) => return Err(aws_error("GetBasePathMappings", e)),
        };
        let root = mappings.iter().find(|m| m.base_path() == Some("(none)"));
        let right = root
            .is_some_and(|m| m.rest_api_id() == Some(api_id.as_str()) && m.stage() == Some("prod"));
        if right {
            continue;
        }
        changes.push(format!("{name} mapping"));
        if ctx.dry_run {
            continue;
        }
        if root.is_some() {
            apigw
                .delete_base_path_mapping()
                .domain_name(name)
                .base_path("(none)")
                .send()
                .await
                .map_err(|e| aws_error("DeleteBasePathMapping", e))?;
        }
        apigw
            .create_base_path_mapping()
            .domain_name(name)
            .rest_api_id(&api_id)
            .stage("prod")
            .send()
            .await
            .map_err(|e| aws_error("CreateBasePathMapping", e))?;
    }
    let id = names.join(", ");
    let all_new = changes.iter().filter(|c| c.ends_with("created")).count() == names.len();
    Ok(match (changes.is_empty(), all_new, ctx.dry_run) {
        (true, _, _) => Done::new(Action::Unchanged, id),
        (false, true, true) => Done::new(Action::WouldCreate, id),
        (false, true, false) => Done::new(Action::Created, id),
        (false, false, true) => Done::new(Action::WouldUpdate, id).because(changes.join(", ")),
        (false, false, false) => Done::new(Action::Updated, id).because(changes.join(", ")),
    })
}

// --- Route 53 ---------------------------------------------------------------

async fn ensure_zone(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_route53::types::HostedZoneConfig;
    let r53 = &ctx.clients.route53;
    let domain = &ctx.config.domain;
    let want = format!("{domain}.");
    let zones = r53
        .list_hosted_zones_by_name()
        .dns_name(domain)
        .send()
        .await
        .map_err(|e| aws_error("ListHostedZonesByName", e))?;
    let public: Vec<_> = zones
        .hosted_zones()
        .iter()
        .filter(|z| z.name() == want && !z.config().is_some_and(|c| c.private_zone()))
        .collect();
    if let Some(z) = public.first() {
        let id = z.id().trim_start_matches("/hostedzone/").to_owned();
        ctx.outputs.set("zone.id", &id);
        return Ok(Done::new(Action::Unchanged, id));
    }
    if !ctx.create_zone {
        anyhow::bail!(
            "there is no public hosted zone {domain} in this account: create it in Route 53, delegate {domain} to its name servers at your registrar, and run up again"
        );
    }
    if let Some(d) = would(&ctx, Action::Created, domain) {
        return Ok(d);
    }
    let zone = r53
        .create_hosted_zone()
        .name(domain)
        .caller_reference(format!("{}-zone-{}", ctx.stack(), uuid_like()))
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
    let id = zone.id().trim_start_matches("/hostedzone/").to_owned();
    ctx.outputs.set("zone.id", &id);
    Ok(Done::new(Action::Created, id))
}

fn uuid_like() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

fn simple_record(
    name: &str,
    rtype: &str,
    value: &str,
    ttl: i64,
) -> anyhow::Result<aws_sdk_route53::types::ResourceRecordSet> {
    use aws_sdk_route53::types::*;
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
async fn records_at(
    ctx: &Ctx,
    zone: &str,
    name: &str,
) -> anyhow::Result<Vec<aws_sdk_route53::types::ResourceRecordSet>> {
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
fn same_record(
    a: &aws_sdk_route53::types::ResourceRecordSet,
    b: &aws_sdk_route53::types::ResourceRecordSet,
) -> bool {
    let values = |r: &aws_sdk_route53::types::ResourceRecordSet| -> Vec<String> {
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

/// UPSERTs `want` unless an identical record set is there; true if it wrote.
async fn upsert_if_different(
    ctx: &Ctx,
    zone: &str,
    want: aws_sdk_route53::types::ResourceRecordSet,
) -> anyhow::Result<Option<Action>> {
    use aws_sdk_route53::types::*;
    let existing = records_at(ctx, zone, want.name()).await?;
    if existing.iter().any(|r| same_record(r, &want)) {
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
    let fresh = !existing
        .iter()
        .any(|r| r.r#type() == want.r#type() && r.set_identifier() == want.set_identifier());
    let action = match (fresh, ctx.dry_run) {
        (true, false) => Action::Created,
        (true, true) => Action::WouldCreate,
        (false, false) => Action::Updated,
        (false, true) => Action::WouldUpdate,
    };
    if ctx.dry_run {
        return Ok(Some(action));
    }
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(want)
        .build()?;
    apply_changes(ctx, zone, vec![change]).await?;
    Ok(Some(action))
}

/// One result for several writes: created if every one created, else
/// updated if any wrote, else unchanged.
fn combine(ctx: &Ctx, results: &[Option<Action>], id: impl Into<String>) -> Done {
    let wrote: Vec<Action> = results.iter().flatten().copied().collect();
    let all_new = !wrote.is_empty()
        && wrote.len() == results.len()
        && wrote
            .iter()
            .all(|a| matches!(a, Action::Created | Action::WouldCreate));
    let action = match (wrote.is_empty(), all_new, ctx.dry_run) {
        (true, _, _) => Action::Unchanged,
        (false, true, false) => Action::Created,
        (false, true, true) => Action::WouldCreate,
        (false, false, false) => Action::Updated,
        (false, false, true) => Action::WouldUpdate,
    };
    Done::new(action, id)
}

/// Applies a change batch and waits until Route 53 says INSYNC.
async fn apply_changes(
    ctx: &Ctx,
    zone: &str,
    changes: Vec<aws_sdk_route53::types::Change>,
) -> anyhow::Result<()> {
    let r53 = &ctx.clients.route53;
    let info = r53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()?,
        )
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
            Ok((c.change_info().map(|i| i.status())
                == Some(&aws_sdk_route53::types::ChangeStatus::Insync))
            .then_some(()))
        },
    )
    .await
}

async fn ensure_regional_records(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let zone = ctx.outputs.maybe("zone.id");
    let new = if ctx.dry_run {
        Action::WouldCreate
    } else {
        Action::Created
    };
    let mut results = Vec::new();
    for region in ctx.config.regions() {
        let name = regional_api_domain(&ctx, region);
        let (Some(zone), Some(target)) =
            (&zone, ctx.outputs.maybe(&format!("domain.own/{region}")))
        else {
            // Only in a dry run: the zone or the domain is still to come.
            results.push(Some(new));
            continue;
        };
        let want = simple_record(&name, "CNAME", &target, ctx.config.dns_ttl_seconds.into())?;
        results.push(upsert_if_different(&ctx, zone, want).await?);
    }
    let id = ctx
        .config
        .regions()
        .iter()
        .map(|r| regional_api_domain(&ctx, r))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(combine(&ctx, &results, id))
}

/// This stack's health checks (by caller-reference prefix).
pub async fn stack_health_checks(
    ctx: &Ctx,
) -> anyhow::Result<Vec<aws_sdk_route53::types::HealthCheck>> {
    let prefix = health_check_prefix(ctx);
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
                .filter(|h| {
                    h.caller_reference().starts_with(&prefix)
                        && health_check_interval(ctx, h.caller_reference()).is_some()
                })
                .cloned(),
        );
        if !page.is_truncated() {
            return Ok(out);
        }
        marker = page.next_marker().map(str::to_owned);
    }
}

async fn ensure_health_check(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_route53::types::*;
    let interval = ctx.config.health_check_interval_seconds as i32;
    let threshold = ctx.config.health_check_failure_threshold as i32;
    let fqdn_target = regional_api_domain(&ctx, &ctx.config.primary_region);
    // Route 53 refuses a deleted check's caller reference for a while, so
    // each new check gets a fresh one; the interval (immutable) is in it.
    let reference = format!("{}{interval}s-{}", health_check_prefix(&ctx), uuid_like());
    let existing = stack_health_checks(&ctx).await?;
    if let Some(h) = existing
        .iter()
        .find(|h| health_check_interval(&ctx, h.caller_reference()) == Some(interval as u32))
    {
        let c = h.health_check_config();
        let same = c.is_some_and(|c| {
            c.r#type() == &HealthCheckType::Https
                && c.fully_qualified_domain_name() == Some(fqdn_target.as_str())
                && c.resource_path() == Some("/health")
                && c.port() == Some(443)
                && c.failure_threshold() == Some(threshold)
                && !c.inverted().unwrap_or(false)
                && !c.disabled().unwrap_or(false)
        });
        ctx.outputs.set("health.id", h.id());
        if same {
            return Ok(Done::new(Action::Unchanged, h.id()));
        }
        if let Some(d) = would(&ctx, Action::Updated, h.id()) {
            return Ok(d);
        }
        ctx.clients
            .route53
            .update_health_check()
            .health_check_id(h.id())
            .health_check_version(h.health_check_version())
            .fully_qualified_domain_name(&fqdn_target)
            .resource_path("/health")
            .port(443)
            .failure_threshold(threshold)
            .inverted(false)
            .disabled(false)
            .send()
            .await
            .map_err(|e| aws_error("UpdateHealthCheck", e))?;
        return Ok(Done::new(Action::Updated, h.id())
            .because("settings (a drill's Inverted or Disabled is undone)"));
    }
    if let Some(d) = would(&ctx, Action::Created, &fqdn_target) {
        return Ok(d);
    }
    let check = ctx
        .clients
        .route53
        .create_health_check()
        .caller_reference(&reference)
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Https)
                .fully_qualified_domain_name(&fqdn_target)
                .port(443)
                .resource_path("/health")
                .request_interval(interval)
                .failure_threshold(threshold)
                .enable_sni(true)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| aws_error("CreateHealthCheck", e))?
        .health_check
        .ok_or_else(|| anyhow::anyhow!("CreateHealthCheck returned nothing"))?;
    ctx.outputs.set("health.id", check.id());
    Ok(Done::new(Action::Created, check.id()))
}

async fn ensure_failover_records(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_route53::types::*;
    let name = ctx.config.api_domain();
    let (Some(zone), Some(health)) = (ctx.outputs.maybe("zone.id"), ctx.outputs.maybe("health.id"))
    else {
        return Ok(Done::new(Action::WouldCreate, name));
    };
    let [p, s] = ctx.config.regions();
    let new = if ctx.dry_run {
        Action::WouldCreate
    } else {
        Action::Created
    };
    let mut results = Vec::new();
    for (region, role) in [
        (p, ResourceRecordSetFailover::Primary),
        (s, ResourceRecordSetFailover::Secondary),
    ] {
        let Some(target) = ctx.outputs.maybe(&format!("domain.target/{region}")) else {
            results.push(Some(new));
            continue;
        };
        let mut want = ResourceRecordSet::builder()
            .name(&name)
            .r#type(RrType::Cname)
            .ttl(ctx.config.dns_ttl_seconds.into())
            .set_identifier(format!(
                "{}-{}",
                ctx.stack(),
                role.as_str().to_ascii_lowercase()
            ))
            .failover(role.clone())
            .resource_records(ResourceRecord::builder().value(&target).build()?);
        if role == ResourceRecordSetFailover::Primary {
            want = want.health_check_id(&health);
        }
        results.push(upsert_if_different(&ctx, &zone, want.build()?).await?);
    }
    // Health checks of an earlier interval are no longer referenced.
    if !ctx.dry_run {
        for old in stack_health_checks(&ctx)
            .await?
            .iter()
            .filter(|h| h.id() != health)
        {
            ctx.clients
                .route53
                .delete_health_check()
                .health_check_id(old.id())
                .send()
                .await
                .map_err(|e| aws_error("DeleteHealthCheck (superseded)", e))?;
            results.push(Some(Action::Updated));
        }
    }
    Ok(combine(&ctx, &results, name))
}

// --- Cognito ----------------------------------------------------------------

/// The identity pool of this stack, if there is one: (id, description).
pub async fn find_pool(
    ctx: &Ctx,
) -> anyhow::Result<
    Option<aws_sdk_cognitoidentity::operation::describe_identity_pool::DescribeIdentityPoolOutput>,
> {
    let cognito = &ctx.clients.region(&ctx.config.primary_region).cognito;
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

/// The Facebook app id the pool trusts.
pub fn facebook_app_id(ctx: &Ctx) -> String {
    ctx.config
        .facebook_app_id
        .clone()
        .unwrap_or_else(|| SANDBOX_FACEBOOK_APP.into())
}

/// The app id the sandbox's Facebook stand-in uses when none is configured.
pub const SANDBOX_FACEBOOK_APP: &str = "100000000000001";

async fn ensure_identity_pool(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let cognito = &ctx.clients.region(&ctx.config.primary_region).cognito;
    let name = pool_name(&ctx);
    let app = facebook_app_id(&ctx);
    let providers = HashMap::from([("graph.facebook.com".to_owned(), app.clone())]);
    match find_pool(&ctx).await? {
        Some(d) => {
            ctx.outputs.set("pool.id", d.identity_pool_id());
            let same = !d.allow_unauthenticated_identities()
                && d.supported_login_providers() == Some(&providers)
                && d.developer_provider_name() == Some(developer_provider(&ctx).as_str());
            if same {
                return Ok(Done::new(Action::Unchanged, d.identity_pool_id()));
            }
            if let Some(d) = would(&ctx, Action::Updated, d.identity_pool_id()) {
                return Ok(d);
            }
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
                .map_err(|e| aws_error("UpdateIdentityPool", e))?;
            Ok(Done::new(Action::Updated, d.identity_pool_id()).because("login providers"))
        }
        None => {
            if let Some(d) = would(&ctx, Action::Created, &name) {
                return Ok(d);
            }
            let pool = cognito
                .create_identity_pool()
                .identity_pool_name(&name)
                .allow_unauthenticated_identities(false)
                .set_supported_login_providers(Some(providers))
                .developer_provider_name(developer_provider(&ctx))
                .identity_pool_tags(STACK_TAG, ctx.stack())
                .send()
                .await
                .map_err(|e| aws_error("CreateIdentityPool", e))?;
            ctx.outputs.set("pool.id", pool.identity_pool_id());
            Ok(Done::new(Action::Created, pool.identity_pool_id()))
        }
    }
}

// --- S3 and CloudFront --------------------------------------------------------

fn public_read_policy(bucket: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "PublicReadForWebsite", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]})
}

async fn ensure_bucket(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_s3::types::*;
    let region = ctx.config.primary_region.clone();
    let s3 = &ctx.clients.region(&region).s3;
    let bucket = bucket_name(&ctx)?;
    ctx.outputs.set("bucket", &bucket);
    ctx.outputs
        .set("bucket.website", website_endpoint(&bucket, &region));
    let mut changes = Vec::new();
    let created = match s3.head_bucket().bucket(&bucket).send().await {
        Ok(_) => {
            let tags = match s3.get_bucket_tagging().bucket(&bucket).send().await {
                Ok(t) => t
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
                Err(_) => HashMap::new(),
            };
            if !tagged(Some(&tags), ctx.stack()) {
                return Err(not_tagged("S3 bucket", &bucket, &ctx));
            }
            false
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {
            if let Some(d) = would(&ctx, Action::Created, &bucket) {
                return Ok(d);
            }
            let mut create = s3.create_bucket().bucket(&bucket);
            if region != "us-east-1" {
                create = create.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(region.as_str()))
                        .build(),
                );
            }
            create
                .send()
                .await
                .map_err(|e| aws_error("CreateBucket", e))?;
            s3.put_bucket_tagging()
                .bucket(&bucket)
                .tagging(
                    Tagging::builder()
                        .tag_set(Tag::builder().key(STACK_TAG).value(ctx.stack()).build()?)
                        .build()?,
                )
                .send()
                .await
                .map_err(|e| aws_error("PutBucketTagging", e))?;
            true
        }
        Err(e) => return Err(aws_error("HeadBucket", e)),
    };
    // A public website: Block Public Access off, a public-read policy.
    let blocked = match s3.get_public_access_block().bucket(&bucket).send().await {
        Ok(b) => b.public_access_block_configuration().is_some_and(|c| {
            c.block_public_policy() == Some(true) || c.restrict_public_buckets() == Some(true)
        }),
        Err(e)
            if e.as_service_error().and_then(|e| e.code())
                == Some("NoSuchPublicAccessBlockConfiguration") =>
        {
            false
        }
        Err(e) => return Err(aws_error("GetPublicAccessBlock", e)),
    };
    if blocked {
        changes.push("public access");
        if !ctx.dry_run {
            s3.delete_public_access_block()
                .bucket(&bucket)
                .send()
                .await
                .map_err(|e| aws_error("DeletePublicAccessBlock", e))?;
        }
    }
    let want_policy = public_read_policy(&bucket);
    let policy = match s3.get_bucket_policy().bucket(&bucket).send().await {
        Ok(p) => p
            .policy()
            .and_then(|p| serde_json::from_str::<Value>(p).ok()),
        Err(e) if e.as_service_error().and_then(|e| e.code()) == Some("NoSuchBucketPolicy") => None,
        Err(e) => return Err(aws_error("GetBucketPolicy", e)),
    };
    if policy.as_ref() != Some(&want_policy) {
        changes.push("policy");
        if !ctx.dry_run {
            s3.put_bucket_policy()
                .bucket(&bucket)
                .policy(want_policy.to_string())
                .send()
                .await
                .map_err(|e| aws_error("PutBucketPolicy", e))?;
        }
    }
    let website = match s3.get_bucket_website().bucket(&bucket).send().await {
        Ok(w) => w.index_document().map(|i| i.suffix().to_owned()),
        Err(e)
            if e.as_service_error().and_then(|e| e.code())
                == Some("NoSuchWebsiteConfiguration") =>
        {
            None
        }
        Err(e) => return Err(aws_error("GetBucketWebsite", e)),
    };
    if website.as_deref() != Some("index.html") {
        changes.push("website");
        if !ctx.dry_run {
            s3.put_bucket_website()
                .bucket(&bucket)
                .website_configuration(
                    WebsiteConfiguration::builder()
                        .index_document(IndexDocument::builder().suffix("index.html").build()?)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws_error("PutBucketWebsite", e))?;
        }
    }
    Ok(if created {
        Done::new(Action::Created, &bucket)
    } else if changes.is_empty() {
        Done::new(Action::Unchanged, &bucket)
    } else if ctx.dry_run {
        Done::new(Action::WouldUpdate, &bucket).because(changes.join(", "))
    } else {
        Done::new(Action::Updated, &bucket).because(changes.join(", "))
    })
}

/// CloudFront's managed cache policy CachingOptimized.
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";

fn distribution_config(
    ctx: &Ctx,
    caller_reference: &str,
    origin: &str,
) -> anyhow::Result<aws_sdk_cloudfront::types::DistributionConfig> {
    use aws_sdk_cloudfront::types::*;
    Ok(DistributionConfig::builder()
        .caller_reference(caller_reference)
        .comment(distribution_comment(ctx))
        .enabled(true)
        .default_root_object("index.html")
        .price_class(PriceClass::PriceClass100)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id("website")
                        .domain_name(origin)
                        .custom_origin_config(
                            CustomOriginConfig::builder()
                                .http_port(80)
                                .https_port(443)
                                .origin_protocol_policy(OriginProtocolPolicy::HttpOnly)
                                .build()?,
                        )
                        .build()?,
                )
                .build()?,
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("website")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .cache_policy_id(CACHING_OPTIMIZED)
                .compress(true)
                .build()?,
        )
        .viewer_certificate(
            ViewerCertificate::builder()
                .cloud_front_default_certificate(true)
                .build(),
        )
        .build()?)
}

/// This stack's distribution: (id, ARN, domain name).
pub async fn find_distribution(ctx: &Ctx) -> anyhow::Result<Option<(String, String, String)>> {
    let cf = &ctx.clients.cloudfront;
    let comment = distribution_comment(ctx);
    let mut marker = None;
    loop {
        let page = cf
            .list_distributions()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("ListDistributions", e))?;
        let Some(list) = page.distribution_list() else {
            return Ok(None);
        };
        for d in list.items() {
            // AWS lists each distribution's comment; a stand-in that
            // leaves it out (moto) is asked for the tags of each instead.
            if d.comment() != comment && !d.comment().is_empty() {
                continue;
            }
            let tags = cf
                .list_tags_for_resource()
                .resource(d.arn())
                .send()
                .await
                .map_err(|e| aws_error("ListTagsForResource", e))?;
            let ours = tags.tags().is_some_and(|t| {
                t.items()
                    .iter()
                    .any(|t| t.key() == STACK_TAG && t.value() == Some(ctx.stack()))
            });
            if ours {
                return Ok(Some((
                    d.id().to_owned(),
                    d.arn().to_owned(),
                    d.domain_name().to_owned(),
                )));
            }
        }
        if !list.is_truncated() {
            return Ok(None);
        }
        marker = list.next_marker().map(str::to_owned);
    }
}

async fn wait_distribution_deployed(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let cf = &ctx.clients.cloudfront;
    wait_for(
        &format!("CloudFront distribution {id} to deploy"),
        SLOW,
        POLL,
        || async {
            let d = cf
                .get_distribution()
                .id(id)
                .send()
                .await
                .map_err(|e| aws_error("GetDistribution", e))?;
            Ok((d.distribution().map(|d| d.status()) == Some("Deployed")).then_some(()))
        },
    )
    .await
}

async fn ensure_distribution(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_cloudfront::types::*;
    let cf = &ctx.clients.cloudfront;
    let origin = ctx.outputs.get("bucket.website")?;
    match find_distribution(&ctx).await? {
        Some((id, _, domain)) => {
            ctx.outputs.set("distribution.id", &id);
            ctx.outputs.set("web.origin", (ctx.web_origin)(&domain));
            let current = cf
                .get_distribution_config()
                .id(&id)
                .send()
                .await
                .map_err(|e| aws_error("GetDistributionConfig", e))?;
            let etag = current.e_tag().unwrap_or_default().to_owned();
            let c = current.distribution_config().ok_or_else(|| {
                anyhow::anyhow!("GetDistributionConfig returned no configuration")
            })?;
            let same = c.enabled()
                && c.default_root_object() == Some("index.html")
                && c.origins()
                    .is_some_and(|o| o.items().iter().any(|o| o.domain_name() == origin))
                && c.default_cache_behavior()
                    .is_some_and(|b| b.target_origin_id() == "website");
            if same {
                return Ok(Done::new(Action::Unchanged, &id));
            }
            if let Some(d) = would(&ctx, Action::Updated, &id) {
                return Ok(d);
            }
            let config = distribution_config(&ctx, c.caller_reference(), &origin)?;
            cf.update_distribution()
                .id(&id)
                .if_match(etag)
                .distribution_config(config)
                .send()
                .await
                .map_err(|e| aws_error("UpdateDistribution", e))?;
            wait_distribution_deployed(&ctx, &id).await?;
            Ok(Done::new(Action::Updated, &id).because("origin or settings"))
        }
        None => {
            if let Some(d) = would(&ctx, Action::Created, "distribution") {
                return Ok(d);
            }
            let config = distribution_config(
                &ctx,
                &format!("{}-web-{}", ctx.stack(), uuid_like()),
                &origin,
            )?;
            let out = cf
                .create_distribution_with_tags()
                .distribution_config_with_tags(
                    DistributionConfigWithTags::builder()
                        .distribution_config(config)
                        .tags(
                            Tags::builder()
                                .items(Tag::builder().key(STACK_TAG).value(ctx.stack()).build()?)
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws_error("CreateDistributionWithTags", e))?;
            let d = out
                .distribution()
                .ok_or_else(|| anyhow::anyhow!("CreateDistribution returned nothing"))?;
            let id = d.id().to_owned();
            ctx.outputs.set("distribution.id", &id);
            ctx.outputs
                .set("web.origin", (ctx.web_origin)(d.domain_name()));
            wait_distribution_deployed(&ctx, &id).await?;
            Ok(Done::new(Action::Created, &id))
        }
    }
}

/// The generated `config.js`: what the browser needs to find everything.
pub fn config_js(ctx: &Ctx) -> String {
    let [p, s] = ctx.config.regions();
    let config = json!({
        "stack": ctx.stack(),
        "regions": {"primary": p, "secondary": s},
        "apiUrl": ctx.api_url,
        "cognitoRegion": p,
        "identityPoolId": ctx.outputs.maybe("pool.id"),
        "facebookAppId": facebook_app_id(ctx),
        "facebookLoginUrl": ctx.facebook_login_url,
    });
    format!(
        "// Generated by `wildrydes up`; do not edit.\nwindow.WILDRYDES_CONFIG = {};\n",
        serde_json::to_string_pretty(&config).unwrap_or_default()
    )
}

fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "application/javascript",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

async fn ensure_site(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    use aws_sdk_s3::primitives::ByteStream;
    let s3 = &ctx.clients.region(&ctx.config.primary_region).s3;
    let bucket = ctx.outputs.get("bucket")?;
    let mut files = ctx.web.clone();
    files.insert("config.js".into(), config_js(&ctx).into_bytes());
    let mut changed = Vec::new();
    let mut existed = 0;
    for (key, body) in &files {
        let sha = sha256_hex(body);
        let current = match s3.head_object().bucket(&bucket).key(key).send().await {
            Ok(h) => h.metadata().and_then(|m| m.get("sha256")).cloned(),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => None,
            Err(e) if ctx.dry_run => {
                let _ = e;
                None
            }
            Err(e) => return Err(aws_error("HeadObject", e)),
        };
        existed += usize::from(current.is_some());
        if current.as_deref() == Some(sha.as_str()) {
            continue;
        }
        changed.push(key.clone());
        if ctx.dry_run {
            continue;
        }
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(body.clone()))
            .content_type(content_type(key))
            .metadata("sha256", &sha)
            .send()
            .await
            .map_err(|e| aws_error(&format!("PutObject {key}"), e))?;
    }
    // Objects no longer in web/ go.
    let mut stale = Vec::new();
    if !ctx.dry_run || ctx.outputs.maybe("bucket").is_some() {
        let mut token = None;
        loop {
            let page = match s3
                .list_objects_v2()
                .bucket(&bucket)
                .set_continuation_token(token)
                .send()
                .await
            {
                Ok(p) => p,
                Err(_) if ctx.dry_run => break,
                Err(e) => return Err(aws_error("ListObjectsV2", e)),
            };
            stale.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| !files.contains_key(*k))
                    .map(str::to_owned),
            );
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    if !ctx.dry_run {
        for key in &stale {
            s3.delete_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| aws_error(&format!("DeleteObject {key}"), e))?;
        }
    }
    let total = changed.len() + stale.len();
    if total == 0 {
        return Ok(Done::new(
            Action::Unchanged,
            format!("{} files", files.len()),
        ));
    }
    let detail = format!("{} uploaded, {} removed", changed.len(), stale.len());
    let fresh = existed == 0 && stale.is_empty();
    let action = match (fresh, ctx.dry_run) {
        (true, true) => Action::WouldCreate,
        (true, false) => Action::Created,
        (false, true) => Action::WouldUpdate,
        (false, false) => Action::Updated,
    };
    if ctx.dry_run {
        return Ok(Done::new(action, format!("{} files", files.len())).because(detail));
    }
    // Viewers get the new files at once.
    if let Some(id) = ctx.outputs.maybe("distribution.id") {
        use aws_sdk_cloudfront::types::*;
        ctx.clients
            .cloudfront
            .create_invalidation()
            .distribution_id(&id)
            .invalidation_batch(
                InvalidationBatch::builder()
                    .caller_reference(format!("{}-{}", ctx.stack(), uuid_like()))
                    .paths(Paths::builder().quantity(1).items("/*").build()?)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| aws_error("CreateInvalidation", e))?;
    }
    Ok(Done::new(action, format!("{} files", files.len())).because(detail))
}
