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

mod operations;
mod viewer;

pub use viewer::serve;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::credentials::ACCOUNT_ID;
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::services::route53::{Route53, iso_ms, new_id, now_ms};
use crate::store::{OpenError, Store};
use crate::wire::xml_escape;
use crate::xml::Element;
use operations::{by_arn, delete, list, no_such_resource, tagging, tags_xml, update};

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
    pub fn open(file: PathBuf, route53: Arc<Route53>) -> Result<Arc<Self>, OpenError> {
        Ok(Arc::new(CloudFront {
            route53,
            distributions: Store::open(file)?,
            cache: Mutex::new(HashMap::new()),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(OpenError::Client)?,
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
