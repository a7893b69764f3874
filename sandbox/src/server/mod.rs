//! The two kinds of sandbox process: a region (DynamoDB and Streams) and
//! the global process (IAM, STS). Each serves one listener handed to it by
//! `start`, dispatching as AWS's front ends do: the control API by path,
//! DynamoDB by `X-Amz-Target`, the rest by the SigV4 scope's service.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::json;

use crate::authz::regional::RegionalIam;
use crate::control::{self, Ready, ReplicaCreate, ReplicaDelete, ReplicaStatus, ReplicationReport};
use crate::credentials::{CredentialsError, SandboxSecrets};
use crate::door::{self, Destination, ServiceError};
use crate::query::QueryRequest;
use crate::services::acm::Acm;
use crate::services::apigateway::ApiGateway;
use crate::services::cognito::Cognito;
use crate::services::dynamodb::Dynamo;
use crate::services::dynamodb::meta::{Meta, MetaError};
use crate::services::dynamodb::recovery;
use crate::services::dynamodb::replication::{Peer, ReplicationError, Replicator, Settings};
use crate::services::iam::Iam;
use crate::services::lambda::Lambda;
use crate::services::s3::S3;
use crate::store::{OpenError, StoreError};
use crate::topology::{GLOBAL, Layout, Topology};
use crate::wire::respond;

use crate::limits::{self, MAX_BODY};

mod sockets;
use sockets::{close_on_exec, inherited_listener, shutdown_signal, start_dns};

/// Why a sandbox process could not start, or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A socket the launcher handed over (`what` says which), or serving
    /// on it.
    #[error("cannot serve {what}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    /// The region's DynamoDB database file.
    #[error("open {}: {error}", path.display())]
    Database {
        path: std::path::PathBuf,
        error: dynoxide::DynoxideError,
    },
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Metadata(#[from] MetaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Edge(#[from] crate::edge::EdgeError),
    #[error(transparent)]
    Fault(#[from] crate::fault::BadFault),
    /// Settling the replication batch a killed process left unfinished.
    #[error("cannot finish the replication batch cut short in {region}: {error}")]
    Recovery {
        region: String,
        error: ReplicationError,
    },
}

/// `ServeError::Io` for the socket `what`.
fn io_error(what: &'static str) -> impl FnOnce(std::io::Error) -> ServeError {
    move |source| ServeError::Io { what, source }
}

/// A `--role` that names neither a region nor the global process.
#[derive(Debug, thiserror::Error)]
#[error("--role must be region:<name> or global, not {0:?}")]
pub struct BadRole(pub String);

/// Which process to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Region(String),
    Global,
}

impl Role {
    pub fn parse(s: &str) -> Result<Self, BadRole> {
        match s.split_once(':') {
            Some(("region", name)) if !name.is_empty() => Ok(Role::Region(name.to_owned())),
            _ if s == GLOBAL => Ok(Role::Global),
            _ => Err(BadRole(s.to_owned())),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Role::Region(r) => r,
            Role::Global => GLOBAL,
        }
    }
}

/// Runs one sandbox process on the listener the launcher handed it as
/// descriptor `listen_fd` (see [`crate::launcher::StartOptions::serve_command`]),
/// until SIGTERM or SIGINT.
pub async fn serve_inherited(
    role: Role,
    layout: Layout,
    topology: Topology,
    listen_fd: i32,
) -> Result<(), ServeError> {
    use std::os::fd::FromRawFd;
    // SAFETY: the launcher hands a served process its listener as this
    // descriptor, and nothing else in the process owns it.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(listen_fd) };
    // Only processes the launcher started can be armed (a test hook).
    if let Some((point, nth)) = crate::fault::arm_from_env()? {
        tracing::warn!(
            point,
            nth,
            "crash point armed: this process will kill itself there"
        );
    }
    serve(role, layout, topology, listener).await
}

/// Runs one sandbox process on `listener` until SIGTERM or SIGINT.
pub async fn serve(
    role: Role,
    layout: Layout,
    topology: Topology,
    listener: std::net::TcpListener,
) -> Result<(), ServeError> {
    serve_until(role, layout, topology, listener, shutdown_signal()).await
}

/// Runs one sandbox process on `listener` until `shutdown` completes: how
/// tests run a sandbox in their own process.
pub async fn serve_until(
    role: Role,
    layout: Layout,
    topology: Topology,
    listener: std::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    listener
        .set_nonblocking(true)
        .and_then(|()| close_on_exec(&listener))
        .map_err(io_error("on the listener it was handed"))?;
    // Everything a sandbox process writes (tables, function code and
    // environments, logs) is its owner's alone.
    // SAFETY: umask only sets the process's file mode mask.
    unsafe { libc::umask(0o077) };
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(io_error("on the listener it was handed"))?;
    let secrets = Arc::new(SandboxSecrets::load(&layout.credentials_file())?);
    let data = layout.data_dir(role.name());
    std::fs::create_dir_all(&data).map_err(OpenError::create_dir(&data))?;
    let app = match &role {
        Role::Region(region) => {
            let state = Arc::new(RegionProcess::open(region, &layout, &topology, secrets).await?);
            Router::new().fallback(region_handler).with_state(state)
        }
        Role::Global => {
            let route53 = crate::services::route53::Route53::open(
                data.join("route53.json"),
                topology.clone(),
            )?;
            let mut edge = None;
            if topology.dns_port.is_some() {
                start_dns(route53.clone())?;
                let e = Arc::new(crate::edge::Edge::open(
                    topology.clone(),
                    data.join("edge.json"),
                )?);
                let edge_listener = inherited_listener(crate::launcher::EDGE_FD)
                    .map_err(io_error("the edge proxy"))?;
                crate::edge::serve(e.clone(), edge_listener).map_err(io_error("the edge proxy"))?;
                edge = Some(e);
            }
            let cloudfront = crate::services::cloudfront::CloudFront::open(
                data.join("cloudfront.json"),
                route53.clone(),
            )?;
            if topology.cdn_port.is_some() {
                crate::services::cloudfront::serve(
                    cloudfront.clone(),
                    inherited_listener(crate::launcher::CDN_FD)
                        .map_err(io_error("the CloudFront edge"))?,
                )
                .map_err(io_error("the CloudFront edge"))?;
            }
            let state = Arc::new(GlobalProcess {
                edge,
                cloudfront,
                topology: topology.clone(),
                iam: Iam::open(data.join("iam.json"))?,
                route53,
                secrets,
            });
            Router::new().fallback(global_handler).with_state(state)
        }
    };
    let address = listener
        .local_addr()
        .map_err(io_error("on the listener it was handed"))?;
    tracing::info!(process = role.name(), %address, "serving");
    axum::serve(
        limits::LimitedListener::new(listener, limits::MAX_CONNECTIONS),
        app,
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(io_error("on the listener it was handed"))?;
    Ok(())
}

fn ready(process: &str) -> Response {
    let body = Ready {
        process: process.to_owned(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    axum::Json(body).into_response()
}

fn control_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({"error": message.to_string()}))).into_response()
}

fn authorised(headers: &HeaderMap, secrets: &SandboxSecrets) -> bool {
    let expected = format!("Bearer {}", secrets.control_token);
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| subtle::ConstantTimeEq::ct_eq(v.as_bytes(), expected.as_bytes()).into())
}

async fn read_body(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| control_error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body: {e}")))
}

fn parse<T: for<'de> serde::Deserialize<'de>>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| control_error(StatusCode::BAD_REQUEST, format!("bad control request: {e}")))
}

// --- region processes ---

struct RegionProcess {
    region: String,
    secrets: Arc<SandboxSecrets>,
    dynamo: Dynamo,
    replicator: Arc<Replicator>,
    lambda: Arc<Lambda>,
    acm: Arc<Acm>,
    apigateway: Arc<ApiGateway>,
    /// The global process's IAM, for governed callers, Lambda's roles
    /// and Cognito's.
    policies: Arc<RegionalIam>,
    cognito: Cognito,
    s3: S3,
}

fn sdk_credentials(secrets: &SandboxSecrets) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        &secrets.replication_access_key_id,
        &secrets.replication_secret_access_key,
        None,
        None,
        "wildrydes-sandbox-replication",
    )
}

impl RegionProcess {
    async fn open(
        region: &str,
        layout: &Layout,
        topology: &Topology,
        secrets: Arc<SandboxSecrets>,
    ) -> Result<Self, ServeError> {
        let data = layout.data_dir(region);
        let db_path = data.join("dynamodb.sqlite");
        let db =
            dynoxide::Database::new(db_path.to_str().unwrap_or_default()).map_err(|error| {
                ServeError::Database {
                    path: db_path.clone(),
                    error,
                }
            })?;
        let meta = Arc::new(Meta::open(&data.join("replication.sqlite"))?);
        // Before anything can write or read a stream here.
        recovery::recover_all(&db, &meta, region).map_err(|error| ServeError::Recovery {
            region: region.to_owned(),
            error,
        })?;
        let mut peers = BTreeMap::new();
        let mut controls = Vec::new();
        for peer in topology.regions.iter().filter(|e| e.name != region) {
            let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(2))
                .connect_timeout(Duration::from_secs(1))
                .build();
            let dynamo_conf = aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::new(peer.name.clone()))
                .credentials_provider(sdk_credentials(&secrets))
                .endpoint_url(peer.url())
                .timeout_config(timeouts.clone())
                .build();
            let streams_conf = aws_sdk_dynamodbstreams::Config::builder()
                .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodbstreams::config::Region::new(
                    peer.name.clone(),
                ))
                .credentials_provider(sdk_credentials(&secrets))
                .endpoint_url(peer.url())
                .timeout_config(timeouts)
                .retry_config(aws_sdk_dynamodbstreams::config::retry::RetryConfig::disabled())
                .build();
            let control = control::ControlClient::new(&peer.url(), &secrets.control_token);
            controls.push((peer.name.clone(), control.clone()));
            peers.insert(
                peer.name.clone(),
                Peer {
                    dynamo: aws_sdk_dynamodb::Client::from_conf(dynamo_conf),
                    streams: aws_sdk_dynamodbstreams::Client::from_conf(streams_conf),
                    control,
                },
            );
        }
        let replicator = Replicator::new(
            region,
            db.clone(),
            meta.clone(),
            data.join("replication-settings.json"),
            peers,
        );
        let dynamo = Dynamo::start(region, db, meta, replicator.clone(), controls).await?;
        replicator.refresh();
        let policies = Arc::new(RegionalIam::new(control::ControlClient::new(
            &topology.global.url(),
            &secrets.control_token,
        )));
        let iam = policies.clone();
        let role_exists: crate::services::lambda::RoleCheck = Arc::new(move |arn: String| {
            let iam = iam.clone();
            Box::pin(async move { iam.lambda_can_assume(&arn).await })
        });
        let endpoint = topology.region(region).map(|e| e.url()).unwrap_or_default();
        let lambda = Lambda::open(
            region,
            &endpoint,
            data.join("lambda"),
            layout.logs_dir().join("lambda").join(region),
            secrets.clone(),
            role_exists,
        )?;
        let acm = Arc::new(Acm::open(region, data.join("acm.json"))?);
        let global = control::ControlClient::new(&topology.global.url(), &secrets.control_token);
        tokio::spawn(acm.clone().validate_forever(
            Duration::from_millis(250),
            move |name: String| {
                let global = global.clone();
                async move { global.cname_values(&name).await }
            },
        ));
        let secrets_for_cognito = secrets.clone();
        let apigateway = ApiGateway::open(
            region,
            data.join("apigateway.json"),
            secrets.clone(),
            acm.clone(),
        )?;
        Ok(RegionProcess {
            region: region.to_owned(),
            secrets,
            dynamo,
            replicator,
            lambda,
            acm,
            apigateway,
            policies,
            cognito: Cognito::open(
                region,
                data.join("cognito.json"),
                secrets_for_cognito.clone(),
            )?,
            s3: S3::open(region, data.join("s3"))?,
        })
    }

    async fn control(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Response {
        let route = path.trim_start_matches(control::PREFIX);
        if route == "ready" {
            return ready(&self.region);
        }
        if !authorised(headers, &self.secrets) {
            return control_error(
                StatusCode::UNAUTHORIZED,
                "the control API needs the sandbox's bearer token",
            );
        }
        let body = match read_body(body).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let result = match (method.as_str(), route) {
            ("GET", "replication") => Ok(json!(ReplicationReport {
                settings: self.replicator.settings(),
                subscriptions: self.replicator.statuses(),
            })),
            ("PUT", "replication") => match parse::<Settings>(&body) {
                Ok(s) if s.jitter_ms <= s.delay_ms || s.delay_ms == 0 && s.jitter_ms == 0 => {
                    self.replicator.set_settings(s).map(|_| json!(s))
                }
                Ok(_) => {
                    return control_error(
                        StatusCode::BAD_REQUEST,
                        "jitterMs must not exceed delayMs",
                    );
                }
                Err(r) => return r,
            },
            ("POST", "replicas/create") => match parse::<ReplicaCreate>(&body) {
                Ok(c) => self.dynamo.accept_replica(&c).map(|_| json!({})),
                Err(r) => return r,
            },
            ("POST", "replicas/delete") => match parse::<ReplicaDelete>(&body) {
                Ok(d) => self.dynamo.drop_replica(&d.table).await.map(|_| json!({})),
                Err(r) => return r,
            },
            ("POST", "replicas/status") => match parse::<ReplicaStatus>(&body) {
                Ok(s) => self
                    .dynamo
                    .note_replica_status(&s.table, &s.region, &s.status)
                    .map(|_| json!({})),
                Err(r) => return r,
            },
            _ => {
                return control_error(
                    StatusCode::NOT_FOUND,
                    format!("no control route {method} {path}"),
                );
            }
        };
        match result {
            Ok(v) => axum::Json(v).into_response(),
            Err(e @ ReplicationError::TableExists(_)) => control_error(StatusCode::CONFLICT, e),
            Err(e) => control_error(StatusCode::INTERNAL_SERVER_ERROR, e),
        }
    }
}

/// A region's IAM: the roles' policies from the global process, and the
/// resource policies its own services keep.
#[async_trait::async_trait]
impl door::Policies for RegionProcess {
    async fn authorize(
        &self,
        caller: &crate::credentials::Principal,
        needs: &[crate::authz::Need],
        ctx: &crate::authz::Context,
    ) -> Result<(), door::Refusal> {
        self.policies.authorize(caller, needs, ctx).await
    }

    fn resource_policy(&self, need: &crate::authz::Need) -> Option<serde_json::Value> {
        let (service, _) = need.action.split_once(':')?;
        match service {
            "s3" => {
                let bucket = need.resource.strip_prefix("arn:aws:s3:::")?;
                self.s3.bucket_policy(bucket.split('/').next()?)
            }
            "lambda" => {
                let (_, name) = need.resource.split_once(":function:")?;
                self.lambda.function_policy(name)
            }
            "dynamodb" => {
                let table = match need.resource.split_once("/index/") {
                    Some((table, _)) => table,
                    None => &need.resource,
                };
                let (doc, _) = self.dynamo.meta.policy(table).ok()??;
                serde_json::from_str(&doc).ok()
            }
            _ => None,
        }
    }
}

async fn region_handler(State(p): State<Arc<RegionProcess>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if path.starts_with(control::PREFIX) {
        return p.control(&parts.method, &path, &parts.headers, body).await;
    }
    let limit = limits::body_limit(&parts.headers, &p.secrets);
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            let mut e = too_large();
            e.code = "com.amazon.coral.service#RequestEntityTooLarge".into();
            return door::DYNAMODB.respond(Err(e));
        }
    };
    if door::cors::is_aws_json_preflight(&parts.method, &parts.headers) {
        return door::cors::preflight();
    }
    let destination = door::identify(&parts.method, &path, &parts.headers);
    let regions = [p.region.as_str()];
    let p = &*p;
    let door = |service, signed| door::Request {
        service,
        regions: &regions,
        parts: &parts,
        body: body.clone(),
        secrets: &p.secrets,
        signed,
        policies: p,
    };
    match destination {
        Some(Destination::DynamoDb) => {
            return door(door::DYNAMODB, true)
                .serve(|input| async move { p.dynamo.handle(&input).await })
                .await;
        }
        Some(Destination::CognitoIdentity) => {
            let signed = !Cognito::is_unsigned(&parts.headers);
            if !signed && !door::cors::is_loopback_host(&parts.headers) {
                return door::cors::foreign_host();
            }
            let resp = door(door::COGNITO_IDENTITY, signed)
                .serve(|input| async move {
                    if let Some(grant) = p.cognito.grant(&input) {
                        p.policies.cognito_can_assume(&grant?).await?;
                    }
                    p.cognito.handle(&input)
                })
                .await;
            return door::cors::allow_any_origin(resp);
        }
        Some(Destination::S3) => {
            return door(door::S3, true)
                .serve(|input| async move { p.s3.handle(&input) })
                .await;
        }
        Some(Destination::Acm) => {
            return door(door::ACM, true)
                .serve(|input| async move { p.acm.handle(&input) })
                .await;
        }
        _ => {}
    }
    if path.starts_with("/sandbox/facebook") {
        if !door::cors::is_loopback_host(&parts.headers) {
            return door::cors::foreign_host();
        }
        return p
            .cognito
            .facebook(&parts.method, &path, parts.uri.query(), &body);
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    if let Some(resp) = p
        .apigateway
        .serve(
            &p.lambda,
            p,
            &parts.method,
            &path,
            path_and_query,
            &parts.headers,
            body.clone(),
        )
        .await
    {
        return resp;
    }
    if let Some((bucket, key)) = p.s3.website_target(&parts.method, &path, &parts.headers) {
        return p.s3.website(&parts.method, &bucket, &key);
    }
    match destination {
        Some(Destination::Lambda) => {
            door(door::LAMBDA, true)
                .serve(|input| async move { p.lambda.handle(input).await })
                .await
        }
        Some(Destination::ApiGateway) => {
            door(door::APIGATEWAY, true)
                .serve(|input| async move { p.apigateway.handle(&input) })
                .await
        }
        _ => unknown_service(&parts.method, &path),
    }
}

fn unknown_service(method: &Method, path: &str) -> Response {
    respond(
        StatusCode::NOT_FOUND,
        "application/json",
        "x-amzn-RequestId",
        json!({"message": format!("no service of this sandbox process answers {method} {path}")})
            .to_string(),
    )
}

// --- the global process ---

struct GlobalProcess {
    edge: Option<Arc<crate::edge::Edge>>,
    cloudfront: Arc<crate::services::cloudfront::CloudFront>,
    topology: Topology,
    iam: Iam,
    route53: Arc<crate::services::route53::Route53>,
    secrets: Arc<SandboxSecrets>,
}

async fn global_handler(State(g): State<Arc<GlobalProcess>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if path.starts_with(control::PREFIX) {
        return match path.trim_start_matches(control::PREFIX) {
            "ready" => ready(GLOBAL),
            route
                if route.starts_with("route53/healthchecks/")
                    && authorised(&parts.headers, &g.secrets) =>
            {
                let id = route.trim_start_matches("route53/healthchecks/");
                match crate::services::route53::health::report(&g.route53, id) {
                    Some(v) => axum::Json(v).into_response(),
                    None => control_error(StatusCode::NOT_FOUND, format!("no health check {id}")),
                }
            }
            "route53/cname" if authorised(&parts.headers, &g.secrets) => {
                let query = QueryRequest::parse(&[], parts.uri.query());
                let name = query.get("name").unwrap_or_default();
                let values: Vec<String> =
                    match g.route53.answer(name, hickory_proto::rr::RecordType::CNAME) {
                        crate::dns::Answer::Records(data, _) => {
                            data.iter().map(|d| d.to_string()).collect()
                        }
                        _ => Vec::new(),
                    };
                axum::Json(json!({"values": values})).into_response()
            }
            "edge" if authorised(&parts.headers, &g.secrets) => {
                let Some(edge) = &g.edge else {
                    return control_error(StatusCode::NOT_FOUND, "this sandbox has no edge proxy");
                };
                if parts.method == Method::PUT {
                    let body = match read_body(body).await {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let config = match parse::<crate::edge::EdgeConfig>(&body) {
                        Ok(c) => c,
                        Err(r) => return r,
                    };
                    if let Err(e) = edge.set_config(config) {
                        return control_error(StatusCode::BAD_REQUEST, e);
                    }
                }
                axum::Json(edge.config()).into_response()
            }
            "iam/role" if authorised(&parts.headers, &g.secrets) => {
                let query = QueryRequest::parse(&[], parts.uri.query());
                let arn = query.get("arn").unwrap_or_default();
                axum::Json(g.iam.documents(arn)).into_response()
            }
            _ => control_error(
                StatusCode::NOT_FOUND,
                format!("no control route {} {path}", parts.method),
            ),
        };
    }
    let limit = limits::body_limit(&parts.headers, &g.secrets);
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return door::IAM.respond(Err(too_large())),
    };
    let destination = door::identify(&parts.method, &path, &parts.headers).or_else(|| {
        // Unsigned awsQuery: the API version names the service.
        let query = QueryRequest::parse(&body, parts.uri.query());
        Some(match query.get("Version") {
            Some("2011-06-15") => Destination::Sts,
            _ => Destination::Iam,
        })
    });
    let g = &*g;
    let mut sts_regions: Vec<&str> = g.topology.regions.iter().map(|e| e.name.as_str()).collect();
    sts_regions.push("us-east-1");
    // IAM, Route 53 and CloudFront are global and signed for us-east-1,
    // as on AWS; STS answers in every region.
    let (service, regions): (door::Service, &[&str]) = match destination {
        Some(Destination::Route53) => (door::ROUTE53, &["us-east-1"]),
        Some(Destination::CloudFront) => (door::CLOUDFRONT, &["us-east-1"]),
        Some(Destination::Iam) => (door::IAM, &["us-east-1"]),
        Some(Destination::Sts) => (door::STS, &sts_regions),
        _ => return unknown_service(&parts.method, &path),
    };
    let request = door::Request {
        service,
        regions,
        parts: &parts,
        body,
        secrets: &g.secrets,
        signed: true,
        policies: &g.iam,
    };
    request
        .serve(|input| async move {
            match destination {
                Some(Destination::Route53) => g.route53.handle(&input),
                Some(Destination::CloudFront) => g.cloudfront.handle(&input),
                Some(Destination::Iam) => g
                    .iam
                    .handle(&QueryRequest::parse(&input.body, input.query.as_deref())),
                _ => {
                    let caller = input.caller.as_ref().expect("STS requests are signed");
                    crate::services::sts::handle(
                        &QueryRequest::parse(&input.body, input.query.as_deref()),
                        &caller.principal,
                        &g.secrets,
                        &g.iam,
                        &crate::authz::request_context(&caller.principal, &caller.region),
                    )
                }
            }
        })
        .await
}

fn too_large() -> ServiceError {
    ServiceError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        "Request entity too large",
    )
}
