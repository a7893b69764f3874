//! The ticket REST API of one region: its resources and methods, every one
//! a Lambda proxy (CORS preflights included: the function answers them,
//! as `openapi.yaml` says), the invoke permission on the function, and the
//! `prod` stage, redeployed only when the definition changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_apigateway::operation::get_method::GetMethodOutput;
use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, IntegrationType, Op, PatchOperation, RestApi,
};
use serde::Serialize;
use serde_json::Value;

use super::{STACK_TAG, api_name, function_name, gone, kept, not_tagged, sha256_hex, tagged};
use crate::deploy::{Action, Ctx, Done, Writer, aws_error};

/// One method of the ticket API.
struct MethodSpec {
    path: &'static str,
    method: &'static str,
    auth: &'static str,
}

const METHODS: &[MethodSpec] = &[
    MethodSpec {
        path: "/tickets",
        method: "GET",
        auth: "AWS_IAM",
    },
    MethodSpec {
        path: "/tickets",
        method: "POST",
        auth: "AWS_IAM",
    },
    MethodSpec {
        path: "/tickets",
        method: "OPTIONS",
        auth: "NONE",
    },
    MethodSpec {
        path: "/tickets/{id}",
        method: "GET",
        auth: "AWS_IAM",
    },
    MethodSpec {
        path: "/tickets/{id}",
        method: "OPTIONS",
        auth: "NONE",
    },
    MethodSpec {
        path: "/health",
        method: "GET",
        auth: "NONE",
    },
    MethodSpec {
        path: "/health",
        method: "OPTIONS",
        auth: "NONE",
    },
];

/// Every REST API named like the stack's in `region`, whoever owns it,
/// all pages read.
async fn named(ctx: &Ctx, region: &str) -> anyhow::Result<Vec<RestApi>> {
    let apigw = &ctx.clients.region(region).apigateway;
    let name = api_name(ctx);
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
                .filter(|a| a.name() == Some(name.as_str()))
                .cloned(),
        );
        position = page.position().map(str::to_owned);
        if position.is_none() || page.items().is_empty() {
            return Ok(out);
        }
    }
}

/// The stack's REST API in `region`: `None` when there is none, an error
/// when the one of its name is not the stack's or there are several.
pub async fn find(ctx: &Ctx, region: &str) -> anyhow::Result<Option<RestApi>> {
    let mut found = named(ctx, region).await?;
    match found.len() {
        0 => Ok(None),
        1 if tagged(found[0].tags(), ctx.stack()) => Ok(found.pop()),
        1 => Err(not_tagged("REST API", &api_name(ctx), ctx)),
        n => anyhow::bail!(
            "{n} REST APIs are named {} in {region}; remove the extra ones",
            api_name(ctx)
        ),
    }
}

/// Ensures the REST API in `region`, everything in it, the permission to
/// invoke the function and a `prod` deployment of the current definition.
pub async fn ensure(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let apigw = &ctx.clients.region(&region).apigateway;
    let name = api_name(&ctx);
    let mut w = ctx.writer();
    let api_id = match find(&ctx, &region).await? {
        Some(api) => api.id().unwrap_or_default().to_owned(),
        None => {
            let created = w
                .create(|| async {
                    let api = apigw
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
                        .map_err(|e| aws_error("CreateRestApi", e))?;
                    Ok(api.id.unwrap_or_default())
                })
                .await?;
            match created {
                Some(id) => id,
                None => return Ok(w.finish(name)),
            }
        }
    };
    ctx.outputs.api_id.set(&region, &api_id);
    let api = Api {
        ctx: &ctx,
        region: &region,
        id: &api_id,
        uri: format!(
            "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{}/invocations",
            ctx.outputs.function_arn.get(&region).unwrap_or_default()
        ),
    };
    let ids = api.ensure_resources(&mut w).await?;
    for m in METHODS {
        match ids.get(m.path) {
            Some(resource) => api.ensure_method(&mut w, m, resource).await?,
            // Only in a dry run: the resource is still to come.
            None => w.note(format!("{} {}", m.method, m.path)),
        }
    }
    api.ensure_permission(&mut w).await?;
    api.ensure_deployment(&mut w).await?;
    Ok(w.finish(&api_id))
}

/// One REST API being ensured: where it is and what it points at.
struct Api<'a> {
    ctx: &'a Ctx,
    region: &'a str,
    id: &'a str,
    /// The Lambda proxy integration's URI.
    uri: String,
}

impl Api<'_> {
    fn client(&self) -> &aws_sdk_apigateway::Client {
        &self.ctx.clients.region(self.region).apigateway
    }

    /// The API's resources by path, the missing ones created.
    async fn ensure_resources(&self, w: &mut Writer) -> anyhow::Result<BTreeMap<String, String>> {
        let apigw = self.client();
        let resources = apigw
            .get_resources()
            .rest_api_id(self.id)
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
            let (parent, part) = path.rsplit_once('/').unwrap_or(("", path));
            let parent_id = ids
                .get(if parent.is_empty() { "/" } else { parent })
                .cloned();
            let created = w
                .change(format!("resource {path}"), || async {
                    let parent_id = parent_id.ok_or_else(|| {
                        anyhow::anyhow!("API {} has no resource {parent}", self.id)
                    })?;
                    let created = apigw
                        .create_resource()
                        .rest_api_id(self.id)
                        .parent_id(parent_id)
                        .path_part(part)
                        .send()
                        .await
                        .map_err(|e| aws_error("CreateResource", e))?;
                    Ok(created.id.unwrap_or_default())
                })
                .await?;
            if let Some(id) = created {
                ids.insert(path.to_owned(), id);
            }
        }
        Ok(ids)
    }

    /// Whether the method as it is matches `m`: (method, integration).
    fn method_matches(&self, m: &MethodSpec, current: Option<&GetMethodOutput>) -> (bool, bool) {
        let method_ok = current.is_some_and(|c| c.authorization_type() == Some(m.auth));
        let integration_ok = current
            .and_then(|c| c.method_integration())
            .is_some_and(|i| {
                i.r#type() == Some(&IntegrationType::AwsProxy) && i.uri() == Some(self.uri.as_str())
            });
        (method_ok, integration_ok)
    }

    /// One method and its integration.
    async fn ensure_method(
        &self,
        w: &mut Writer,
        m: &MethodSpec,
        resource: &str,
    ) -> anyhow::Result<()> {
        let apigw = self.client();
        let current = match apigw
            .get_method()
            .rest_api_id(self.id)
            .resource_id(resource)
            .http_method(m.method)
            .send()
            .await
        {
            Ok(c) => Some(c),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(aws_error("GetMethod", e)),
        };
        let (method_ok, integration_ok) = self.method_matches(m, current.as_ref());
        if method_ok && integration_ok {
            return Ok(());
        }
        // A method with the wrong authorization is recreated whole; an
        // older stack's CORS mock keeps its method and gets the proxy.
        let recreate = current.is_some() && !method_ok;
        w.change(format!("{} {}", m.method, m.path), || async {
            if recreate {
                apigw
                    .delete_method()
                    .rest_api_id(self.id)
                    .resource_id(resource)
                    .http_method(m.method)
                    .send()
                    .await
                    .map_err(|e| aws_error("DeleteMethod", e))?;
            }
            if recreate || current.is_none() {
                apigw
                    .put_method()
                    .rest_api_id(self.id)
                    .resource_id(resource)
                    .http_method(m.method)
                    .authorization_type(m.auth)
                    .send()
                    .await
                    .map_err(|e| aws_error("PutMethod", e))?;
            }
            apigw
                .put_integration()
                .rest_api_id(self.id)
                .resource_id(resource)
                .http_method(m.method)
                .r#type(IntegrationType::AwsProxy)
                .integration_http_method("POST")
                .uri(&self.uri)
                .send()
                .await
                .map_err(|e| aws_error("PutIntegration", e))?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// API Gateway may invoke the function, from this API only.
    async fn ensure_permission(&self, w: &mut Writer) -> anyhow::Result<()> {
        let ctx = self.ctx;
        let source_arn = format!(
            "arn:aws:execute-api:{}:{}:{}/*",
            self.region, ctx.account, self.id
        );
        let statement_id = format!("apigateway-{}", self.id);
        let lambda = &ctx.clients.region(self.region).lambda;
        let policy = match lambda
            .get_policy()
            .function_name(function_name(ctx))
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
            w.change("invoke permission", || async {
                lambda
                    .add_permission()
                    .function_name(function_name(ctx))
                    .statement_id(&statement_id)
                    .action("lambda:InvokeFunction")
                    .principal("apigateway.amazonaws.com")
                    .source_arn(&source_arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("AddPermission", e))
            })
            .await?;
        }
        Ok(())
    }

    /// A new deployment only when the API's definition changed (or
    /// anything above did).
    async fn ensure_deployment(&self, w: &mut Writer) -> anyhow::Result<()> {
        let apigw = self.client();
        let spec = sha256_hex(
            format!(
                "{}|{}",
                self.uri,
                METHODS
                    .iter()
                    .map(|m| format!("{} {} {} AWS_PROXY", m.method, m.path, m.auth))
                    .collect::<Vec<_>>()
                    .join(",")
            )
            .as_bytes(),
        );
        let spec = &spec[..16];
        let stage = match apigw
            .get_stage()
            .rest_api_id(self.id)
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
        if deployed_spec.as_deref() == Some(spec) && !w.wrote() {
            return Ok(());
        }
        w.change("deployment", || async {
            let deployment = apigw
                .create_deployment()
                .rest_api_id(self.id)
                .description(format!("wildrydes up, spec {spec}"))
                .send()
                .await
                .map_err(|e| aws_error("CreateDeployment", e))?
                .id
                .unwrap_or_default();
            if stage.is_some() {
                let replace = |path: &str, value: &str| {
                    PatchOperation::builder()
                        .op(Op::Replace)
                        .path(path)
                        .value(value)
                        .build()
                };
                apigw
                    .update_stage()
                    .rest_api_id(self.id)
                    .stage_name("prod")
                    .patch_operations(replace("/deploymentId", &deployment))
                    .patch_operations(replace("/variables/wildrydes_spec", spec))
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateStage", e))?;
            } else {
                apigw
                    .create_stage()
                    .rest_api_id(self.id)
                    .stage_name("prod")
                    .deployment_id(&deployment)
                    .variables("wildrydes_spec", spec)
                    .tags(STACK_TAG, self.ctx.stack())
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateStage", e))?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}

/// Deletes the stack's REST APIs in `region` (every one of its name that
/// carries the stack's tag).
pub async fn remove(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let apigw = &ctx.clients.region(&region).apigateway;
    let name = api_name(&ctx);
    let found = named(&ctx, &region).await?;
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
    ctx.delete(mine.join(", "), || async {
        for id in &mine {
            apigw
                .delete_rest_api()
                .rest_api_id(id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteRestApi", e))?;
        }
        Ok(Done::new(Action::Deleted, mine.join(", ")))
    })
    .await
}

/// What `status` shows of one region's API.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiState {
    pub id: String,
    pub stage_deployment: Option<String>,
}

/// The stack's API in `region` and the deployment its `prod` stage serves.
pub async fn observe(ctx: &Ctx, region: &str) -> anyhow::Result<Option<ApiState>> {
    let Some(api) = named(ctx, region)
        .await?
        .into_iter()
        .find(|a| tagged(a.tags(), ctx.stack()))
    else {
        return Ok(None);
    };
    let id = api.id().unwrap_or_default().to_owned();
    let stage = ctx
        .clients
        .region(region)
        .apigateway
        .get_stage()
        .rest_api_id(&id)
        .stage_name("prod")
        .send()
        .await;
    Ok(Some(ApiState {
        id,
        stage_deployment: stage.ok().and_then(|s| s.deployment_id),
    }))
}
