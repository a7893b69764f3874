//! CloudFront in the global process: the distribution control plane
//! (REST-XML, 2020-05-31, signed for us-east-1) and an edge that serves
//! each distribution from its origin.
//!
//! The edge listens on `http://127.0.0.1:<cdn port>/` (state.json). A
//! distribution is picked by `Host`: its domain name
//! `<id>.cloudfront.localhost` (browsers resolve `*.localhost` to loopback
//! by themselves), or, for a bare address, the newest enabled distribution.
//! Content comes from the origin (S3 website endpoints of sandbox regions),
//! the default root object answers `/`, and objects are cached per the
//! default cache behaviour's TTLs (or the managed cache policy's) until
//! they expire or an invalidation removes them. Only the default cache
//! behaviour is applied; viewers are served over plain HTTP, since the
//! sandbox has no certificates (browsers treat loopback origins as secure).
//!
//! Changes take effect at once but a distribution reports `InProgress` for
//! [`DEPLOY_MS`] after each change, and invalidations `InProgress` for
//! [`INVALIDATION_MS`], so waiters and the delete rules behave as on AWS.
//!
//! Why over 800 lines: the service's state and every operation it serves
//! still live together; splitting it into `services/<service>/` (model,
//! operations, an operation table) is the open part of the restructure
//! (issue 11).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::credentials::ACCOUNT_ID;
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::services::route53::{Route53, iso_ms, new_id, now_ms};
use crate::store::Store;
use crate::wire::{request_id, tag_elements, xml_escape};
use crate::xml::Element;

const NS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
/// How long a distribution reports `InProgress` after a change.
pub const DEPLOY_MS: i64 = 1000;
/// How long an invalidation reports `InProgress`.
pub const INVALIDATION_MS: i64 = 500;
/// Domain suffix of sandbox distributions.
pub const DOMAIN_SUFFIX: &str = ".cloudfront.localhost";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Invalidation {
    id: String,
    caller_reference: String,
    paths: Vec<String>,
    created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Distribution {
    id: String,
    etag: String,
    /// The `DistributionConfig` as last set, children only.
    config_xml: String,
    modified_ms: i64,
    tags: BTreeMap<String, String>,
    invalidations: Vec<Invalidation>,
}

/// The parts of a configuration the edge acts on.
struct Settings {
    enabled: bool,
    caller_reference: String,
    default_root_object: Option<String>,
    /// (id, domain name, origin path)
    origins: Vec<(String, String, String)>,
    target_origin: String,
    /// (min, default, max) seconds.
    ttl: (u64, u64, u64),
}

fn config_of(xml: &str) -> Option<Element> {
    Element::parse(format!("<DistributionConfig>{xml}</DistributionConfig>").as_bytes())
}

/// Managed cache policies' TTLs (min, default, max), by id.
fn managed_policy(id: &str) -> Option<(u64, u64, u64)> {
    match id {
        // CachingOptimized and CachingOptimizedForUncompressedObjects.
        "658327ea-f89d-4fab-a63d-7e88639e58f6" | "b2884449-e4de-46a7-ac36-70bc7f1ddd6d" => {
            Some((1, 86_400, 31_536_000))
        }
        // CachingDisabled.
        "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" => Some((0, 0, 0)),
        _ => None,
    }
}

impl Settings {
    /// Reads and validates a configuration as CloudFront does.
    fn read(c: &Element) -> Result<Settings, ServiceError> {
        let invalid =
            |m: &str| -> ServiceError { error(StatusCode::BAD_REQUEST, "InvalidArgument", m) };
        let caller_reference = c
            .text_of("CallerReference")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("CallerReference is required."))?
            .to_owned();
        let enabled = match c.text_of("Enabled") {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(invalid("Enabled must be true or false.")),
        };
        if c.child("Comment").is_none() {
            return Err(invalid("Comment is required."));
        }
        let origins: Vec<(String, String, String)> = c
            .child("Origins")
            .and_then(|o| o.child("Items"))
            .map(|items| {
                items
                    .all("Origin")
                    .map(|o| {
                        (
                            o.text_of("Id").unwrap_or_default().to_owned(),
                            o.text_of("DomainName").unwrap_or_default().to_owned(),
                            o.text_of("OriginPath").unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if origins.is_empty() || origins.iter().any(|(i, d, _)| i.is_empty() || d.is_empty()) {
            return Err(invalid(
                "The distribution needs at least one origin, each with an Id and a DomainName.",
            ));
        }
        let declared = c
            .child("Origins")
            .and_then(|o| o.text_of("Quantity"))
            .and_then(|q| q.parse::<usize>().ok());
        if declared != Some(origins.len()) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "InconsistentQuantities",
                "The value of Quantity and the size of Items don't match.",
            ));
        }
        let behavior = c
            .child("DefaultCacheBehavior")
            .ok_or_else(|| invalid("DefaultCacheBehavior is required."))?;
        let target_origin = behavior
            .text_of("TargetOriginId")
            .unwrap_or_default()
            .to_owned();
        if !origins.iter().any(|(i, _, _)| *i == target_origin) {
            return Err(error(
                StatusCode::NOT_FOUND,
                "NoSuchOrigin",
                "One or more of your origins or origin groups do not exist.",
            ));
        }
        if !matches!(
            behavior.text_of("ViewerProtocolPolicy"),
            Some("allow-all" | "https-only" | "redirect-to-https")
        ) {
            return Err(invalid(
                "ViewerProtocolPolicy must be allow-all, https-only or redirect-to-https.",
            ));
        }
        let num = |name: &str, default: u64| {
            behavior
                .text_of(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let ttl = match behavior.text_of("CachePolicyId") {
            Some(id) if !id.is_empty() => managed_policy(id).unwrap_or((0, 86_400, 31_536_000)),
            _ => (
                num("MinTTL", 0),
                num("DefaultTTL", 86_400),
                num("MaxTTL", 31_536_000),
            ),
        };
        Ok(Settings {
            enabled,
            caller_reference,
            default_root_object: c
                .text_of("DefaultRootObject")
                .filter(|s| !s.is_empty())
                .map(|s| s.trim_start_matches('/').to_owned()),
            origins,
            target_origin,
            ttl,
        })
    }
}

impl Distribution {
    fn arn(&self) -> String {
        format!("arn:aws:cloudfront::{ACCOUNT_ID}:distribution/{}", self.id)
    }

    fn domain(&self) -> String {
        format!("{}{DOMAIN_SUFFIX}", self.id.to_ascii_lowercase())
    }

    fn config(&self) -> Element {
        config_of(&self.config_xml).unwrap_or_default()
    }

    fn settings(&self) -> Option<Settings> {
        Settings::read(&self.config()).ok()
    }

    fn status(&self) -> &'static str {
        if now_ms() - self.modified_ms < DEPLOY_MS {
            "InProgress"
        } else {
            "Deployed"
        }
    }

    fn in_progress_invalidations(&self) -> usize {
        self.invalidations
            .iter()
            .filter(|i| now_ms() - i.created_ms < INVALIDATION_MS)
            .count()
    }

    fn xml(&self) -> String {
        format!(
            "<Id>{}</Id><ARN>{}</ARN><Status>{}</Status><LastModifiedTime>{}</LastModifiedTime><InProgressInvalidationBatches>{}</InProgressInvalidationBatches><DomainName>{}</DomainName><ActiveTrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></ActiveTrustedSigners><ActiveTrustedKeyGroups><Enabled>false</Enabled><Quantity>0</Quantity></ActiveTrustedKeyGroups><DistributionConfig>{}</DistributionConfig>",
            self.id,
            self.arn(),
            self.status(),
            iso_ms(self.modified_ms),
            self.in_progress_invalidations(),
            self.domain(),
            self.config_xml
        )
    }

    /// The summary ListDistributions gives, every member the model
    /// requires present (defaults where the configuration leaves one out).
    fn summary_xml(&self) -> String {
        let c = self.config();
        let part = |name: &str, default: &str| {
            c.child(name)
                .map(Element::to_xml)
                .unwrap_or_else(|| format!("<{name}>{default}</{name}>"))
        };
        let mut out = format!(
            "<DistributionSummary><Id>{}</Id><ARN>{}</ARN><Status>{}</Status><LastModifiedTime>{}</LastModifiedTime><DomainName>{}</DomainName>",
            self.id,
            self.arn(),
            self.status(),
            iso_ms(self.modified_ms),
            self.domain()
        );
        for (name, default) in [
            ("Aliases", "<Quantity>0</Quantity>"),
            ("Origins", "<Quantity>0</Quantity>"),
            ("OriginGroups", "<Quantity>0</Quantity>"),
            ("DefaultCacheBehavior", ""),
            ("CacheBehaviors", "<Quantity>0</Quantity>"),
            ("CustomErrorResponses", "<Quantity>0</Quantity>"),
            ("Comment", ""),
            ("PriceClass", "PriceClass_All"),
            ("Enabled", "false"),
            (
                "ViewerCertificate",
                "<CloudFrontDefaultCertificate>true</CloudFrontDefaultCertificate><CertificateSource>cloudfront</CertificateSource>",
            ),
            (
                "Restrictions",
                "<GeoRestriction><RestrictionType>none</RestrictionType><Quantity>0</Quantity></GeoRestriction>",
            ),
            ("WebACLId", ""),
            ("HttpVersion", "http2"),
            ("IsIPV6Enabled", "true"),
            ("Staging", "false"),
        ] {
            out.push_str(&part(name, default));
        }
        out.push_str("</DistributionSummary>");
        out
    }
}

impl Invalidation {
    fn status(&self) -> &'static str {
        if now_ms() - self.created_ms < INVALIDATION_MS {
            "InProgress"
        } else {
            "Completed"
        }
    }

    fn xml(&self) -> String {
        let paths: String = self
            .paths
            .iter()
            .map(|p| format!("<Path>{}</Path>", xml_escape(p)))
            .collect();
        format!(
            "<Id>{}</Id><Status>{}</Status><CreateTime>{}</CreateTime><InvalidationBatch><Paths><Quantity>{}</Quantity><Items>{paths}</Items></Paths><CallerReference>{}</CallerReference></InvalidationBatch>",
            self.id,
            self.status(),
            iso_ms(self.created_ms),
            self.paths.len(),
            xml_escape(&self.caller_reference)
        )
    }

    /// Whether the invalidation covers `path` (a trailing `*` matches any
    /// suffix, as on CloudFront).
    fn covers(&self, path: &str) -> bool {
        self.paths.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => p == path,
        })
    }
}

/// A CloudFront error (the door gives it the `ErrorResponse` envelope);
/// as an [`Outcome`] or a [`ServiceError`], whichever the caller returns.
pub fn error<T: From<ServiceError>>(status: StatusCode, code: &str, message: &str) -> T {
    ServiceError::new(status, code, message).into()
}

fn ok(status: StatusCode, element: &str, inner: &str, headers: &[(&str, String)]) -> Outcome {
    let mut reply = Reply::new(format!(
        "<?xml version=\"1.0\"?>\n<{element} xmlns=\"{NS}\">{inner}</{element}>"
    ))
    .status(status);
    for (k, v) in headers {
        reply = reply.header(k, v);
    }
    Ok(reply)
}

fn no_content() -> Outcome {
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

fn no_such_distribution<T: From<ServiceError>>() -> T {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchDistribution",
        "The specified distribution does not exist.",
    )
}

fn location(rest: &str) -> String {
    format!("https://cloudfront.amazonaws.com/2020-05-31/{rest}")
}

/// One cached object.
struct Cached {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    stored: Instant,
    ttl: Duration,
}

pub struct CloudFront {
    route53: Arc<Route53>,
    distributions: Store<BTreeMap<String, Distribution>>,
    /// (distribution id, path) → object.
    cache: Mutex<HashMap<(String, String), Cached>>,
    http: reqwest::Client,
}

impl CloudFront {
    pub fn open(file: PathBuf, route53: Arc<Route53>) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(CloudFront {
            route53,
            distributions: Store::open(file)?,
            cache: Mutex::new(HashMap::new()),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .connect_timeout(Duration::from_secs(10))
                .build()?,
        }))
    }

    /// Handles an (authenticated) control-plane request under `/2020-05-31/`.
    pub fn handle(&self, input: &Input) -> Outcome {
        let (method, path, headers) = (&input.method, input.path.as_str(), &input.headers);
        let body: &[u8] = &input.body;
        let params = input.params();
        let seg: Vec<&str> = path.trim_matches('/').split('/').skip(1).collect();
        let if_match = headers
            .get(http::header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut guard = self.distributions.lock();
        let d = &mut *guard;
        let before = (*method != Method::GET).then(|| d.clone());
        let resp = match (method.as_str(), seg.as_slice()) {
            ("POST", ["distribution"]) => self.create(d, &params, body),
            ("GET", ["distribution"]) => list(d, &params),
            ("GET", ["distribution", id]) => match d.get(*id) {
                Some(x) => ok(
                    StatusCode::OK,
                    "Distribution",
                    &x.xml(),
                    &[("ETag", x.etag.clone())],
                ),
                None => no_such_distribution(),
            },
            ("GET", ["distribution", id, "config"]) => match d.get(*id) {
                Some(x) => ok(
                    StatusCode::OK,
                    "DistributionConfig",
                    &x.config_xml,
                    &[("ETag", x.etag.clone())],
                ),
                None => no_such_distribution(),
            },
            ("PUT", ["distribution", id, "config"]) => update(d, id, if_match, body),
            ("DELETE", ["distribution", id]) => delete(d, id, if_match),
            ("POST", ["distribution", id, "invalidation"]) => self.invalidate(d, id, body),
            ("GET", ["distribution", id, "invalidation"]) => match d.get(*id) {
                Some(x) => {
                    let items: String = x
                        .invalidations
                        .iter()
                        .rev()
                        .map(|i| {
                            format!(
                                "<InvalidationSummary><Id>{}</Id><CreateTime>{}</CreateTime><Status>{}</Status></InvalidationSummary>",
                                i.id,
                                iso_ms(i.created_ms),
                                i.status()
                            )
                        })
                        .collect();
                    ok(
                        StatusCode::OK,
                        "InvalidationList",
                        &format!(
                            "<Marker></Marker><MaxItems>100</MaxItems><IsTruncated>false</IsTruncated><Quantity>{}</Quantity><Items>{items}</Items>",
                            x.invalidations.len()
                        ),
                        &[],
                    )
                }
                None => no_such_distribution(),
            },
            ("GET", ["distribution", id, "invalidation", inv]) => {
                match d
                    .get(*id)
                    .map(|x| x.invalidations.iter().find(|i| i.id == *inv))
                {
                    None => no_such_distribution(),
                    Some(None) => error(
                        StatusCode::NOT_FOUND,
                        "NoSuchInvalidation",
                        "The specified invalidation does not exist.",
                    ),
                    Some(Some(i)) => ok(StatusCode::OK, "Invalidation", &i.xml(), &[]),
                }
            }
            ("GET", ["tagging"]) => match by_arn(d, &params) {
                Some(x) => ok(StatusCode::OK, "Tags", &tags_xml(&x.tags), &[]),
                None => no_such_resource(),
            },
            ("POST", ["tagging"]) => tagging(d, &params, body),
            _ => error(
                StatusCode::NOT_FOUND,
                "InvalidArgument",
                &format!("the sandbox's CloudFront has no operation {method} {path}"),
            ),
        };
        if let Some(before) = before
            && resp.is_ok()
        {
            self.distributions.commit(d, before)?;
        }
        resp
    }

    fn create(
        &self,
        d: &mut BTreeMap<String, Distribution>,
        params: &BTreeMap<String, String>,
        body: &[u8],
    ) -> Outcome {
        let Some(doc) = Element::parse(body) else {
            return malformed();
        };
        let (config, tags) = if params.contains_key("WithTags") {
            let Some(config) = doc.child("DistributionConfig") else {
                return malformed();
            };
            (config.clone(), read_tags(doc.child("Tags")))
        } else {
            (doc, BTreeMap::new())
        };
        let settings = Settings::read(&config)?;
        let config_xml = config.inner_xml();
        if let Some(existing) = d.values().find(|x| {
            x.settings()
                .is_some_and(|s| s.caller_reference == settings.caller_reference)
        }) {
            return error(
                StatusCode::CONFLICT,
                "DistributionAlreadyExists",
                &format!(
                    "The caller reference that you are using to create a distribution is associated with another distribution. Already exists: {}",
                    existing.id
                ),
            );
        }
        let x = Distribution {
            id: new_id("E"),
            etag: new_id("E"),
            config_xml,
            modified_ms: now_ms(),
            tags,
            invalidations: Vec::new(),
        };
        let resp = ok(
            StatusCode::CREATED,
            "Distribution",
            &x.xml(),
            &[
                ("ETag", x.etag.clone()),
                ("Location", location(&format!("distribution/{}", x.id))),
            ],
        );
        d.insert(x.id.clone(), x);
        resp
    }

    fn invalidate(&self, d: &mut BTreeMap<String, Distribution>, id: &str, body: &[u8]) -> Outcome {
        let Some(x) = d.get_mut(id) else {
            return no_such_distribution();
        };
        let Some(batch) = Element::parse(body) else {
            return malformed();
        };
        let paths: Vec<String> = batch
            .child("Paths")
            .and_then(|p| p.child("Items"))
            .map(|items| items.all("Path").map(|p| p.text.clone()).collect())
            .unwrap_or_default();
        let caller_reference = batch
            .text_of("CallerReference")
            .unwrap_or_default()
            .to_owned();
        if paths.is_empty() || caller_reference.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "An invalidation needs at least one path and a CallerReference.",
            );
        }
        if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                &format!("Your request contains one or more invalid invalidation paths: {p}"),
            );
        }
        if let Some(previous) = x
            .invalidations
            .iter()
            .find(|i| i.caller_reference == caller_reference)
        {
            if previous.paths != paths {
                return error(
                    StatusCode::CONFLICT,
                    "InvalidationBatchAlreadyExists",
                    "The CallerReference of this invalidation batch was used with different paths.",
                );
            }
            return ok(StatusCode::CREATED, "Invalidation", &previous.xml(), &[]);
        }
        let inv = Invalidation {
            id: new_id("I"),
            caller_reference,
            paths,
            created_ms: now_ms(),
        };
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(dist, path), _| dist != id || !inv.covers(path));
        let resp = ok(
            StatusCode::CREATED,
            "Invalidation",
            &inv.xml(),
            &[(
                "Location",
                location(&format!("distribution/{id}/invalidation/{}", inv.id)),
            )],
        );
        x.invalidations.push(inv);
        resp
    }

    /// The distribution a viewer request is for (see the module comment).
    fn viewer_target(&self, host: &str) -> Option<Distribution> {
        let bare = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let d = self.distributions.lock();
        match bare.strip_suffix(DOMAIN_SUFFIX) {
            Some(id) => d.get(&id.to_ascii_uppercase()).cloned(),
            None => d
                .values()
                .filter(|x| x.settings().is_some_and(|s| s.enabled))
                .max_by_key(|x| x.modified_ms)
                .cloned(),
        }
    }

    /// Serves a viewer request.
    async fn view(&self, method: &Method, path: &str, host: &str) -> Response {
        let Some(x) = self.viewer_target(host) else {
            return viewer_error(StatusCode::FORBIDDEN, "Bad request.");
        };
        let Some(settings) = x.settings().filter(|s| s.enabled) else {
            return viewer_error(StatusCode::FORBIDDEN, "The distribution is disabled.");
        };
        if !matches!(*method, Method::GET | Method::HEAD) {
            return viewer_error(
                StatusCode::FORBIDDEN,
                "This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests.",
            );
        }
        let path = match (&settings.default_root_object, path) {
            (Some(root), "/") => format!("/{root}"),
            _ => path.to_owned(),
        };
        let key = (x.id.clone(), path.clone());
        let hit = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(&key)
                .filter(|c| c.stored.elapsed() < c.ttl)
                .map(|c| {
                    (
                        c.status,
                        c.headers.clone(),
                        c.body.clone(),
                        c.stored.elapsed().as_secs(),
                    )
                })
        };
        let mut resp = match hit {
            Some((status, headers, body, age)) => {
                let mut r = Response::new(Body::from(body));
                *r.status_mut() = status;
                *r.headers_mut() = headers;
                set(&mut r, "age", &age.to_string());
                set(&mut r, "x-cache", "Hit from cloudfront");
                r
            }
            None => match self.fetch(&settings, &path).await {
                Ok((status, headers, body)) => {
                    let ttl = ttl_for(&headers, settings.ttl);
                    if status == StatusCode::OK && ttl > 0 {
                        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
                            key,
                            Cached {
                                status,
                                headers: headers.clone(),
                                body: body.clone(),
                                stored: Instant::now(),
                                ttl: Duration::from_secs(ttl),
                            },
                        );
                    }
                    let mut r = Response::new(Body::from(body));
                    *r.status_mut() = status;
                    *r.headers_mut() = headers;
                    set(&mut r, "x-cache", "Miss from cloudfront");
                    r
                }
                Err(message) => viewer_error(StatusCode::BAD_GATEWAY, &message),
            },
        };
        set(
            &mut resp,
            "via",
            &format!("1.1 {} (CloudFront)", x.domain()),
        );
        set(&mut resp, "x-amz-cf-pop", "SANDBOX1");
        set(&mut resp, "x-amz-cf-id", &request_id());
        // For HEAD the server drops the body after setting Content-Length
        // from it, as CloudFront reports the object's length.
        resp
    }

    /// Fetches `path` from the distribution's target origin.
    async fn fetch(
        &self,
        settings: &Settings,
        path: &str,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        let (_, domain, origin_path) = settings
            .origins
            .iter()
            .find(|(id, _, _)| *id == settings.target_origin)
            .ok_or("the target origin is gone")?;
        let endpoint = self.route53.service_endpoint(domain).ok_or_else(|| {
            format!("CloudFront wasn't able to connect to the origin {domain}: it is no sandbox S3 website endpoint.")
        })?;
        let url = format!("{}{origin_path}{path}", endpoint.url());
        let upstream = self
            .http
            .get(&url)
            .header(http::header::HOST, domain.as_str())
            .send()
            .await
            .map_err(|e| {
                format!("CloudFront wasn't able to connect to the origin {domain}: {e}")
            })?;
        let status = upstream.status();
        let mut headers = upstream.headers().clone();
        for h in [
            "connection",
            "transfer-encoding",
            "content-length",
            "keep-alive",
        ] {
            headers.remove(h);
        }
        let body = upstream
            .bytes()
            .await
            .map_err(|e| format!("the origin's response broke off: {e}"))?;
        Ok((status, headers, body))
    }
}

/// The object's TTL: the origin's `Cache-Control` max-age clamped to the
/// behaviour's bounds, else its default; not cached for `no-store`,
/// `no-cache` or `private` unless the minimum says otherwise.
fn ttl_for(headers: &HeaderMap, (min, default, max): (u64, u64, u64)) -> u64 {
    let cc = headers
        .get(http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let directive = |name: &str| {
        cc.split(',').find_map(|d| {
            d.trim()
                .strip_prefix(name)
                .and_then(|v| v.strip_prefix('='))
                .and_then(|v| v.trim_matches('"').parse::<u64>().ok())
        })
    };
    if ["no-store", "no-cache", "private"]
        .iter()
        .any(|d| cc.split(',').any(|x| x.trim() == *d))
    {
        return min;
    }
    match directive("s-maxage").or_else(|| directive("max-age")) {
        Some(age) => age.clamp(min, max.max(min)),
        None => default.clamp(min, max.max(min)),
    }
}

fn set(r: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// CloudFront's own error page.
fn viewer_error(status: StatusCode, message: &str) -> Response {
    let mut r = Response::new(Body::from(format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" \"http://www.w3.org/TR/html4/loose.dtd\">\n<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY>\n<H1>{} ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\n{}\n</BODY></HTML>",
        status.as_u16(),
        xml_escape(message)
    )));
    *r.status_mut() = status;
    set(&mut r, "content-type", "text/html");
    set(&mut r, "x-cache", "Error from cloudfront");
    r
}

fn malformed<T: From<ServiceError>>() -> T {
    error(
        StatusCode::BAD_REQUEST,
        "MalformedInput",
        "Could not parse the request body as XML.",
    )
}

fn no_such_resource<T: From<ServiceError>>() -> T {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchResource",
        "The specified CloudFront resource does not exist.",
    )
}

fn read_tags(tags: Option<&Element>) -> BTreeMap<String, String> {
    tags.and_then(|t| t.child("Items"))
        .map(|items| {
            items
                .all("Tag")
                .filter_map(|t| {
                    Some((
                        t.text_of("Key")?.to_owned(),
                        t.text_of("Value").unwrap_or_default().to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tags_xml(tags: &BTreeMap<String, String>) -> String {
    format!("<Items>{}</Items>", tag_elements(tags))
}

fn by_arn<'a>(
    d: &'a BTreeMap<String, Distribution>,
    params: &BTreeMap<String, String>,
) -> Option<&'a Distribution> {
    let arn = params.get("Resource")?;
    d.values().find(|x| x.arn() == *arn)
}

fn tagging(
    d: &mut BTreeMap<String, Distribution>,
    params: &BTreeMap<String, String>,
    body: &[u8],
) -> Outcome {
    let Some(id) = by_arn(d, params).map(|x| x.id.clone()) else {
        return no_such_resource();
    };
    let Some(doc) = Element::parse(body) else {
        return malformed();
    };
    let x = d.get_mut(&id).expect("found by ARN");
    match params.get("Operation").map(String::as_str) {
        Some("Tag") => {
            x.tags.extend(read_tags(Some(&doc)));
            no_content()
        }
        Some("Untag") => {
            if let Some(items) = doc.child("Items") {
                for k in items.all("Key") {
                    x.tags.remove(&k.text);
                }
            }
            no_content()
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Operation must be Tag or Untag.",
        ),
    }
}

fn list(d: &BTreeMap<String, Distribution>, params: &BTreeMap<String, String>) -> Outcome {
    let max: usize = params
        .get("MaxItems")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let marker = params.get("Marker").cloned().unwrap_or_default();
    let after: Vec<&Distribution> = d
        .values()
        .filter(|x| marker.is_empty() || x.id > marker)
        .collect();
    let page = &after[..after.len().min(max)];
    let truncated = after.len() > max;
    let items: String = page.iter().map(|x| x.summary_xml()).collect();
    let next = if truncated {
        format!(
            "<NextMarker>{}</NextMarker>",
            page.last().map(|x| x.id.as_str()).unwrap_or("")
        )
    } else {
        String::new()
    };
    ok(
        StatusCode::OK,
        "DistributionList",
        &format!(
            "<Marker>{}</Marker>{next}<MaxItems>{max}</MaxItems><IsTruncated>{truncated}</IsTruncated><Quantity>{}</Quantity><Items>{items}</Items>",
            xml_escape(&marker),
            page.len()
        ),
        &[],
    )
}

/// Checks `If-Match` against the distribution's ETag.
fn precondition(x: &Distribution, if_match: Option<String>) -> Result<(), ServiceError> {
    match if_match {
        None => Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidIfMatchVersion",
            "The If-Match version is missing or not valid for the resource.",
        )),
        Some(tag) if tag.trim_matches('"') != x.etag => Err(error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "The precondition given in one or more of the request header fields evaluated to false.",
        )),
        Some(_) => Ok(()),
    }
}

fn update(
    d: &mut BTreeMap<String, Distribution>,
    id: &str,
    if_match: Option<String>,
    body: &[u8],
) -> Outcome {
    let Some(x) = d.get_mut(id) else {
        return no_such_distribution();
    };
    precondition(x, if_match)?;
    let Some(config) = Element::parse(body) else {
        return malformed();
    };
    let settings = Settings::read(&config)?;
    if x.settings()
        .is_some_and(|old| old.caller_reference != settings.caller_reference)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "IllegalUpdate",
            "Origin and CallerReference cannot be updated.",
        );
    }
    x.config_xml = config.inner_xml();
    x.etag = new_id("E");
    x.modified_ms = now_ms();
    ok(
        StatusCode::OK,
        "Distribution",
        &x.xml(),
        &[("ETag", x.etag.clone())],
    )
}

fn delete(d: &mut BTreeMap<String, Distribution>, id: &str, if_match: Option<String>) -> Outcome {
    let Some(x) = d.get(id) else {
        return no_such_distribution();
    };
    precondition(x, if_match)?;
    if x.settings().is_some_and(|s| s.enabled) || x.status() != "Deployed" {
        return error(
            StatusCode::CONFLICT,
            "DistributionNotDisabled",
            "The distribution you are trying to delete has not been disabled.",
        );
    }
    d.remove(id);
    no_content()
}

async fn viewer(State(cf): State<Arc<CloudFront>>, req: Request) -> Response {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    cf.view(req.method(), req.uri().path(), &host).await
}

/// Serves the viewer side on the listener `start` handed over.
pub fn serve(cf: Arc<CloudFront>, listener: std::net::TcpListener) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = axum::Router::new().fallback(viewer).with_state(cf);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the CloudFront edge stopped: {e}");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_follows_cache_control_within_the_bounds() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_str(v).unwrap(),
            );
            m
        };
        let bounds = (0, 86_400, 31_536_000);
        assert_eq!(ttl_for(&HeaderMap::new(), bounds), 86_400);
        assert_eq!(ttl_for(&h("max-age=60"), bounds), 60);
        assert_eq!(ttl_for(&h("public, s-maxage=5, max-age=60"), bounds), 5);
        assert_eq!(ttl_for(&h("no-store"), bounds), 0);
        assert_eq!(ttl_for(&h("max-age=60"), (120, 300, 600)), 120);
        assert_eq!(ttl_for(&h("max-age=6000"), (0, 300, 600)), 600);
    }

    #[test]
    fn invalidation_paths_match_exactly_or_by_prefix() {
        let inv = Invalidation {
            id: "I1".into(),
            caller_reference: "r".into(),
            paths: vec!["/index.html".into(), "/js/*".into()],
            created_ms: 0,
        };
        assert!(inv.covers("/index.html"));
        assert!(inv.covers("/js/app.js"));
        assert!(!inv.covers("/"));
        assert!(!inv.covers("/index.html.bak"));
    }
}
