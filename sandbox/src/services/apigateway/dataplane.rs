//! The API Gateway data plane: deployed stages serve at
//! `/restapis/<api>/<stage>/_user_request_/<path>` and, for custom domain
//! names, by `Host`. Requests become REST (v1) proxy events for Lambda;
//! AWS_IAM methods verify SigV4 (`execute-api`) and the caller's
//! `execute-api:Invoke` permission; failures answer as API Gateway does
//! (AWS-BEHAVIOUR §3: 403 for unknown routes, 500 when Lambda refuses the
//! invoke, 502 for function errors and malformed output, 504 at the
//! integration timeout).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use rand::Rng;
use serde_json::{Value, json};

use super::{ApiGateway, Resource};
use crate::authz::Need;
use crate::credentials::{ACCOUNT_ID, Principal};
use crate::door::{Policies, Refusal};
use crate::services::lambda::runtime::Outcome;
use crate::services::lambda::{InvokeError, Lambda, percent_decode};
use crate::sigv4::AuthFailure;

/// An `x-amz-apigw-id` value, shaped like AWS's.
pub fn apigw_id() -> String {
    let bytes: [u8; 11] = rand::rng().random();
    STANDARD.encode(bytes)
}

/// The function name in an AWS_PROXY integration URI.
pub fn lambda_of_uri(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once(":lambda:path/2015-03-31/functions/")?;
    let arn = rest.strip_suffix("/invocations")?;
    let name = arn.split_once(":function:").map_or(arn, |(_, n)| n);
    Some(name.split(':').next().unwrap_or(name).to_owned())
}

fn gateway_error(status: StatusCode, code: &str, body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "x-amzn-ErrorType",
        HeaderValue::from_str(code).expect("ASCII"),
    );
    resp
}

/// The 403 API Gateway gives for an unknown route or an unsigned call.
fn missing_token(headers: &HeaderMap) -> Response {
    if let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && !auth.starts_with("AWS4-HMAC-SHA256 ")
    {
        let token = auth.split_whitespace().last().unwrap_or(auth);
        let message = format!(
            "'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{auth}'."
        );
        return gateway_error(
            StatusCode::FORBIDDEN,
            "IncompleteSignatureException",
            json!({"message": message}).to_string(),
        );
    }
    gateway_error(
        StatusCode::FORBIDDEN,
        "MissingAuthenticationTokenException",
        r#"{"message":"Missing Authentication Token"}"#.into(),
    )
}

fn internal_error() -> Response {
    gateway_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerErrorException",
        r#"{"message": "Internal server error"}"#.into(),
    )
}

fn bad_gateway() -> Response {
    gateway_error(
        StatusCode::BAD_GATEWAY,
        "InternalServerErrorException",
        r#"{"message": "Internal server error"}"#.into(),
    )
}

/// Where a request landed: which API, stage and path.
struct Target {
    api: String,
    stage: String,
    path: String,
    /// The domain the caller used, for `requestContext.domainName`.
    domain: String,
}

/// Matches a request path against a resource path template; a higher score
/// is a more specific match (literal over `{param}` over `{proxy+}`).
fn match_template(template: &str, path: &str) -> Option<(u32, BTreeMap<String, String>)> {
    let t: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut params = BTreeMap::new();
    let mut score = 0u32;
    for (i, part) in t.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            if p.len() <= i {
                return None;
            }
            params.insert(
                name.to_owned(),
                p[i..]
                    .iter()
                    .map(|s| percent_decode(s))
                    .collect::<Vec<_>>()
                    .join("/"),
            );
            return Some((score, params));
        }
        let seg = p.get(i)?;
        if let Some(name) = part.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            params.insert(name.to_owned(), percent_decode(seg));
            score += 1;
        } else if part == seg {
            score += 2;
        } else {
            return None;
        }
    }
    (t.len() == p.len()).then_some((score + 1000, params))
}

impl ApiGateway {
    fn locate(&self, path: &str, headers: &HeaderMap) -> Option<Target> {
        if let Some(rest) = path.strip_prefix("/restapis/") {
            let mut parts = rest.splitn(4, '/');
            let (api, stage, marker) = (parts.next()?, parts.next()?, parts.next()?);
            if marker != "_user_request_" {
                return None;
            }
            let host = headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            return Some(Target {
                api: api.to_owned(),
                stage: stage.to_owned(),
                path: format!("/{}", parts.next().unwrap_or("")),
                domain: host.split(':').next().unwrap_or(host).to_owned(),
            });
        }
        // Through the edge proxy, `Host` stays the browser's (its SigV4
        // signature covers it) and the custom domain comes alongside.
        let host = headers
            .get(crate::edge::EDGE_HOST_HEADER)
            .or_else(|| headers.get(http::header::HOST))?
            .to_str()
            .ok()?;
        let host = host
            .split(':')
            .next()
            .unwrap_or(host)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let state = self.state.lock();
        let domain = state.domains.get(&host)?;
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let (base, (api, stage)) = domain
            .mappings
            .get_key_value(first)
            .filter(|(b, _)| !b.is_empty())
            .or_else(|| domain.mappings.get_key_value(""))?;
        let rest = if base.is_empty() {
            path.to_owned()
        } else {
            path.trim_start_matches('/')[base.len()..].to_owned()
        };
        Some(Target {
            api: api.clone(),
            stage: stage.clone(),
            path: if rest.is_empty() { "/".into() } else { rest },
            domain: host,
        })
    }

    /// Serves a data-plane request, or `None` when the request is not for
    /// a deployed stage or custom domain of this region.
    #[allow(clippy::too_many_arguments)]
    pub async fn serve(
        &self,
        lambda: &Lambda,
        policies: &dyn Policies,
        method: &Method,
        path: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Option<Response> {
        let target = self.locate(path, headers)?;
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut resp = self
            .dispatch(
                lambda,
                policies,
                &target,
                method,
                path_and_query,
                headers,
                body,
                &request_id,
            )
            .await;
        let h = resp.headers_mut();
        h.insert(
            "x-amzn-RequestId",
            HeaderValue::from_str(&request_id).expect("uuid"),
        );
        h.insert(
            "x-amz-apigw-id",
            HeaderValue::from_str(&apigw_id()).expect("base64"),
        );
        h.insert(
            http::header::DATE,
            HeaderValue::from_str(&crate::wire::http_date()).expect("date"),
        );
        Some(resp)
    }

    #[allow(clippy::too_many_arguments)]
    async fn dispatch(
        &self,
        lambda: &Lambda,
        policies: &dyn Policies,
        target: &Target,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
        request_id: &str,
    ) -> Response {
        // The deployed snapshot of the API's resources for this stage.
        let (resource, auth, integration, params) = {
            let state = self.state.lock();
            let Some(api) = state.apis.get(&target.api) else {
                return missing_token(headers);
            };
            let Some(stage) = api.stages.get(&target.stage) else {
                return missing_token(headers);
            };
            let Some((_, _, resources)) = api.deployments.get(&stage.deployment_id) else {
                return missing_token(headers);
            };
            let Some((res, params)) = best_match(resources, &target.path) else {
                return missing_token(headers);
            };
            let Some(def) = res
                .methods
                .get(method.as_str())
                .or_else(|| res.methods.get("ANY"))
            else {
                return missing_token(headers);
            };
            (
                res.clone(),
                def.authorization_type.clone(),
                def.integration.clone(),
                params,
            )
        };
        let method_arn = format!(
            "arn:aws:execute-api:{}:{ACCOUNT_ID}:{}/{}/{}{}",
            self.region, target.api, target.stage, method, target.path
        );
        let mut principal = None;
        if auth == "AWS_IAM" {
            let verified = crate::door::authenticate(
                crate::door::EXECUTE_API,
                &[self.region.as_str()],
                method,
                path_and_query,
                headers,
                &body,
                &self.secrets,
            );
            match verified {
                Ok(v) => principal = Some(v.principal),
                Err(AuthFailure::Missing) => return missing_token(headers),
                Err(f) => return execute_api_auth_error(&f),
            }
            let allowed = match principal.as_ref().expect("set above") {
                Principal::Operator => true,
                Principal::ReplicationService => false,
                caller @ Principal::AssumedRole { .. } => {
                    let need = Need::new("execute-api:Invoke", method_arn.clone());
                    let ctx = crate::authz::request_context(caller, &self.region);
                    match policies.authorize(caller, &[need], &ctx).await {
                        Ok(()) => true,
                        Err(Refusal::Denied(_)) => false,
                        Err(Refusal::Unavailable(why)) => {
                            tracing::warn!("{why}");
                            return internal_error();
                        }
                    }
                }
            };
            if !allowed {
                let who = principal.as_ref().map(Principal::arn).unwrap_or_default();
                let message = format!(
                    "User: {who} is not authorized to perform: execute-api:Invoke on resource: {method_arn}"
                );
                return gateway_error(
                    StatusCode::FORBIDDEN,
                    "AccessDeniedException",
                    json!({"Message": message}).to_string(),
                );
            }
        }
        let Some(integration) = integration else {
            return internal_error();
        };
        match integration["type"].as_str() {
            Some("MOCK") => mock_response(&self.state.lock(), target, &resource, method),
            Some("AWS_PROXY") => {
                let Some(function) = integration["uri"].as_str().and_then(lambda_of_uri) else {
                    return internal_error();
                };
                let source_arn = method_arn.clone();
                if !lambda.allows(&function, "apigateway.amazonaws.com", &source_arn) {
                    tracing::warn!(%function, "Execution failed due to configuration error: Invalid permissions on Lambda function");
                    return internal_error();
                }
                let event = proxy_event(
                    target,
                    &resource,
                    method,
                    path_and_query,
                    headers,
                    &body,
                    params,
                    principal.as_ref(),
                    request_id,
                );
                let timeout = Duration::from_millis(
                    integration["timeoutInMillis"].as_u64().unwrap_or(29_000),
                );
                match tokio::time::timeout(
                    timeout,
                    lambda.invoke(&function, Bytes::from(event.to_string())),
                )
                .await
                {
                    Err(_) => gateway_error(
                        StatusCode::GATEWAY_TIMEOUT,
                        "InternalServerErrorException",
                        r#"{"message": "Endpoint request timed out"}"#.into(),
                    ),
                    Ok(Err(InvokeError::NotFound | InvokeError::Throttled | InvokeError::Busy)) => {
                        internal_error()
                    }
                    Ok(Ok((_, Outcome::Response(payload)))) => {
                        proxy_response(&payload).unwrap_or_else(bad_gateway)
                    }
                    Ok(Ok(_)) => bad_gateway(),
                }
            }
            _ => internal_error(),
        }
    }
}

fn best_match<'a>(
    resources: &'a BTreeMap<String, Resource>,
    path: &str,
) -> Option<(&'a Resource, BTreeMap<String, String>)> {
    resources
        .values()
        .filter_map(|r| match_template(&r.path, path).map(|(score, params)| (score, r, params)))
        .max_by_key(|(score, _, _)| *score)
        .map(|(_, r, p)| (r, p))
}

fn execute_api_auth_error(f: &AuthFailure) -> Response {
    let code = f.exception_code();
    gateway_error(
        StatusCode::FORBIDDEN,
        code,
        json!({"message": f.message()}).to_string(),
    )
}

fn mock_response(
    state: &super::State,
    target: &Target,
    resource: &Resource,
    method: &Method,
) -> Response {
    let def = state
        .apis
        .get(&target.api)
        .and_then(|a| {
            a.stages
                .get(&target.stage)
                .and_then(|s| a.deployments.get(&s.deployment_id))
        })
        .and_then(|(_, _, rs)| rs.get(&resource.id))
        .and_then(|r| r.methods.get(method.as_str()).cloned());
    let Some(def) = def else {
        return internal_error();
    };
    // The default integration response (no selection pattern) decides.
    let chosen = def
        .integration_responses
        .values()
        .find(|r| r["selectionPattern"].as_str().is_none_or(str::is_empty))
        .cloned()
        .unwrap_or_else(|| json!({"statusCode": "200"}));
    let status = chosen["statusCode"]
        .as_str()
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(200);
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(params) = chosen["responseParameters"].as_object() {
        for (k, v) in params {
            let Some(name) = k.strip_prefix("method.response.header.") else {
                continue;
            };
            let value = v.as_str().unwrap_or_default().trim_matches('\'');
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                resp.headers_mut().insert(n, v);
            }
        }
    }
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[allow(clippy::too_many_arguments)]
fn proxy_event(
    target: &Target,
    resource: &Resource,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    params: BTreeMap<String, String>,
    principal: Option<&Principal>,
    request_id: &str,
) -> Value {
    let mut single = serde_json::Map::new();
    let mut multi: serde_json::Map<String, Value> = serde_json::Map::new();
    for (name, value) in headers {
        let value = value.to_str().unwrap_or_default().to_owned();
        // API Gateway keeps the header names as the client sent them; the
        // HTTP stack here lowercases them, which Lambda handlers accept.
        single.insert(name.as_str().to_owned(), json!(value));
        multi
            .entry(name.as_str().to_owned())
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!(value));
    }
    let query = path_and_query.split_once('?').map(|(_, q)| q).unwrap_or("");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let mut q_single = serde_json::Map::new();
    let mut q_multi: serde_json::Map<String, Value> = serde_json::Map::new();
    for (k, v) in pairs {
        q_single.insert(k.clone(), json!(v));
        q_multi
            .entry(k)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!(v));
    }
    let (body_value, base64) = if body.is_empty() {
        (Value::Null, false)
    } else {
        match std::str::from_utf8(body) {
            Ok(text) => (json!(text), false),
            Err(_) => (json!(STANDARD.encode(body)), true),
        }
    };
    let (cognito_id, cognito_pool, auth_type, auth_provider, user_arn, caller, access_key) =
        match principal {
            Some(Principal::AssumedRole {
                role_arn,
                session_name,
                cognito,
            }) => {
                let role = role_arn.rsplit('/').next().unwrap_or_default();
                (
                    cognito.as_ref().map(|c| c.identity_id.clone()),
                    cognito.as_ref().map(|c| c.pool_id.clone()),
                    cognito.as_ref().map(|c| {
                        if c.authenticated {
                            "authenticated"
                        } else {
                            "unauthenticated"
                        }
                        .to_owned()
                    }),
                    cognito.as_ref().and_then(|c| c.provider.clone()),
                    Some(format!(
                        "arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session_name}"
                    )),
                    Some(format!("AROA{}:{session_name}", role.len())),
                    None::<String>,
                )
            }
            Some(p) => (None, None, None, None, Some(p.arn()), Some(p.arn()), None),
            None => (None, None, None, None, None, None, None),
        };
    let now = time::OffsetDateTime::now_utc();
    json!({
        "resource": resource.path,
        "path": target.path,
        "httpMethod": method.as_str(),
        "headers": if single.is_empty() { Value::Null } else { Value::Object(single) },
        "multiValueHeaders": if multi.is_empty() { Value::Null } else { Value::Object(multi) },
        "queryStringParameters": if q_single.is_empty() { Value::Null } else { Value::Object(q_single) },
        "multiValueQueryStringParameters": if q_multi.is_empty() { Value::Null } else { Value::Object(q_multi) },
        "pathParameters": if params.is_empty() { Value::Null } else { json!(params) },
        "stageVariables": Value::Null,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": target.api,
            "resourceId": resource.id,
            "resourcePath": resource.path,
            "httpMethod": method.as_str(),
            "stage": target.stage,
            "requestId": request_id,
            "extendedRequestId": apigw_id(),
            "requestTime": now.format(time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000")).unwrap_or_default(),
            "requestTimeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
            "path": format!("/{}{}", target.stage, target.path),
            "protocol": "HTTP/1.1",
            "domainName": target.domain,
            "domainPrefix": target.domain.split('.').next().unwrap_or_default(),
            "identity": {
                "accessKey": access_key,
                "accountId": principal.map(|_| ACCOUNT_ID),
                "caller": caller,
                "cognitoAuthenticationProvider": auth_provider,
                "cognitoAuthenticationType": auth_type,
                "cognitoIdentityId": cognito_id,
                "cognitoIdentityPoolId": cognito_pool,
                "principalOrgId": Value::Null,
                "sourceIp": "127.0.0.1",
                "user": principal.map(|_| "sandbox"),
                "userAgent": headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()),
                "userArn": user_arn,
            },
        },
        "body": body_value,
        "isBase64Encoded": base64,
    })
}

/// A Lambda proxy response as an HTTP response; `None` when malformed.
fn proxy_response(payload: &[u8]) -> Option<Response> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let status = v
        .get("statusCode")?
        .as_u64()
        .filter(|s| (100..=599).contains(s))?;
    let body = match &v["body"] {
        Value::Null => Vec::new(),
        Value::String(s) if v["isBase64Encoded"] == true => STANDARD.decode(s).ok()?,
        Value::String(s) => s.clone().into_bytes(),
        _ => return None,
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status as u16).ok()?;
    let h = resp.headers_mut();
    match &v["headers"] {
        Value::Null => {}
        Value::Object(m) => {
            for (k, val) in m {
                let text = match val {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                h.insert(
                    HeaderName::from_bytes(k.as_bytes()).ok()?,
                    HeaderValue::from_str(&text).ok()?,
                );
            }
        }
        _ => return None,
    }
    match &v["multiValueHeaders"] {
        Value::Null => {}
        Value::Object(m) => {
            for (k, vals) in m {
                let name = HeaderName::from_bytes(k.as_bytes()).ok()?;
                h.remove(&name);
                for val in vals.as_array()? {
                    h.append(name.clone(), HeaderValue::from_str(val.as_str()?).ok()?);
                }
            }
        }
        _ => return None,
    }
    if !h.contains_key(http::header::CONTENT_TYPE) {
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let trace = format!(
        "Root=1-{:08x}-{}",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    );
    h.insert("x-amzn-trace-id", HeaderValue::from_str(&trace).ok()?);
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_prefer_literals_then_params_then_greedy() {
        assert!(match_template("/tickets", "/tickets").is_some());
        let (_, p) = match_template("/tickets/{id}", "/tickets/01H%2FX").unwrap();
        assert_eq!(p["id"], "01H/X");
        let (_, p) = match_template("/{proxy+}", "/a/b/c").unwrap();
        assert_eq!(p["proxy"], "a/b/c");
        assert!(match_template("/tickets/{id}", "/tickets").is_none());
        assert!(match_template("/", "/").is_some());
        let literal = match_template("/tickets/new", "/tickets/new").unwrap().0;
        let param = match_template("/tickets/{id}", "/tickets/new").unwrap().0;
        let greedy = match_template("/{proxy+}", "/tickets/new").unwrap().0;
        assert!(literal > param && param > greedy);
    }

    #[test]
    fn proxy_output_must_be_well_formed() {
        assert!(
            proxy_response(br#"{"statusCode":201,"headers":{"x-a":"1"},"body":"{}"}"#).is_some()
        );
        assert!(proxy_response(br#"{"statusCode":"201"}"#).is_none());
        assert!(proxy_response(br#"{"statusCode":200,"multiValueHeaders":{"a":"b"}}"#).is_none());
        assert!(proxy_response(b"not json").is_none());
        assert!(proxy_response(br#"{"statusCode":99}"#).is_none());
        assert_eq!(
            lambda_of_uri("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:000000000000:function:tickets/invocations").as_deref(),
            Some("tickets")
        );
    }
}
