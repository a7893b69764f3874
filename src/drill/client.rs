//! The region-following user client: how the web UI and the drill's user
//! probes call the ticket API, so that the RTO a drill reports is the one
//! users get (README, "Following the serving region").
//!
//! - It resolves `api.<domain>` through the authoritative DNS (the
//!   sandbox's server, or the hosted zone's name servers on AWS) and keeps
//!   each answer exactly as long as its TTL, like a well-behaved resolver;
//!   it opens a new connection per request so a DNS change shows at once.
//! - An execute-api SigV4 signature names its region, and the other
//!   region's API Gateway refuses it (`403 Credential should be scoped to a
//!   valid region`). So the client signs for the region it last saw serve
//!   (`x-wildrydes-region`) and, on a region-scope 403, a 5xx, a network
//!   error or a timeout, asks the public `GET /health` through the API name
//!   which region serves now, re-signs and retries once.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use hickory_proto::rr::{RData, RecordType};

/// The header every ticket API response carries.
pub const REGION_HEADER: &str = "x-wildrydes-region";

/// Name → (addresses, good until).
type Cache = Arc<Mutex<HashMap<String, (Vec<IpAddr>, Instant)>>>;

/// A resolver asking one set of authoritative servers, caching by TTL.
#[derive(Clone)]
pub struct AuthoritativeDns {
    resolver: hickory_resolver::TokioResolver,
    cache: Cache,
}

/// What the authoritative servers answer for a name right now.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The CNAME chain's targets, then the addresses, as text.
    pub records: Vec<String>,
    pub addresses: Vec<IpAddr>,
    /// The smallest TTL in the answer.
    pub ttl: u32,
}

impl AuthoritativeDns {
    /// A resolver asking `servers` (UDP), with no cache of its own.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> anyhow::Result<Self> {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig};
        anyhow::ensure!(!servers.is_empty(), "no name servers to ask");
        let configs = servers
            .iter()
            .map(|s| {
                let mut c = NameServerConfig::udp(s.ip());
                for connection in &mut c.connections {
                    connection.port = s.port();
                }
                c
            })
            .collect();
        let mut builder = hickory_resolver::Resolver::builder_with_config(
            ResolverConfig::from_name_servers(configs),
            hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
        );
        // hickory's cache keeps answers past their TTL (NOTES.md): off.
        builder.options_mut().cache_size = 0;
        builder.options_mut().timeout = timeout;
        builder.options_mut().attempts = 1;
        Ok(AuthoritativeDns {
            resolver: builder.build()?,
            cache: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Asks the servers now (no cache).
    pub async fn query(&self, name: &str) -> anyhow::Result<Answer> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let lookup = self
            .resolver
            .lookup(fqdn, RecordType::A)
            .await
            .map_err(|e| anyhow::anyhow!("cannot resolve {name}: {e}"))?;
        let mut records = Vec::new();
        let mut addresses = Vec::new();
        let mut ttl = u32::MAX;
        for r in lookup.answers() {
            ttl = ttl.min(r.ttl);
            match &r.data {
                RData::CNAME(c) => records.push(c.0.to_string().trim_end_matches('.').to_owned()),
                RData::A(a) => {
                    records.push(a.0.to_string());
                    addresses.push(IpAddr::V4(a.0));
                }
                RData::AAAA(a) => {
                    records.push(a.0.to_string());
                    addresses.push(IpAddr::V6(a.0));
                }
                _ => {}
            }
        }
        anyhow::ensure!(!addresses.is_empty(), "{name} has no address record");
        Ok(Answer {
            records,
            addresses,
            ttl: if ttl == u32::MAX { 0 } else { ttl },
        })
    }

    /// The addresses for `name`: cached while younger than the TTL.
    pub async fn addresses(&self, name: &str) -> anyhow::Result<Vec<IpAddr>> {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some((addrs, until)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && Instant::now() < *until
        {
            return Ok(addrs.clone());
        }
        let answer = self.query(&key).await?;
        let until = Instant::now() + Duration::from_secs(u64::from(answer.ttl));
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (answer.addresses.clone(), until));
        Ok(answer.addresses)
    }
}

impl reqwest::dns::Resolve for AuthoritativeDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = this
                .addresses(&name)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            let out: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(out)
        })
    }
}

/// The region a DNS answer names: a CNAME into a regional API Gateway name
/// carries it (`….execute-api.<region>.amazonaws.com`); else an address
/// one of `addresses` maps to a region (the sandbox's loopback addresses).
pub fn answer_region(
    answer: &Answer,
    regions: &[String],
    addresses: &HashMap<IpAddr, String>,
) -> Option<String> {
    for record in &answer.records {
        for r in regions {
            if record.contains(&format!(".execute-api.{r}.")) {
                return Some(r.clone());
            }
        }
    }
    answer
        .addresses
        .iter()
        .find_map(|a| addresses.get(a).cloned())
}

/// One HTTP exchange the client made.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// When it was sent.
    pub sent: Instant,
    pub latency: Duration,
    pub status: Option<u16>,
    pub served_by: Option<String>,
    pub signed_for: String,
    pub body: String,
    pub error: Option<String>,
}

impl Exchange {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Whether this failure means "ask again which region serves".
    fn should_relearn(&self) -> bool {
        match self.status {
            None => true,
            Some(s) if s >= 500 => true,
            Some(403) => self.body.contains("Credential should be scoped"),
            _ => false,
        }
    }
}

/// A signed-in user of the ticket API that follows the serving region.
pub struct UserClient {
    http: reqwest::Client,
    /// `http(s)://api.<domain>[:port]`.
    base: String,
    creds: Credentials,
    signing_region: Mutex<String>,
}

impl UserClient {
    /// `base` is the API's URL by name; `dns` resolves it; every request
    /// gives up after `timeout`.
    pub fn new(
        base: &str,
        dns: AuthoritativeDns,
        creds: Credentials,
        initial_region: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(dns))
            .pool_max_idle_per_host(0)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(UserClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            creds,
            signing_region: Mutex::new(initial_region.to_owned()),
        })
    }

    pub fn signing_region(&self) -> String {
        self.signing_region
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_region(&self, region: &str) {
        *self
            .signing_region
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = region.to_owned();
    }

    /// Sends a signed request, following the serving region: the first
    /// exchange and, when it asked for it, the relearn-and-retry one.
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Vec<Exchange> {
        let first = self.send_signed(method, path, body).await;
        if first.ok() || !first.should_relearn() {
            if let Some(r) = &first.served_by {
                self.set_region(r);
            }
            return vec![first];
        }
        let before = self.signing_region();
        match self.serving_region().await {
            Some(now) if now != before => {
                self.set_region(&now);
                let second = self.send_signed(method, path, body).await;
                if let Some(r) = &second.served_by {
                    self.set_region(r);
                }
                vec![first, second]
            }
            _ => vec![first],
        }
    }

    /// Which region serves the API name now, from the public `/health`
    /// (any status: a failing region still names itself).
    pub async fn serving_region(&self) -> Option<String> {
        let resp = self
            .http
            .get(format!("{}/health", self.base))
            .send()
            .await
            .ok()?;
        resp.headers()
            .get(REGION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    async fn send_signed(&self, method: &str, path: &str, body: Option<&str>) -> Exchange {
        let region = self.signing_region();
        let url = format!("{}{path}", self.base);
        let sent = Instant::now();
        let request = match sign(&self.http, &url, method, &region, &self.creds, body) {
            Ok(r) => r,
            Err(e) => {
                return Exchange {
                    sent,
                    latency: Duration::ZERO,
                    status: None,
                    served_by: None,
                    signed_for: region,
                    body: String::new(),
                    error: Some(format!("cannot sign: {e:#}")),
                };
            }
        };
        match request.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let served_by = resp
                    .headers()
                    .get(REGION_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let text = resp.text().await.unwrap_or_default();
                Exchange {
                    sent,
                    latency: sent.elapsed(),
                    status: Some(status),
                    served_by,
                    signed_for: region,
                    error: (!(200..300).contains(&status)).then(|| short(&text)),
                    body: text,
                }
            }
            Err(e) => Exchange {
                sent,
                latency: sent.elapsed(),
                status: None,
                served_by: None,
                signed_for: region,
                body: String::new(),
                error: Some(if e.is_timeout() {
                    "timed out".into()
                } else if e.is_connect() {
                    "cannot connect".into()
                } else {
                    format!("{e}")
                }),
            },
        }
    }
}

fn short(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

/// A request to `url` signed for `execute-api` in `region`.
pub fn sign(
    http: &reqwest::Client,
    url: &str,
    method: &str,
    region: &str,
    creds: &Credentials,
    body: Option<&str>,
) -> anyhow::Result<reqwest::RequestBuilder> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let parsed = reqwest::Url::parse(url)?;
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => anyhow::bail!("{url} has no host"),
    };
    let identity = creds.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let mut headers = vec![("host".to_owned(), host)];
    if body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.unwrap_or("").as_bytes()),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let mut builder = http.request(reqwest::Method::from_bytes(method.as_bytes())?, url);
    for (name, value) in instructions.headers() {
        builder = builder.header(name, value);
    }
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    Ok(builder.body(body.unwrap_or("").to_owned()))
}
