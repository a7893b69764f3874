//! The front door every AWS API request goes through, once: find the
//! service and its protocol ([`identify`]), verify SigV4 and name the
//! caller ([`authenticate`]), hand the service an [`Input`], and encode
//! its `Result<Reply, ServiceError>` in the protocol's own shape
//! ([`Service::respond`]), as LocalStack's handler chain (parse,
//! authenticate, dispatch, serialize) and moto's `BaseResponse` do.
//!
//! Services never build HTTP responses: they return a [`Reply`] (status,
//! body, the headers their operation's output binds) or a
//! [`ServiceError`] (status, code, message, extra members), and the door
//! adds content type, request id, `Date` and the error envelope
//! (AWS-BEHAVIOUR.md §1 and §2).

pub mod cors;
mod encode;
mod error;
pub mod table;

use std::collections::BTreeMap;
use std::future::Future;

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;

use crate::authz::{Context, Denied, Need};
use crate::credentials::{Principal, SandboxSecrets};
use crate::sigv4::{self, AuthFailure, Expect};
pub use encode::Protocol;
pub use error::ServiceError;

/// One AWS service as the door sees it: how it is signed and how it
/// speaks.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// The SigV4 signing name the scope must carry.
    pub signing_name: &'static str,
    pub protocol: Protocol,
    /// The code of the service's internal-failure error (HTTP 500).
    pub internal_code: &'static str,
    /// The code of its error for a body that does not parse (HTTP 400).
    pub malformed_code: &'static str,
}

pub const DYNAMODB: Service = Service {
    signing_name: "dynamodb",
    protocol: Protocol::AwsJson10,
    internal_code: "com.amazonaws.dynamodb.v20120810#InternalServerError",
    malformed_code: "com.amazon.coral.service#SerializationException",
};
pub const ACM: Service = Service {
    signing_name: "acm",
    protocol: Protocol::AwsJson11 {
        auth_status: StatusCode::BAD_REQUEST,
    },
    internal_code: "InternalFailure",
    malformed_code: "SerializationException",
};
pub const COGNITO_IDENTITY: Service = Service {
    signing_name: "cognito-identity",
    protocol: Protocol::AwsJson11 {
        auth_status: StatusCode::FORBIDDEN,
    },
    internal_code: "InternalErrorException",
    malformed_code: "SerializationException",
};
pub const LAMBDA: Service = Service {
    signing_name: "lambda",
    protocol: Protocol::LambdaJson,
    internal_code: "ServiceException",
    malformed_code: "InvalidRequestContentException",
};
pub const APIGATEWAY: Service = Service {
    signing_name: "apigateway",
    protocol: Protocol::ApiGatewayJson,
    internal_code: "InternalFailure",
    malformed_code: "SerializationException",
};
/// The API Gateway data plane (a deployed API's AWS_IAM methods); its
/// errors are the gateway's own (see `apigateway::dataplane`).
pub const EXECUTE_API: Service = Service {
    signing_name: "execute-api",
    protocol: Protocol::ApiGatewayJson,
    internal_code: "InternalServerErrorException",
    malformed_code: "BadRequestException",
};
pub const S3: Service = Service {
    signing_name: "s3",
    protocol: Protocol::S3Xml,
    internal_code: "InternalError",
    malformed_code: "MalformedXML",
};
pub const ROUTE53: Service = Service {
    signing_name: "route53",
    protocol: Protocol::RestXml {
        namespace: "https://route53.amazonaws.com/doc/2013-04-01/",
    },
    internal_code: "InternalFailure",
    malformed_code: "InvalidInput",
};
pub const CLOUDFRONT: Service = Service {
    signing_name: "cloudfront",
    protocol: Protocol::RestXml {
        namespace: "http://cloudfront.amazonaws.com/doc/2020-05-31/",
    },
    internal_code: "InternalFailure",
    malformed_code: "MalformedInput",
};
pub const IAM: Service = Service {
    signing_name: "iam",
    protocol: Protocol::Query {
        namespace: "https://iam.amazonaws.com/doc/2010-05-08/",
    },
    internal_code: "ServiceFailure",
    malformed_code: "MalformedInput",
};
pub const STS: Service = Service {
    signing_name: "sts",
    protocol: Protocol::Query {
        namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
    },
    internal_code: "InternalFailure",
    malformed_code: "MalformedInput",
};

/// Who sent an authenticated request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub access_key_id: String,
    /// The region the request was signed for.
    pub region: String,
}

/// Which service a request is for, as AWS's front ends tell: by
/// `X-Amz-Target`, by the SigV4 scope's service, and by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    DynamoDb,
    CognitoIdentity,
    Acm,
    S3,
    Lambda,
    ApiGateway,
    Route53,
    CloudFront,
    Iam,
    Sts,
}

/// The AWS API service a request names, if any. Requests that name none
/// (the control API, the API Gateway data plane, S3 websites, the Facebook
/// stand-in) are the process's own to route.
pub fn identify(method: &Method, path: &str, headers: &HeaderMap) -> Option<Destination> {
    let _ = method;
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target.starts_with("DynamoDB_20120810.") || target.starts_with("DynamoDBStreams_20120810.") {
        return Some(Destination::DynamoDb);
    }
    if target.starts_with("AWSCognitoIdentityService.") {
        return Some(Destination::CognitoIdentity);
    }
    if target.starts_with("CertificateManager.") {
        return Some(Destination::Acm);
    }
    let scope = sigv4::scope(headers).map(|s| s.service);
    match scope.as_deref() {
        Some("s3") => return Some(Destination::S3),
        Some("iam") => return Some(Destination::Iam),
        Some("sts") => return Some(Destination::Sts),
        _ => {}
    }
    if path.starts_with("/2013-04-01/") {
        return Some(Destination::Route53);
    }
    if path.starts_with("/2020-05-31/") {
        return Some(Destination::CloudFront);
    }
    if crate::services::lambda::is_lambda_path(path) {
        return Some(Destination::Lambda);
    }
    if crate::services::apigateway::ApiGateway::is_control_path(path) {
        return Some(Destination::ApiGateway);
    }
    None
}

/// A request as a service operation sees it: decoded, authenticated.
#[derive(Debug, Clone)]
pub struct Input {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `None` only for operations AWS serves unsigned.
    pub caller: Option<Caller>,
    pub service: Service,
}

impl Input {
    /// The request body as JSON (`null` when empty); a body that is not
    /// JSON is the protocol's serialization error, as AWS answers it.
    pub fn json(&self) -> Result<Value, ServiceError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| self.service.malformed(e))
    }

    /// The request body as an XML element tree; a body that is not
    /// well-formed XML is the service's malformed-input error.
    pub fn xml(&self) -> Result<crate::xml::Element, ServiceError> {
        crate::xml::Element::parse(&self.body).ok_or_else(|| {
            self.service
                .malformed("the request body is not well-formed XML")
        })
    }

    /// Query-string parameters (the last of a repeated name wins).
    pub fn params(&self) -> BTreeMap<String, String> {
        serde_urlencoded::from_str(self.query.as_deref().unwrap_or("")).unwrap_or_default()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Path segments, percent-decoded, without the leading `/`.
    pub fn segments(&self) -> Vec<String> {
        self.path
            .trim_matches('/')
            .split('/')
            .map(crate::services::lambda::percent_decode)
            .collect()
    }
}

/// A successful answer: status, body and the headers the operation's
/// output binds (`ETag`, `Location`, …). The door adds the rest.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
    /// `None`: the protocol's content type (or none for an empty body
    /// where the protocol sends none).
    pub content_type: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// awsQuery: the `<ActionResponse>` envelope the encoder puts around
    /// the body, with the response's own request id.
    pub envelope: Option<QueryEnvelope>,
}

/// An awsQuery result's envelope: `<{action}Response>`, and inside it
/// `<{action}Result>` around the body when `result` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryEnvelope {
    pub action: String,
    pub result: bool,
}

impl Reply {
    /// 200 with `body`.
    pub fn new(body: impl Into<Bytes>) -> Self {
        Reply {
            status: StatusCode::OK,
            body: body.into(),
            content_type: None,
            headers: Vec::new(),
            envelope: None,
        }
    }

    /// An awsQuery action's result: `result` is the content of
    /// `<{action}Result>`, `None` for an action that answers with
    /// `ResponseMetadata` only.
    pub fn query(action: &str, result: Option<String>) -> Self {
        let envelope = QueryEnvelope {
            action: action.to_owned(),
            result: result.is_some(),
        };
        Reply {
            envelope: Some(envelope),
            ..Reply::new(result.unwrap_or_default())
        }
    }

    /// 200 with a JSON document.
    pub fn json(value: &Value) -> Self {
        Reply::new(value.to_string())
    }

    /// `status` with no body.
    pub fn empty(status: StatusCode) -> Self {
        Reply::new(Bytes::new()).status(status)
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds a header; a value that is not a valid header is left out.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_ref().as_bytes()),
            HeaderValue::from_str(value.as_ref()),
        ) {
            self.headers.push((n, v));
        }
        self
    }
}

/// What an operation returns.
pub type Outcome = Result<Reply, ServiceError>;

/// Verifies a request's SigV4 signature for `service` in one of `regions`
/// and names the caller: SigV4 once, for every service.
pub fn authenticate(
    service: Service,
    regions: &[&str],
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &SandboxSecrets,
) -> Result<Caller, AuthFailure> {
    let verified = sigv4::verify(
        method.as_str(),
        path_and_query,
        headers,
        body,
        secrets,
        Expect {
            regions,
            service: service.signing_name,
        },
    )?;
    Ok(Caller {
        principal: verified.principal,
        access_key_id: verified.access_key_id,
        region: verified.region,
    })
}

/// Where the door asks whether a governed caller's policies allow what
/// its request needs: the IAM service itself in the global process, the
/// global process's control API elsewhere.
#[async_trait::async_trait]
pub trait Policies: Send + Sync {
    /// Whether `caller` (an assumed role's session) may do all of
    /// `needs`.
    async fn authorize(
        &self,
        caller: &Principal,
        needs: &[Need],
        ctx: &Context,
    ) -> Result<(), Refusal>;

    /// The policy of the resource `need` names, where this process's
    /// services keep one.
    fn resource_policy(&self, need: &Need) -> Option<Value> {
        let _ = need;
        None
    }
}

/// Why a governed request may not go on.
#[derive(Debug, Clone)]
pub enum Refusal {
    Denied(Denied),
    /// The policies could not be read (the global process is down): the
    /// service's internal error, never an allow.
    Unavailable(String),
}

/// One request through the door.
pub struct Request<'a> {
    pub service: Service,
    /// Regions a signature may be scoped to.
    pub regions: &'a [&'a str],
    pub parts: &'a http::request::Parts,
    pub body: Bytes,
    pub secrets: &'a SandboxSecrets,
    /// Whether the operation needs SigV4 (a few Cognito ones do not).
    pub signed: bool,
    /// Who answers for the policies of governed callers.
    pub policies: &'a dyn Policies,
}

impl Request<'_> {
    /// Authenticates, runs `operation` and encodes its outcome.
    pub async fn serve<F, Fut>(self, operation: F) -> Response
    where
        F: FnOnce(Input) -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let service = self.service;
        let parts = self.parts;
        let caller = if self.signed {
            let path_and_query = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            match authenticate(
                service,
                self.regions,
                &parts.method,
                path_and_query,
                &parts.headers,
                &self.body,
                self.secrets,
            ) {
                Ok(caller) => Some(caller),
                Err(failure) => {
                    let error = service.protocol.auth_error(&failure, &parts.headers);
                    return service.respond(Err(error));
                }
            }
        } else {
            None
        };
        let input = Input {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            body: self.body,
            caller,
            service,
        };
        if let Some(refusal) = authorize(self.policies, &input).await {
            let error = match refusal {
                Refusal::Denied(denied) => {
                    let caller = input.caller.as_ref().expect("only callers are refused");
                    // S3 quotes the resource in its message.
                    let quoted = service.protocol == Protocol::S3Xml;
                    service
                        .protocol
                        .access_denied(denied.message_as(&caller.principal.arn(), quoted))
                }
                Refusal::Unavailable(why) => ServiceError::internal(why),
            };
            return service.respond(Err(error));
        }
        service.respond(operation(input).await)
    }
}

/// IAM for governed callers (every principal but the sandbox's own keys):
/// each need of the request must be allowed by the caller's policies;
/// `None` lets the request go on.
async fn authorize(policies: &dyn Policies, input: &Input) -> Option<Refusal> {
    let caller = input.caller.as_ref()?;
    if !matches!(caller.principal, Principal::AssumedRole { .. }) {
        return None;
    }
    let mut needs = crate::authz::actions::needs(&caller.region, input);
    if needs.is_empty() {
        return None;
    }
    for need in &mut needs {
        need.resource_policy = policies.resource_policy(need);
    }
    let ctx = crate::authz::request_context(&caller.principal, &caller.region);
    policies
        .authorize(&caller.principal, &needs, &ctx)
        .await
        .err()
}

impl Service {
    /// The error for a request body that does not parse.
    pub fn malformed(&self, detail: impl std::fmt::Display) -> ServiceError {
        let message = match self.malformed_code {
            "MalformedXML" => "The XML you provided was not well-formed or did not validate against our published schema".to_owned(),
            "InvalidRequestContentException" => {
                format!("Could not parse request body into json: {detail}")
            }
            _ => detail.to_string(),
        };
        ServiceError::bad_request(self.malformed_code, message)
    }

    /// Encodes an outcome in this service's protocol.
    pub fn respond(&self, outcome: Outcome) -> Response {
        match outcome {
            Ok(reply) => self.protocol.reply(reply),
            Err(mut error) => {
                if error.is_internal() {
                    error.code = self.internal_code.into();
                }
                self.protocol.error(&error)
            }
        }
    }
}
