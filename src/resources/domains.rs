//! The API Gateway custom domains of one region: the shared API domain
//! (which the failover records point at) and the region's own
//! `<region>.api.` name (which the health check probes), each with the
//! region's certificate and a base path mapping to the API's `prod` stage.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_apigateway::operation::get_domain_name::GetDomainNameOutput;
use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, Op, PatchOperation, SecurityPolicy,
};
use serde::Serialize;

use super::{STACK_TAG, gone, kept, not_tagged, regional_api_domain, tagged};
use crate::deploy::{Action, Ctx, Done, Writer, aws_error, wait_for};

/// The two domain names in `region`: the shared one, the region's own.
fn names(ctx: &Ctx, region: &str) -> [String; 2] {
    [ctx.config.api_domain(), regional_api_domain(ctx, region)]
}

/// The custom domain `name` in `region`, whoever owns it.
async fn lookup(
    ctx: &Ctx,
    region: &str,
    name: &str,
) -> anyhow::Result<Option<GetDomainNameOutput>> {
    let apigw = &ctx.clients.region(region).apigateway;
    match apigw.get_domain_name().domain_name(name).send().await {
        Ok(d) => Ok(Some(d)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error("GetDomainName", e)),
    }
}

/// The custom domain `name` in `region`: `None` when there is none, an
/// error when it is not the stack's.
pub async fn find(
    ctx: &Ctx,
    region: &str,
    name: &str,
) -> anyhow::Result<Option<GetDomainNameOutput>> {
    match lookup(ctx, region, name).await? {
        Some(d) if !tagged(d.tags(), ctx.stack()) => Err(not_tagged("custom domain", name, ctx)),
        found => Ok(found),
    }
}

/// Ensures both custom domains in `region` and their mappings.
pub async fn ensure(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let names = names(&ctx, &region);
    let mut w = ctx.writer();
    let mut created = 0;
    for (i, name) in names.iter().enumerate() {
        let (target, new) = ensure_domain(&ctx, &mut w, &region, name).await?;
        created += usize::from(new);
        let Some(target) = target else {
            continue;
        };
        if i == 0 {
            ctx.outputs.domain_target.set(&region, target);
        } else {
            ctx.outputs.domain_own.set(&region, target);
        }
        ensure_mapping(&ctx, &mut w, &region, name).await?;
    }
    if created == names.len() {
        w.mark_created();
    }
    Ok(w.finish(names.join(", ")))
}

/// One domain with the region's certificate: its API Gateway target
/// (`None` in a dry run that would create it) and whether it is new.
async fn ensure_domain(
    ctx: &Ctx,
    w: &mut Writer,
    region: &str,
    name: &str,
) -> anyhow::Result<(Option<String>, bool)> {
    let apigw = &ctx.clients.region(region).apigateway;
    let cert = ctx.outputs.certificate_arn.get(region).unwrap_or_default();
    if let Some(d) = find(ctx, region, name).await? {
        if d.regional_certificate_arn() != Some(cert.as_str()) {
            w.change(format!("{name} certificate"), || async {
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
                    .map_err(|e| aws_error("UpdateDomainName", e))
            })
            .await?;
        }
        return Ok((
            Some(d.regional_domain_name().unwrap_or_default().to_owned()),
            false,
        ));
    }
    let target = w
        .change(format!("{name} created"), || async {
            let d = apigw
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
                .map_err(|e| aws_error("CreateDomainName", e))?;
            Ok(d.regional_domain_name.unwrap_or_default())
        })
        .await?;
    Ok((target, true))
}

/// The domain's root mapping to the API's `prod` stage.
async fn ensure_mapping(ctx: &Ctx, w: &mut Writer, region: &str, name: &str) -> anyhow::Result<()> {
    let apigw = &ctx.clients.region(region).apigateway;
    let api_id = ctx.outputs.api_id.get(region).unwrap_or_default();
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
    let right =
        root.is_some_and(|m| m.rest_api_id() == Some(api_id.as_str()) && m.stage() == Some("prod"));
    if right {
        return Ok(());
    }
    w.change(format!("{name} mapping"), || async {
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
        Ok(())
    })
    .await?;
    Ok(())
}

/// Deletes the stack's custom domains in `region` with their mappings.
pub async fn remove(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let mut doomed = Vec::new();
    let mut kept_names = Vec::new();
    for name in names(&ctx, &region) {
        match lookup(&ctx, &region, &name).await? {
            None => {}
            Some(d) if !tagged(d.tags(), ctx.stack()) => kept_names.push(name),
            Some(_) => doomed.push(name),
        }
    }
    if doomed.is_empty() {
        return if kept_names.is_empty() {
            gone("custom domains")
        } else {
            kept(kept_names.join(", "))
        };
    }
    ctx.delete(doomed.join(", "), || async {
        for name in &doomed {
            delete_domain(&ctx, &region, name).await?;
        }
        Ok(Done::new(Action::Deleted, doomed.join(", ")))
    })
    .await
}

async fn delete_domain(ctx: &Ctx, region: &str, name: &str) -> anyhow::Result<()> {
    let apigw = &ctx.clients.region(region).apigateway;
    let mappings = apigw
        .get_base_path_mappings()
        .domain_name(name)
        .send()
        .await
        .map_err(|e| aws_error("GetBasePathMappings", e))?;
    for m in mappings.items() {
        apigw
            .delete_base_path_mapping()
            .domain_name(name)
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
            match apigw.delete_domain_name().domain_name(name).send().await {
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
    .await
}

/// What `status` shows of one custom domain.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DomainState {
    pub name: String,
    pub target: Option<String>,
}

/// The custom domains present in `region` (whoever owns them), each with
/// its API Gateway target; the errors of the ones that could not be read.
pub async fn observe(ctx: &Ctx, region: &str) -> (Vec<DomainState>, Vec<(String, anyhow::Error)>) {
    let [shared, own] = names(ctx, region);
    let (a, b) = tokio::join!(lookup(ctx, region, &shared), lookup(ctx, region, &own));
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (name, result) in [(shared, a), (own, b)] {
        match result {
            Ok(Some(d)) => found.push(DomainState {
                name,
                target: d.regional_domain_name,
            }),
            Ok(None) => {}
            Err(e) => errors.push((name, e)),
        }
    }
    (found, errors)
}
