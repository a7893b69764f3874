//! The ticket Lambda function, one per region: code (the `bootstrap`
//! package), configuration (role, runtime, memory, environment) and no
//! reserved concurrency (a drill's throttle is undone by `up`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use super::{POLL, STACK_TAG, function_name, gone, kept, not_tagged, table_name, tagged};
use crate::deploy::package::LambdaPackage;
use crate::deploy::{Action, Ctx, Done, aws_error, wait_for};

const FUNCTION_TIMEOUT: i32 = 10;
const FUNCTION_MEMORY: i32 = 256;
/// How long Lambda may take to apply an update.
const SETTLE: Duration = Duration::from_secs(300);

/// The function in `region`, whoever owns it.
async fn lookup(ctx: &Ctx, region: &str) -> anyhow::Result<Option<GetFunctionOutput>> {
    let lambda = &ctx.clients.region(region).lambda;
    match lambda
        .get_function()
        .function_name(function_name(ctx))
        .send()
        .await
    {
        Ok(f) => Ok(Some(f)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error("GetFunction", e)),
    }
}

/// The function in `region`: `None` when there is none, an error when one
/// of its name is not the stack's.
pub async fn find(ctx: &Ctx, region: &str) -> anyhow::Result<Option<GetFunctionOutput>> {
    match lookup(ctx, region).await? {
        Some(f) if !tagged(f.tags(), ctx.stack()) => {
            Err(not_tagged("Lambda function", &function_name(ctx), ctx))
        }
        found => Ok(found),
    }
}

/// The cursor secret both regions' functions share: the one already
/// deployed, else a new one. Any failure to read (other than "no
/// function") is an error: a new secret would rewrite both functions and
/// break every cursor in flight.
pub async fn cursor_secret(ctx: &Ctx) -> anyhow::Result<String> {
    for region in ctx.config.regions() {
        let deployed = lookup(ctx, region)
            .await
            .map_err(|e| e.context("reading the cursor secret"))?;
        if let Some(secret) = deployed.as_ref().and_then(|f| {
            f.configuration()
                .and_then(|c| c.environment())
                .and_then(|e| e.variables())
                .and_then(|v| v.get("CURSOR_SECRET"))
        }) {
            return Ok(secret.clone());
        }
    }
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    Ok(hex::encode(bytes))
}

/// The function's environment.
fn function_env(ctx: &Ctx) -> HashMap<String, String> {
    let origin = ctx
        .outputs
        .web_origin
        .get()
        .unwrap_or_else(|| "(new distribution)".into());
    let mut env = HashMap::from([
        ("TABLE_NAME".to_owned(), table_name(ctx)),
        ("ALLOWED_ORIGIN".to_owned(), origin),
    ]);
    // `up` always knows the secret; `status` keeps whatever is deployed.
    if let Some(secret) = &ctx.cursor_secret {
        env.insert("CURSOR_SECRET".to_owned(), secret.clone());
    }
    env
}

fn architecture(ctx: &Ctx) -> Architecture {
    match ctx.config.lambda_architecture.as_str() {
        "arm64" => Architecture::Arm64,
        _ => Architecture::X8664,
    }
}

fn package(ctx: &Ctx) -> anyhow::Result<&LambdaPackage> {
    ctx.lambda
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("internal: no Lambda package"))
}

/// Ensures the function in `region`: code, configuration, no reserved
/// concurrency. (`status` compares everything but the code: it has no
/// package.)
pub async fn ensure(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let name = function_name(&ctx);
    let role_arn = ctx.outputs.lambda_role_arn.get().unwrap_or_default();
    let mut env = function_env(&ctx);
    let arch = architecture(&ctx);
    let mut w = ctx.writer();
    let Some(out) = find(&ctx, &region).await? else {
        w.create(|| create(&ctx, &region, &role_arn, env)).await?;
        return Ok(w.finish(&name));
    };
    let c = out
        .configuration()
        .ok_or_else(|| anyhow::anyhow!("GetFunction returned no configuration"))?;
    ctx.outputs
        .function_arn
        .set(&region, c.function_arn().unwrap_or_default());
    let mut changes = Vec::new();
    if let Some(p) = ctx.lambda.as_ref()
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
    if !changes.is_empty() {
        w.change(changes.join(", "), || {
            update(&ctx, &region, &changes, &role_arn, env)
        })
        .await?;
    }
    Ok(w.finish(&name))
}

/// Makes the `changes` `ensure` found.
async fn update(
    ctx: &Ctx,
    region: &str,
    changes: &[&str],
    role_arn: &str,
    env: HashMap<String, String>,
) -> anyhow::Result<()> {
    let lambda = &ctx.clients.region(region).lambda;
    let name = function_name(ctx);
    if changes.contains(&"code") || changes.contains(&"architecture") {
        lambda
            .update_function_code()
            .function_name(&name)
            .zip_file(Blob::new(package(ctx)?.zip.clone()))
            .architectures(architecture(ctx))
            .send()
            .await
            .map_err(|e| aws_error("UpdateFunctionCode", e))?;
        wait_ready(lambda, &name, SETTLE).await?;
    }
    if changes.contains(&"configuration") {
        lambda
            .update_function_configuration()
            .function_name(&name)
            .role(role_arn)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .timeout(FUNCTION_TIMEOUT)
            .memory_size(FUNCTION_MEMORY)
            .environment(Environment::builder().set_variables(Some(env)).build())
            .send()
            .await
            .map_err(|e| aws_error("UpdateFunctionConfiguration", e))?;
        wait_ready(lambda, &name, SETTLE).await?;
    }
    if changes.contains(&"reserved concurrency") {
        lambda
            .delete_function_concurrency()
            .function_name(&name)
            .send()
            .await
            .map_err(|e| aws_error("DeleteFunctionConcurrency", e))?;
    }
    Ok(())
}

/// Creates the function, retrying while a new role is not yet assumable.
async fn create(
    ctx: &Ctx,
    region: &str,
    role_arn: &str,
    env: HashMap<String, String>,
) -> anyhow::Result<()> {
    let lambda = &ctx.clients.region(region).lambda;
    let name = function_name(ctx);
    let package = package(ctx)?;
    let arch = architecture(ctx);
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
                .role(role_arn)
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
    ctx.outputs
        .function_arn
        .set(region, created.function_arn().unwrap_or_default());
    wait_ready(lambda, &name, SETTLE).await
}

/// Waits until a function is Active with its last update Successful; a
/// Failed state or update is an error with Lambda's reason.
async fn wait_ready(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
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

/// Deletes the function in `region`.
pub async fn remove(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let lambda = &ctx.clients.region(&region).lambda;
    let name = function_name(&ctx);
    match lookup(&ctx, &region).await? {
        None => return gone(name),
        Some(f) if !tagged(f.tags(), ctx.stack()) => return kept(name),
        Some(_) => {}
    }
    ctx.delete(name.clone(), || async {
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
    })
    .await
}

/// What `status` shows of one region's function.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionState {
    pub state: String,
    pub last_update: String,
    pub code_sha256: String,
    pub reserved_concurrency: Option<i32>,
    pub fault: Option<String>,
}

/// The function in `region` as `status` shows it (whoever owns it).
pub async fn observe(ctx: &Ctx, region: &str) -> anyhow::Result<Option<FunctionState>> {
    Ok(lookup(ctx, region).await?.and_then(|f| {
        f.configuration().map(|c| FunctionState {
            state: c.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            last_update: c
                .last_update_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            code_sha256: c.code_sha256().unwrap_or_default().to_owned(),
            reserved_concurrency: f
                .concurrency()
                .and_then(|c| c.reserved_concurrent_executions()),
            fault: c
                .environment()
                .and_then(|e| e.variables())
                .and_then(|v| v.get("WILDRYDES_FAULT"))
                .filter(|v| !v.is_empty() && *v != "none")
                .cloned(),
        })
    }))
}
