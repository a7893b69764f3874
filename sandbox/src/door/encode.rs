//! One encoder per AWS protocol: success and error responses, and the
//! SigV4 failures, in each protocol's shape (AWS-BEHAVIOUR.md §1, §2).
//! The only place that knows envelopes, content types, request-id
//! headers and which status each protocol gives an auth failure.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use super::error::Kind;
use super::{QueryEnvelope, Reply, ServiceError};
use crate::sigv4::AuthFailure;
use crate::wire::{http_date, request_id, xml_escape};

const JSON_10: &str = "application/x-amz-json-1.0";
const JSON_11: &str = "application/x-amz-json-1.1";
const JSON: &str = "application/json";

/// A wire protocol, with the few details in which services that share it
/// differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// awsJson1_0 (DynamoDB): namespaced `__type`, `x-amz-crc32`.
    AwsJson10,
    /// awsJson1_1 (ACM, Cognito Identity): short `__type`; ACM answers
    /// auth failures with 400, Cognito with 403.
    AwsJson11 { auth_status: StatusCode },
    /// restJson1 as Lambda speaks it: `x-amzn-ErrorType`, body `Type` and
    /// `Message` (404) or `message`.
    LambdaJson,
    /// restJson1 as API Gateway speaks it: `x-amzn-ErrorType`,
    /// `x-amz-apigw-id`, body `message`.
    ApiGatewayJson,
    /// restXml with `ErrorResponse` (Route 53, CloudFront).
    RestXml { namespace: &'static str },
    /// restXml without error wrapping (S3): root `<Error>`.
    S3Xml,
    /// awsQuery (IAM, STS): `ErrorResponse` without an XML declaration.
    Query { namespace: &'static str },
}

fn base(
    status: StatusCode,
    content_type: Option<&str>,
    id_header: &'static str,
    id: &str,
    body: impl Into<Body>,
) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Some(ct) = content_type {
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_str(ct).unwrap_or(HeaderValue::from_static(JSON)),
        );
    }
    h.insert(
        http::header::DATE,
        HeaderValue::from_str(&http_date()).expect("dates are ASCII"),
    );
    h.insert(
        id_header,
        HeaderValue::from_str(id).expect("uuids are ASCII"),
    );
    resp
}

fn insert(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// `<ErrorResponse>` as Route 53, CloudFront, IAM and STS send it.
fn error_response(namespace: &str, declaration: bool, e: &ServiceError, id: &str) -> String {
    let kind = if e.status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        "{}<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>",
        if declaration {
            "<?xml version=\"1.0\"?>\n"
        } else {
            ""
        },
        xml_escape(&e.code),
        xml_escape(&e.message),
    )
}

/// An awsQuery result in its `<ActionResponse>` envelope.
fn query_envelope(namespace: &str, envelope: &QueryEnvelope, result: &[u8], id: &str) -> String {
    let action = &envelope.action;
    let result = if envelope.result {
        format!(
            "<{action}Result>{}</{action}Result>",
            String::from_utf8_lossy(result)
        )
    } else {
        String::new()
    };
    format!(
        "<{action}Response xmlns=\"{namespace}\">{result}<ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></{action}Response>"
    )
}

/// The awsQuery / restXml codes for SigV4 failures.
fn xml_auth_code(failure: &AuthFailure) -> &'static str {
    match failure {
        AuthFailure::Missing => "MissingAuthenticationToken",
        AuthFailure::Incomplete(_) => "IncompleteSignature",
        AuthFailure::UnknownKey => "InvalidClientTokenId",
        AuthFailure::ExpiredToken => "ExpiredToken",
        AuthFailure::BadSignature
        | AuthFailure::Skew(_)
        | AuthFailure::WrongScope(_)
        | AuthFailure::BodyHash => "SignatureDoesNotMatch",
    }
}

impl Protocol {
    /// Encodes a successful reply.
    pub fn reply(&self, reply: Reply) -> Response {
        let id = request_id();
        let default_type = match self {
            Protocol::AwsJson10 => Some(JSON_10),
            Protocol::AwsJson11 { .. } => Some(JSON_11),
            Protocol::LambdaJson | Protocol::ApiGatewayJson => Some(JSON),
            Protocol::RestXml { .. } | Protocol::Query { .. } => Some("text/xml"),
            // S3 sends no content type with an empty body.
            Protocol::S3Xml => (!reply.body.is_empty()).then_some("application/xml"),
        };
        let content_type = reply.content_type.as_deref().or(default_type);
        let body = match (self, &reply.envelope) {
            (Protocol::Query { namespace }, Some(envelope)) => {
                query_envelope(namespace, envelope, &reply.body, &id).into()
            }
            _ => reply.body,
        };
        let crc = (*self == Protocol::AwsJson10).then(|| crc32fast::hash(&body));
        let mut resp = base(reply.status, content_type, self.id_header(), &id, body);
        if let Some(crc) = crc {
            insert(&mut resp, "x-amz-crc32", &crc.to_string());
        }
        if *self == Protocol::S3Xml {
            resp.headers_mut()
                .insert("x-amz-id-2", HeaderValue::from_static("sandbox"));
        }
        for (name, value) in reply.headers {
            resp.headers_mut().insert(name, value);
        }
        resp
    }

    fn id_header(&self) -> &'static str {
        match self {
            Protocol::AwsJson10 => "x-amzn-requestid",
            Protocol::S3Xml => "x-amz-request-id",
            _ => "x-amzn-RequestId",
        }
    }

    /// Encodes an error.
    pub fn error(&self, e: &ServiceError) -> Response {
        let id = request_id();
        let (content_type, body) = match self {
            Protocol::AwsJson10 | Protocol::AwsJson11 { .. } => (
                if *self == Protocol::AwsJson10 {
                    JSON_10
                } else {
                    JSON_11
                },
                if e.kind == Kind::Denied {
                    json!({"__type": e.code, "Message": e.message}).to_string()
                } else {
                    json!({"__type": e.code, "message": e.message}).to_string()
                },
            ),
            Protocol::LambdaJson | Protocol::ApiGatewayJson if e.kind == Kind::Denied => {
                (JSON, json!({"Message": e.message}).to_string())
            }
            Protocol::LambdaJson => {
                let mut body = Map::new();
                if e.kind == Kind::Auth {
                    body.insert("message".into(), json!(e.message));
                } else {
                    body.insert("Type".into(), json!("User"));
                    // AWS spells the key `Message` for 404s, `message` for most others.
                    let key = if e.status == StatusCode::NOT_FOUND {
                        "Message"
                    } else {
                        "message"
                    };
                    body.insert(key.into(), json!(e.message));
                }
                for (k, v) in &e.fields {
                    body.insert(k.clone(), json!(v));
                }
                (JSON, Value::Object(body).to_string())
            }
            Protocol::ApiGatewayJson => (JSON, json!({"message": e.message}).to_string()),
            Protocol::RestXml { namespace } => {
                ("text/xml", error_response(namespace, true, e, &id))
            }
            Protocol::Query { namespace } => ("text/xml", error_response(namespace, false, e, &id)),
            Protocol::S3Xml => {
                let extra: String = e
                    .fields
                    .iter()
                    .map(|(k, v)| format!("<{k}>{}</{k}>", xml_escape(v)))
                    .collect();
                (
                    "application/xml",
                    format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>{extra}<RequestId>{id}</RequestId><HostId>{id}</HostId></Error>",
                        e.code,
                        xml_escape(&e.message)
                    ),
                )
            }
        };
        let crc = (*self == Protocol::AwsJson10).then(|| crc32fast::hash(body.as_bytes()));
        let mut resp = base(e.status, Some(content_type), self.id_header(), &id, body);
        match self {
            Protocol::AwsJson10 => insert(
                &mut resp,
                "x-amz-crc32",
                &crc.unwrap_or_default().to_string(),
            ),
            Protocol::LambdaJson => insert(&mut resp, "x-amzn-ErrorType", &e.code),
            Protocol::ApiGatewayJson => {
                insert(&mut resp, "x-amzn-ErrorType", &e.code);
                insert(
                    &mut resp,
                    "x-amz-apigw-id",
                    &crate::services::apigateway::dataplane::apigw_id(),
                );
            }
            Protocol::S3Xml => {
                resp.headers_mut()
                    .insert("x-amz-id-2", HeaderValue::from_static("sandbox"));
            }
            _ => {}
        }
        resp
    }

    /// IAM's refusal as this protocol reports it: AccessDeniedException
    /// (400 for the awsJson services, 403 for the REST ones) or
    /// AccessDenied (403) for the XML ones.
    pub fn access_denied(&self, message: String) -> ServiceError {
        match self {
            Protocol::AwsJson10 => ServiceError::denied(
                StatusCode::BAD_REQUEST,
                "com.amazon.coral.service#AccessDeniedException",
                message,
            ),
            Protocol::AwsJson11 { .. } => {
                ServiceError::denied(StatusCode::BAD_REQUEST, "AccessDeniedException", message)
            }
            Protocol::LambdaJson | Protocol::ApiGatewayJson => {
                ServiceError::denied(StatusCode::FORBIDDEN, "AccessDeniedException", message)
            }
            Protocol::RestXml { .. } | Protocol::Query { .. } | Protocol::S3Xml => {
                ServiceError::denied(StatusCode::FORBIDDEN, "AccessDenied", message)
            }
        }
    }

    /// A SigV4 failure as this protocol reports it.
    pub fn auth_error(&self, failure: &AuthFailure, headers: &HeaderMap) -> ServiceError {
        let code = failure.exception_code();
        match self {
            Protocol::AwsJson10 => ServiceError::auth(
                StatusCode::BAD_REQUEST,
                format!("com.amazon.coral.service#{code}"),
                failure.message(),
            ),
            Protocol::AwsJson11 { auth_status } => {
                ServiceError::auth(*auth_status, code, failure.message())
            }
            Protocol::LambdaJson | Protocol::ApiGatewayJson => {
                let message = match failure {
                    AuthFailure::Missing => "Missing Authentication Token".to_owned(),
                    other => other.message(),
                };
                ServiceError::auth(StatusCode::FORBIDDEN, code, message)
            }
            Protocol::RestXml { .. } => ServiceError::auth(
                StatusCode::FORBIDDEN,
                xml_auth_code(failure),
                failure.message(),
            ),
            Protocol::Query { .. } => {
                let message = match failure {
                    AuthFailure::UnknownKey => {
                        "The security token included in the request is invalid".to_owned()
                    }
                    other => other.message(),
                };
                ServiceError::auth(StatusCode::FORBIDDEN, xml_auth_code(failure), message)
            }
            Protocol::S3Xml => s3_auth_error(failure, headers),
        }
    }
}

/// S3's own codes and statuses for SigV4 failures.
fn s3_auth_error(failure: &AuthFailure, headers: &HeaderMap) -> ServiceError {
    let e = |status, code: &str, message: &str| ServiceError::auth(status, code, message);
    match failure {
        AuthFailure::Missing => e(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied"),
        AuthFailure::UnknownKey => e(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        AuthFailure::ExpiredToken => e(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The provided token has expired.",
        ),
        AuthFailure::Skew(_) => {
            let time = headers
                .get("x-amz-date")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            e(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
            .with("RequestTime", time)
            .with("MaxAllowedSkewMilliseconds", "900000")
        }
        AuthFailure::WrongScope(m) | AuthFailure::Incomplete(m) => {
            e(StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed", m)
        }
        _ => e(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn encoded(reply: Reply) -> (String, String) {
        let resp = Protocol::Query { namespace: "ns" }.reply(reply);
        let id = resp.headers()["x-amzn-RequestId"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (id, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn query_results_get_their_envelope_with_the_header_request_id() {
        let (id, body) = encoded(Reply::query("GetThing", Some("<A>1</A>".into()))).await;
        assert_eq!(
            body,
            format!(
                "<GetThingResponse xmlns=\"ns\"><GetThingResult><A>1</A></GetThingResult><ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></GetThingResponse>"
            )
        );
        let (id, body) = encoded(Reply::query("DeleteThing", None)).await;
        assert_eq!(
            body,
            format!(
                "<DeleteThingResponse xmlns=\"ns\"><ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></DeleteThingResponse>"
            )
        );
    }
}
