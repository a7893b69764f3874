//! The stack's two IAM roles: the Lambda execution role (the table in both
//! regions, its own logs) and the role the identity pool gives signed-in
//! users (invoke both regions' APIs). Each has one inline policy.

use std::sync::Arc;

use aws_sdk_iam::types::Tag;
use serde_json::{Value, json};

use super::{
    STACK_TAG, auth_role_name, function_name, gone, has_stack_tag, kept, lambda_role_name,
    not_tagged, table_arn,
};
use crate::deploy::{Action, Ctx, Done, Writer, aws_error};

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

/// The role `name`, whoever owns it.
async fn lookup(ctx: &Ctx, name: &str) -> anyhow::Result<Option<aws_sdk_iam::types::Role>> {
    match ctx.clients.iam.get_role().role_name(name).send().await {
        Ok(out) => {
            Ok(Some(out.role.ok_or_else(|| {
                anyhow::anyhow!("GetRole returned no role")
            })?))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error("GetRole", e)),
    }
}

fn is_ours(ctx: &Ctx, role: &aws_sdk_iam::types::Role) -> bool {
    has_stack_tag(
        role.tags().iter().map(|t| (t.key(), Some(t.value()))),
        ctx.stack(),
    )
}

/// The role `name`, if there is one: an error when it is not the stack's.
pub async fn find(ctx: &Ctx, name: &str) -> anyhow::Result<Option<aws_sdk_iam::types::Role>> {
    match lookup(ctx, name).await? {
        Some(role) if !is_ours(ctx, &role) => Err(not_tagged("IAM role", name, ctx)),
        found => Ok(found),
    }
}

/// Ensures a role with `trust` and one inline policy `policy_name`;
/// returns its ARN (`None` only in a dry run that would create it).
async fn ensure_role(
    ctx: &Ctx,
    w: &mut Writer,
    name: &str,
    trust: Value,
    policy_name: &str,
    policy: Value,
) -> anyhow::Result<Option<String>> {
    let iam = &ctx.clients.iam;
    let arn = match find(ctx, name).await? {
        Some(role) => {
            if decode_policy(role.assume_role_policy_document().unwrap_or_default()) != trust {
                w.change("trust policy", || async {
                    iam.update_assume_role_policy()
                        .role_name(name)
                        .policy_document(trust.to_string())
                        .send()
                        .await
                        .map_err(|e| aws_error("UpdateAssumeRolePolicy", e))
                })
                .await?;
            }
            role.arn().to_owned()
        }
        None => {
            let created = w
                .create(|| async {
                    iam.create_role()
                        .role_name(name)
                        .assume_role_policy_document(trust.to_string())
                        .description(format!("wildrydes stack {}", ctx.stack()))
                        .tags(Tag::builder().key(STACK_TAG).value(ctx.stack()).build()?)
                        .send()
                        .await
                        .map_err(|e| aws_error("CreateRole", e))?
                        .role
                        .ok_or_else(|| anyhow::anyhow!("CreateRole returned no role"))
                })
                .await?;
            match created {
                Some(role) => role.arn().to_owned(),
                None => return Ok(None),
            }
        }
    };
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
        w.change("policy", || async {
            iam.put_role_policy()
                .role_name(name)
                .policy_name(policy_name)
                .policy_document(policy.to_string())
                .send()
                .await
                .map_err(|e| aws_error("PutRolePolicy", e))
        })
        .await?;
    }
    Ok(Some(arn))
}

/// Ensures the Lambda execution role.
pub async fn ensure_lambda_role(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let [p, s] = ctx.config.regions();
    let account = &ctx.account;
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Tickets", "Effect": "Allow",
         "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem"],
         "Resource": [table_arn(&ctx, p), table_arn(&ctx, s)]},
        {"Sid": "Logs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [format!("arn:aws:logs:*:{account}:log-group:/aws/lambda/{}:*", function_name(&ctx))]}
    ]});
    let name = lambda_role_name(&ctx);
    let mut w = ctx.writer();
    if let Some(arn) = ensure_role(&ctx, &mut w, &name, trust, "tickets", policy).await? {
        ctx.outputs.lambda_role_arn.set(arn);
    }
    Ok(w.finish(name))
}

/// Ensures the signed-in users' role, and that each region's pool hands
/// it out.
pub async fn ensure_auth_role(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let regions = ctx.config.regions();
    let account = &ctx.account;
    let pools: Vec<(&str, Option<String>)> = regions
        .iter()
        .map(|r| (*r, ctx.outputs.pool_id.get(r)))
        .collect();
    let api = |r: &str| -> String {
        let id = ctx
            .outputs
            .api_id
            .get(r)
            .unwrap_or_else(|| "(new api)".into());
        format!("arn:aws:execute-api:{r}:{account}:{id}/*")
    };
    let audiences: Vec<String> = pools
        .iter()
        .map(|(r, p)| p.clone().unwrap_or_else(|| format!("(new pool in {r})")))
        .collect();
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": audiences},
                      "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}}]});
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "execute-api:Invoke",
        "Resource": regions.iter().map(|r| api(r)).collect::<Vec<_>>()}]});
    let name = auth_role_name(&ctx);
    let mut w = ctx.writer();
    let arn = ensure_role(&ctx, &mut w, &name, trust, "invoke", policy).await?;
    let Some(role_arn) = arn else {
        return Ok(w.finish(name));
    };
    ctx.outputs.auth_role_arn.set(role_arn.clone());
    for (region, pool) in pools {
        let Some(pool_id) = pool else { continue };
        let cognito = &ctx.clients.region(region).cognito;
        let roles = cognito
            .get_identity_pool_roles()
            .identity_pool_id(&pool_id)
            .send()
            .await
            .map_err(|e| aws_error(&format!("GetIdentityPoolRoles in {region}"), e))?;
        let current = roles.roles().and_then(|r| r.get("authenticated")).cloned();
        if current.as_deref() != Some(role_arn.as_str()) {
            w.change(&format!("pool roles in {region}"), || {
                set_pool_roles(&ctx, region, &pool_id, &role_arn)
            })
            .await?;
        }
    }
    Ok(w.finish(name))
}

async fn set_pool_roles(
    ctx: &Ctx,
    region: &str,
    pool_id: &str,
    role_arn: &str,
) -> anyhow::Result<()> {
    ctx.clients
        .region(region)
        .cognito
        .set_identity_pool_roles()
        .identity_pool_id(pool_id)
        .roles("authenticated", role_arn)
        .send()
        .await
        .map_err(|e| aws_error(&format!("SetIdentityPoolRoles in {region}"), e))?;
    Ok(())
}

/// Deletes the role `name` with its inline and attached policies.
pub async fn remove(ctx: &Ctx, name: &str) -> anyhow::Result<Done> {
    let iam = &ctx.clients.iam;
    match lookup(ctx, name).await? {
        None => return gone(name),
        Some(role) if !is_ours(ctx, &role) => return kept(name),
        Some(_) => {}
    }
    ctx.delete(name, || async {
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
    })
    .await
}
