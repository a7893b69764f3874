//! The edge proxy: the API's address for a browser (`http://127.0.0.1:<edge
//! port>/`). For each request it resolves the app's API name through the
//! sandbox's own DNS server, caching each answer exactly as long as its TTL
//! says, and forwards the request unchanged (method, path, headers with
//! `Host`, body) to the region whose address the answer names. The region's
//! API Gateway treats it as a request to that custom domain (it reads the
//! name from `x-wildrydes-edge-host`, since `Host` stays the browser's for
//! its SigV4 signature). So a browser follows failover exactly as late as a
//! real client that honours TTL does.
//!
//! Which name: the request's `Host` when it is a name (a client that sets
//! `Host: api.wildrydes.test`), else the API name set through the control
//! API (`PUT /_sandbox/edge`).
//!
//! Every response carries `x-wildrydes-resolved-region` and the age and TTL
//! of the DNS answer it used. When the region is down the browser sees what
//! a real client would: a refused connection becomes 502, a frozen region a
//! 504 after the upstream deadline.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use hickory_proto::rr::{RData, RecordType};
use http::{HeaderName, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::topology::{Endpoint, Topology, write_atomic};

/// The header naming the custom domain a forwarded request is for.
pub const EDGE_HOST_HEADER: &str = "x-wildrydes-edge-host";
/// How long the edge waits for a region (API Gateway's own limit is 29 s).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(35);
const MAX_BODY: usize = 10 * 1024 * 1024;

/// Hop-by-hop headers, which a proxy does not forward (RFC 9110 7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

/// The edge's configuration, kept in the global data directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EdgeConfig {
    /// The name resolved for requests whose `Host` is an address.
    pub api_name: Option<String>,
}

/// One DNS answer and when it was obtained.
#[derive(Debug, Clone, Copy)]
struct Cached {
    address: IpAddr,
    ttl: u32,
    at: Instant,
    at_wall: SystemTime,
}

impl Cached {
    /// Its age at `now`, if it is still within its TTL then.
    fn fresh_at(&self, now: Instant) -> Option<Duration> {
        let age = now.saturating_duration_since(self.at);
        (age < Duration::from_secs(self.ttl.into())).then_some(age)
    }
}

pub struct Edge {
    topology: Topology,
    file: PathBuf,
    config: Mutex<EdgeConfig>,
    resolver: hickory_resolver::TokioResolver,
    cache: Mutex<HashMap<String, Cached>>,
    http: reqwest::Client,
}

fn failure(status: StatusCode, message: String) -> Response {
    let mut r = Response::new(Body::from(json!({ "message": message }).to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Why the edge proxy could not start or take a configuration.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("the edge proxy needs the sandbox's DNS server")]
    NoDns,
    #[error("the edge proxy's configuration {} is corrupt", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot set up the edge proxy's DNS resolver")]
    Resolver(#[source] hickory_resolver::net::NetError),
    #[error("cannot set up the edge proxy's HTTP client")]
    Client(#[source] reqwest::Error),
    /// A `PUT /_sandbox/edge` with an API name that is not a DNS name.
    #[error("apiName must be a DNS name such as api.wildrydes.test, not {0:?}")]
    BadApiName(String),
    #[error("cannot save {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Edge {
    /// An edge resolving through the DNS server on `topology.dns_port`.
    pub fn open(topology: Topology, file: PathBuf) -> Result<Self, EdgeError> {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig};
        let dns_port = topology.dns_port.ok_or(EdgeError::NoDns)?;
        let mut server = NameServerConfig::udp(topology.global.address);
        for connection in &mut server.connections {
            connection.port = dns_port;
        }
        let mut builder = hickory_resolver::Resolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![server]),
            hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
        );
        // hickory's own cache keeps answers past their TTL (NOTES.md); the
        // edge caches by TTL itself.
        builder.options_mut().cache_size = 0;
        builder.options_mut().timeout = Duration::from_secs(2);
        builder.options_mut().attempts = 1;
        let config = match std::fs::read_to_string(&file) {
            Ok(t) => serde_json::from_str(&t).map_err(|source| EdgeError::Corrupt {
                path: file.clone(),
                source,
            })?,
            Err(_) => EdgeConfig::default(),
        };
        Ok(Edge {
            topology,
            file,
            config: Mutex::new(config),
            resolver: builder.build().map_err(EdgeError::Resolver)?,
            cache: Mutex::new(HashMap::new()),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(UPSTREAM_TIMEOUT)
                .connect_timeout(Duration::from_secs(4))
                .build()
                .map_err(EdgeError::Client)?,
        })
    }

    pub fn config(&self) -> EdgeConfig {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets the API name; refuses one that is not a DNS name.
    pub fn set_config(&self, config: EdgeConfig) -> Result<(), EdgeError> {
        if let Some(name) = &config.api_name
            && !(hickory_proto::rr::Name::from_ascii(name).is_ok()
                && name.contains('.')
                && name.parse::<IpAddr>().is_err())
        {
            return Err(EdgeError::BadApiName(name.clone()));
        }
        let bytes = serde_json::to_vec_pretty(&config).expect("the configuration is plain data");
        write_atomic(&self.file, &bytes, 0o644).map_err(|source| EdgeError::Write {
            path: self.file.clone(),
            source,
        })?;
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    /// The answer for `name`: the cached one while younger than its TTL,
    /// else a fresh query.
    /// The answer for `name` and its age when it was chosen (the age the
    /// response reports: forwarding takes time, and an answer chosen just
    /// before its TTL ran out was still fresh when it was used).
    async fn resolve(&self, name: &str) -> Result<(Cached, Duration), String> {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        let now = Instant::now();
        if let Some((c, age)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .and_then(|c| Some((*c, c.fresh_at(now)?)))
        {
            return Ok((c, age));
        }
        let lookup = self
            .resolver
            .lookup(format!("{key}."), RecordType::A)
            .await
            .map_err(|e| format!("cannot resolve {key} through the sandbox DNS: {e}"))?;
        let (address, ttl) = lookup
            .answers()
            .iter()
            .find_map(|r| match &r.data {
                RData::A(a) => Some((IpAddr::V4(a.0), r.ttl)),
                _ => None,
            })
            .ok_or_else(|| format!("{key} has no A record in the sandbox DNS"))?;
        let cached = Cached {
            address,
            ttl,
            at: Instant::now(),
            at_wall: SystemTime::now(),
        };
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, cached);
        Ok((cached, Duration::ZERO))
    }

    /// The region listening on `address`, when exactly one does.
    fn region_at(&self, address: IpAddr) -> Option<&Endpoint> {
        let mut matching = self
            .topology
            .regions
            .iter()
            .filter(|e| e.address == address);
        let first = matching.next()?;
        matching.next().is_none().then_some(first)
    }

    /// The name a request is for (see the module comment).
    fn name_for(&self, host: &str) -> Option<String> {
        let bare = host
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map(|(h, _)| h)
            .unwrap_or(host)
            .trim_matches(['[', ']']);
        if bare.parse::<IpAddr>().is_err() && bare != "localhost" && bare.contains('.') {
            return Some(bare.to_ascii_lowercase());
        }
        self.config().api_name
    }

    async fn forward(&self, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let Some(name) = self.name_for(&host) else {
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "no API name is set for the edge: set one through the control API (PUT /_sandbox/edge)"
                    .into(),
            );
        };
        let (answer, age) = match self.resolve(&name).await {
            Ok(a) => a,
            Err(e) => return failure(StatusCode::BAD_GATEWAY, e),
        };
        let mut resp = match self.region_at(answer.address) {
            None => failure(
                StatusCode::BAD_GATEWAY,
                format!(
                    "{name} resolves to {}, which is no single sandbox region's address",
                    answer.address
                ),
            ),
            Some(region) => {
                let body = match axum::body::to_bytes(body, MAX_BODY).await {
                    Ok(b) => b,
                    Err(e) => {
                        return failure(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!("request body: {e}"),
                        );
                    }
                };
                let path = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let mut headers = parts.headers.clone();
                strip_hop_by_hop(&mut headers);
                if let Ok(v) = HeaderValue::from_str(&name) {
                    headers.insert(EDGE_HOST_HEADER, v);
                }
                let sent = self
                    .http
                    .request(parts.method.clone(), format!("{}{path}", region.url()))
                    .headers(headers)
                    .body(body)
                    .send()
                    .await;
                let mut resp = match sent {
                    Ok(upstream) => relay(upstream, parts.method == http::Method::HEAD).await,
                    Err(e) if e.is_timeout() => failure(
                        StatusCode::GATEWAY_TIMEOUT,
                        format!(
                            "{} ({}) did not answer in time",
                            region.name,
                            region.socket()
                        ),
                    ),
                    Err(e) => failure(
                        StatusCode::BAD_GATEWAY,
                        format!("cannot reach {} ({}): {e}", region.name, region.socket()),
                    ),
                };
                if let Ok(v) = HeaderValue::from_str(&region.name) {
                    resp.headers_mut().insert("x-wildrydes-resolved-region", v);
                }
                resp
            }
        };
        let h = resp.headers_mut();
        let age = age.as_millis();
        let resolved_at = answer
            .at_wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        for (k, v) in [
            ("x-wildrydes-resolved-address", answer.address.to_string()),
            ("x-wildrydes-dns-ttl", answer.ttl.to_string()),
            ("x-wildrydes-dns-age-ms", age.to_string()),
            ("x-wildrydes-dns-resolved-at-ms", resolved_at.to_string()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(HeaderName::from_static(k), v);
            }
        }
        resp
    }
}

/// The region's response, hop-by-hop headers dropped (those the
/// `Connection` header names too).
async fn relay(upstream: reqwest::Response, head: bool) -> Response {
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    strip_hop_by_hop(&mut headers);
    // The body's own length is set when the response is written; a HEAD
    // response has no body, so the region's length stands.
    if !head {
        headers.remove(http::header::CONTENT_LENGTH);
    }
    match upstream.bytes().await {
        Ok(body) => {
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = status;
            *r.headers_mut() = headers;
            r
        }
        Err(e) => failure(
            StatusCode::BAD_GATEWAY,
            format!("the region's response broke off: {e}"),
        ),
    }
}

/// Removes hop-by-hop headers, including the ones `Connection` lists.
fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    let listed: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    for h in HOP_BY_HOP
        .iter()
        .copied()
        .chain(listed.iter().map(String::as_str))
    {
        headers.remove(h);
    }
}

async fn handler(State(edge): State<std::sync::Arc<Edge>>, req: Request) -> Response {
    edge.forward(req).await
}

/// Serves the edge on the listener `start` handed over.
pub fn serve(edge: std::sync::Arc<Edge>, listener: std::net::TcpListener) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = axum::Router::new().fallback(handler).with_state(edge);
    tokio::spawn(async move {
        let listener =
            crate::limits::LimitedListener::new(listener, crate::limits::MAX_CONNECTIONS);
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the edge proxy stopped: {e}");
        }
    });
    Ok(())
}
