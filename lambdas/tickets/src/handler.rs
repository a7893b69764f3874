//! The HTTP surface of the ticket API: routing, validation, the caller's
//! identity, fault hooks, and the JSON and CORS conventions every response
//! follows. Bad input is always answered with a 4xx, never an `Err`.

use std::time::{Duration, Instant};

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::cursor::CursorCodec;
use crate::fault::Fault;
use crate::model::{NewTicket, Ticket, is_ticket_id};
use crate::owner::{Caller, Migrations};
use crate::store::{StoreError, TicketStore};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Page size when the caller gives none.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest page a caller may ask for.
pub const MAX_LIMIT: usize = 100;
/// Header naming the region that served a response.
pub const REGION_HEADER: &str = "x-wildrydes-region";

const CORS_ALLOW_HEADERS: &str =
    "Content-Type,Authorization,X-Amz-Date,X-Amz-Security-Token,X-Amz-Content-Sha256";
const CORS_ALLOW_METHODS: &str = "GET,POST,OPTIONS";

/// Settings read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    pub region: String,
    pub table: String,
    /// Value of `Access-Control-Allow-Origin`.
    pub allowed_origin: String,
    /// How long `/health` waits for the table before answering 503.
    pub health_timeout: Duration,
}

impl Config {
    /// Reads `AWS_REGION`, `TABLE_NAME`, `ALLOWED_ORIGIN` (default `*`) and
    /// `HEALTH_TIMEOUT_MS` (default 1500) through `var`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let required = |name: &str| {
            var(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("{name} is not set: the function cannot serve without it"))
        };
        let health_timeout = match var("HEALTH_TIMEOUT_MS") {
            None => Duration::from_millis(1500),
            Some(ms) => match ms.trim().parse::<u64>() {
                Ok(ms) if (1..=29_000).contains(&ms) => Duration::from_millis(ms),
                _ => {
                    return Err(format!(
                        "HEALTH_TIMEOUT_MS must be 1..=29000 milliseconds, got {ms:?}"
                    ));
                }
            },
        };
        let config = Config {
            region: required("AWS_REGION")?,
            table: required("TABLE_NAME")?,
            allowed_origin: var("ALLOWED_ORIGIN")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "*".to_owned()),
            health_timeout,
        };
        // Both go into every response's headers: refuse them now, not per request.
        for (name, value) in [
            ("AWS_REGION", &config.region),
            ("ALLOWED_ORIGIN", &config.allowed_origin),
        ] {
            if HeaderValue::from_str(value).is_err() {
                return Err(format!(
                    "{name} {value:?} cannot be sent as an HTTP header value"
                ));
            }
        }
        Ok(config)
    }
}

/// Where the handler learns the injected fault.
#[derive(Debug, Clone, Copy)]
pub enum FaultSource {
    /// `WILDRYDES_FAULT`, read on every invocation (production).
    Environment,
    /// A fixed fault (tests).
    Fixed(Fault),
}

/// Everything a request needs, built once per instance.
pub struct App<S> {
    pub store: S,
    pub cursors: CursorCodec,
    pub config: Config,
    pub faults: FaultSource,
    /// Whose older tickets this instance has moved to their owner key.
    pub migrations: Migrations,
}

impl<S> App<S> {
    fn fault(&self) -> Fault {
        match self.faults {
            FaultSource::Environment => Fault::from_env(),
            FaultSource::Fixed(f) => f,
        }
    }
}

/// A response about to be sent: status plus JSON body, or no body.
struct Reply {
    status: StatusCode,
    body: Option<serde_json::Value>,
    headers: Vec<(header::HeaderName, String)>,
}

impl Reply {
    fn json(status: StatusCode, body: impl Serialize) -> Self {
        Reply {
            status,
            body: Some(serde_json::to_value(body).expect("API bodies always serialise")),
            headers: Vec::new(),
        }
    }

    fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Reply::json(
            status,
            json!({"error": {"code": code, "message": message.into()}}),
        )
    }

    /// Names the field an `invalid_field` error is about, so a form can
    /// show the message next to it.
    fn for_field(mut self, field: &str) -> Self {
        if let Some(error) = self.body.as_mut().and_then(|b| b.get_mut("error")) {
            error["field"] = json!(field);
        }
        self
    }

    fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// The Lambda entry point: always answers, never returns `Err`.
pub async fn handle<S: TicketStore>(app: &App<S>, req: Request) -> Result<Response<Body>, Error> {
    let reply = route(app, &req).await;
    Ok(render(app, reply))
}

/// The routes this API serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Health,
    Tickets,
    Ticket(String),
}

impl Route {
    fn allowed(&self) -> &'static [Method] {
        match self {
            Route::Health | Route::Ticket(_) => &[Method::GET, Method::OPTIONS],
            Route::Tickets => &[Method::GET, Method::POST, Method::OPTIONS],
        }
    }
}

fn resolve(req: &Request) -> Option<Route> {
    let raw = req.raw_http_path();
    let path = if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["health"] => Some(Route::Health),
        ["tickets"] => Some(Route::Tickets),
        ["tickets", id] => {
            let id = req
                .path_parameters_ref()
                .and_then(|p| p.first("id"))
                .unwrap_or(id);
            Some(Route::Ticket(id.to_owned()))
        }
        _ => None,
    }
}

async fn route<S: TicketStore>(app: &App<S>, req: &Request) -> Reply {
    let Some(route) = resolve(req) else {
        return Reply::error(StatusCode::NOT_FOUND, "not_found", "no such route");
    };
    let method = req.method();
    if !route.allowed().contains(method) {
        let allow = route
            .allowed()
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        return Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed here; use {allow}"),
        )
        .with_header(header::ALLOW, allow);
    }
    if method == Method::OPTIONS {
        // CORS preflight: answered even under an injected fault, as API
        // Gateway's MOCK integration does on AWS.
        return Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            headers: vec![(header::ACCESS_CONTROL_MAX_AGE, "600".to_owned())],
        };
    }

    let fault = app.fault();
    if let Fault::Latency(delay) = fault {
        tokio::time::sleep(delay).await;
    }
    let injected = || {
        Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "fault_injected",
            "a drill has made this region unavailable",
        )
    };
    match (&route, fault) {
        (_, Fault::All5xx) | (Route::Health, Fault::Health5xx) => return injected(),
        (Route::Health, _) => return health(app).await,
        _ => {}
    }

    let Some(caller) = caller(req) else {
        return Reply::error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign the request with credentials from a Cognito identity",
        );
    };
    // Tickets filed under the caller's identity id move to their owner
    // key first; if that fails it is tried again on the next request.
    if let Err(err) = app.migrations.ensure(&app.store, &caller).await {
        tracing::warn!(error = %err, "moving older tickets to the owner key failed");
    }
    let owner = caller.owner;
    let result = match (route, method) {
        (Route::Tickets, &Method::POST) => create(app, req, &owner).await,
        (Route::Tickets, _) => list(app, req, &owner).await,
        (Route::Ticket(id), _) => fetch(app, &owner, &id).await,
        (Route::Health, _) => unreachable!("answered above"),
    };
    result.unwrap_or_else(|err| {
        let request_id = req
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        tracing::error!(%request_id, error = %err, "ticket store failed");
        Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the ticket store failed; request id {request_id}"),
        )
    })
}

/// Who calls, from the Cognito identity API Gateway verified for AWS_IAM
/// methods (REST v1: identity id and login provider) or a function URL's
/// IAM auth (v2: identity id only).
fn caller(req: &Request) -> Option<Caller> {
    let (id, provider) = match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => (
            ctx.identity.cognito_identity_id.clone(),
            ctx.identity.cognito_authentication_provider.clone(),
        ),
        RequestContext::ApiGatewayV2(ctx) => (
            ctx.authorizer
                .as_ref()?
                .iam
                .as_ref()?
                .cognito_identity
                .as_ref()?
                .identity_id
                .clone(),
            None,
        ),
        _ => (None, None),
    };
    let id = id.filter(|id| !id.trim().is_empty())?;
    Some(Caller::from_identity(&id, provider.as_deref()))
}

async fn health<S: TicketStore>(app: &App<S>) -> Reply {
    let started = Instant::now();
    let outcome = tokio::time::timeout(app.config.health_timeout, app.store.ping()).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let reason = match outcome {
        Ok(Ok(())) => {
            return Reply::json(
                StatusCode::OK,
                json!({"status": "ok", "region": app.config.region, "table": app.config.table, "latencyMs": latency_ms}),
            );
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health ping failed");
            "the table could not be read".to_owned()
        }
        Err(_) => format!(
            "the table did not answer within {} ms",
            app.config.health_timeout.as_millis()
        ),
    };
    Reply::json(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({
            "status": "unhealthy",
            "region": app.config.region,
            "table": app.config.table,
            "latencyMs": latency_ms,
            "error": {"code": "unhealthy", "message": reason},
        }),
    )
}

fn is_json(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn create<S: TicketStore>(
    app: &App<S>,
    req: &Request,
    owner: &str,
) -> Result<Reply, StoreError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Ok(Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is {} bytes; the limit is {MAX_BODY_BYTES}",
                body.len()
            ),
        ));
    }
    if !is_json(req) {
        return Ok(Reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the ticket as Content-Type: application/json",
        ));
    }
    let submitted: NewTicket = match serde_json::from_slice(body) {
        Ok(t) => t,
        Err(err) => {
            return Ok(Reply::error(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("the body is not a valid ticket: {err}"),
            ));
        }
    };
    let valid = match submitted.validate() {
        Ok(v) => v,
        Err(e) => {
            return Ok(
                Reply::error(StatusCode::BAD_REQUEST, "invalid_field", e.message)
                    .for_field(e.field),
            );
        }
    };
    // A ULID collision needs two writes in the same millisecond drawing the
    // same 80 random bits; retry anyway rather than report a phantom error.
    let mut attempts = 0;
    loop {
        let ticket = Ticket::open(
            owner,
            valid.clone(),
            &app.config.region,
            OffsetDateTime::now_utc(),
        );
        match app.store.create(&ticket).await {
            Ok(()) => {
                let location = format!("/tickets/{}", ticket.id);
                return Ok(Reply::json(StatusCode::CREATED, ticket)
                    .with_header(header::LOCATION, location));
            }
            Err(StoreError::Duplicate(_)) if attempts < 3 => attempts += 1,
            Err(err) => return Err(err),
        }
    }
}

async fn list<S: TicketStore>(
    app: &App<S>,
    req: &Request,
    owner: &str,
) -> Result<Reply, StoreError> {
    let query = req.query_string_parameters_ref();
    let param = |name: &str| query.and_then(|q| q.first(name));
    let limit = match param("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Ok(Reply::error(
                    StatusCode::BAD_REQUEST,
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                ));
            }
        },
    };
    let before = match param("cursor") {
        None => None,
        Some(cursor) => match app.cursors.decode(owner, cursor) {
            Some(id) => Some(id),
            None => {
                return Ok(Reply::error(
                    StatusCode::BAD_REQUEST,
                    "invalid_cursor",
                    "the cursor is not one this API issued to you; start again without it",
                ));
            }
        },
    };
    let page = app.store.list(owner, limit, before.as_deref()).await?;
    let next = page
        .more
        .then(|| {
            page.tickets
                .last()
                .map(|t| app.cursors.encode(owner, &t.id))
        })
        .flatten();
    Ok(Reply::json(
        StatusCode::OK,
        json!({"tickets": page.tickets, "nextCursor": next}),
    ))
}

async fn fetch<S: TicketStore>(app: &App<S>, owner: &str, id: &str) -> Result<Reply, StoreError> {
    let not_found = || Reply::error(StatusCode::NOT_FOUND, "not_found", "no such ticket");
    if !is_ticket_id(id) {
        return Ok(not_found());
    }
    Ok(match app.store.get(owner, id).await? {
        Some(ticket) => Reply::json(StatusCode::OK, ticket),
        None => not_found(),
    })
}

fn render<S>(app: &App<S>, reply: Reply) -> Response<Body> {
    let mut builder = Response::builder()
        .status(reply.status)
        .header(REGION_HEADER, &app.config.region)
        .header(header::CACHE_CONTROL, "no-store")
        .header(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            &app.config.allowed_origin,
        )
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, CORS_ALLOW_HEADERS)
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, CORS_ALLOW_METHODS)
        .header(header::ACCESS_CONTROL_EXPOSE_HEADERS, REGION_HEADER);
    if app.config.allowed_origin != "*" {
        builder = builder.header(header::VARY, "Origin");
    }
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            builder = builder.header(name, value);
        }
    }
    let body = match reply.body {
        Some(json) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::Text(json.to_string())
        }
        None => Body::Empty,
    };
    builder.body(body).expect("status and headers are valid")
}
