//! Route 53 in the global process: hosted zones and record sets (failover,
//! weighted and alias routing; atomic, validated change batches), health
//! checks, and the answers those records give (see [`Route53::resolve`]),
//! which the health checkers ([`health`]) use to find their targets.

pub mod health;
mod operations;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use http::{Method, StatusCode};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::store::{Store, StoreError};
use crate::topology::Topology;
use crate::wire::xml_escape;
use crate::xml::Element;

const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// An alias target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    pub zone_id: String,
    pub dns_name: String,
    pub evaluate: bool,
}

/// One resource record set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    pub name: String,
    pub rtype: String,
    pub set_id: Option<String>,
    pub weight: Option<u64>,
    pub failover: Option<String>,
    pub ttl: Option<u64>,
    pub values: Vec<String>,
    pub alias: Option<Alias>,
    pub health_check_id: Option<String>,
}

impl RecordSet {
    fn same_identity(&self, other: &RecordSet) -> bool {
        self.name == other.name && self.rtype == other.rtype && self.set_id == other.set_id
    }

    fn describe(&self) -> String {
        match &self.set_id {
            Some(id) => format!(
                "[name='{}', type='{}', set-identifier='{id}']",
                self.name, self.rtype
            ),
            None => format!("[name='{}', type='{}']", self.name, self.rtype),
        }
    }

    fn xml(&self) -> String {
        let mut x = format!(
            "<ResourceRecordSet><Name>{}</Name><Type>{}</Type>",
            xml_escape(&self.name),
            self.rtype
        );
        if let Some(id) = &self.set_id {
            x.push_str(&format!(
                "<SetIdentifier>{}</SetIdentifier>",
                xml_escape(id)
            ));
        }
        if let Some(w) = self.weight {
            x.push_str(&format!("<Weight>{w}</Weight>"));
        }
        if let Some(f) = &self.failover {
            x.push_str(&format!("<Failover>{f}</Failover>"));
        }
        if let Some(ttl) = self.ttl {
            x.push_str(&format!("<TTL>{ttl}</TTL>"));
        }
        if !self.values.is_empty() {
            x.push_str("<ResourceRecords>");
            for v in &self.values {
                x.push_str(&format!(
                    "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                    xml_escape(v)
                ));
            }
            x.push_str("</ResourceRecords>");
        }
        if let Some(a) = &self.alias {
            x.push_str(&format!(
                "<AliasTarget><HostedZoneId>{}</HostedZoneId><DNSName>{}</DNSName><EvaluateTargetHealth>{}</EvaluateTargetHealth></AliasTarget>",
                xml_escape(&a.zone_id),
                xml_escape(&a.dns_name),
                a.evaluate
            ));
        }
        if let Some(h) = &self.health_check_id {
            x.push_str(&format!("<HealthCheckId>{}</HealthCheckId>", xml_escape(h)));
        }
        x.push_str("</ResourceRecordSet>");
        x
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub caller_reference: String,
    pub comment: String,
    pub records: Vec<RecordSet>,
}

/// A health check's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckConfig {
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub kind: String,
    pub path: Option<String>,
    pub fqdn: Option<String>,
    pub interval: u32,
    pub threshold: u32,
    pub inverted: bool,
    pub disabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthCheck {
    pub id: String,
    pub caller_reference: String,
    pub config: HealthCheckConfig,
    pub version: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub zones: BTreeMap<String, Zone>,
    pub health_checks: BTreeMap<String, HealthCheck>,
    /// Change id → submitted at (unix ms).
    pub changes: BTreeMap<String, i64>,
}

impl State {
    /// The most specific zone `name` (fully qualified) falls in, if any.
    pub fn zone_for(&self, name: &str) -> Option<&Zone> {
        self.zones
            .values()
            .filter(|z| name == z.name || name.ends_with(&format!(".{}", z.name)))
            .max_by_key(|z| z.name.len())
    }
}

pub struct Route53 {
    pub topology: Topology,
    pub state: Store<State>,
    pub checkers: Arc<health::Checkers>,
}

pub(crate) fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn iso_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

pub(crate) fn new_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..13)
        .map(|_| b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[rng.random_range(0..36)] as char)
        .collect();
    format!("{prefix}{tail}")
}

/// A Route 53 error (the door gives it the `ErrorResponse` envelope).
pub fn error(status: StatusCode, code: &str, message: &str) -> Outcome {
    Err(ServiceError::new(status, code, message))
}

fn ok(status: StatusCode, element: &str, inner: String) -> Outcome {
    Ok(Reply::new(format!(
        "<?xml version=\"1.0\"?>\n<{element} xmlns=\"{NS}\">{inner}</{element}>"
    ))
    .status(status))
}

/// Lower-cases a DNS name and adds the trailing dot.
pub fn fqdn(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    if n.ends_with('.') { n } else { format!("{n}.") }
}

fn zone_id_of(raw: &str) -> &str {
    raw.trim_start_matches("/hostedzone/")
}

impl Zone {
    fn xml(&self) -> String {
        format!(
            "<HostedZone><Id>/hostedzone/{}</Id><Name>{}</Name><CallerReference>{}</CallerReference><Config><Comment>{}</Comment><PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>{}</ResourceRecordSetCount></HostedZone>",
            self.id,
            xml_escape(&self.name),
            xml_escape(&self.caller_reference),
            xml_escape(&self.comment),
            self.records.len()
        )
    }

    fn delegation(&self) -> String {
        "<DelegationSet><NameServers><NameServer>ns-1.sandbox.wildrydes.test</NameServer><NameServer>ns-2.sandbox.wildrydes.test</NameServer></NameServers></DelegationSet>".into()
    }
}

impl HealthCheck {
    fn xml(&self) -> String {
        let c = &self.config;
        let mut x = String::new();
        if let Some(ip) = &c.ip {
            x.push_str(&format!("<IPAddress>{ip}</IPAddress>"));
        }
        if let Some(p) = c.port {
            x.push_str(&format!("<Port>{p}</Port>"));
        }
        x.push_str(&format!("<Type>{}</Type>", c.kind));
        if let Some(p) = &c.path {
            x.push_str(&format!("<ResourcePath>{}</ResourcePath>", xml_escape(p)));
        }
        if let Some(f) = &c.fqdn {
            x.push_str(&format!(
                "<FullyQualifiedDomainName>{}</FullyQualifiedDomainName>",
                xml_escape(f)
            ));
        }
        x.push_str(&format!(
            "<RequestInterval>{}</RequestInterval><FailureThreshold>{}</FailureThreshold><MeasureLatency>false</MeasureLatency><Inverted>{}</Inverted><Disabled>{}</Disabled><EnableSNI>{}</EnableSNI>",
            c.interval,
            c.threshold,
            c.inverted,
            c.disabled,
            c.kind == "HTTPS"
        ));
        format!(
            "<HealthCheck><Id>{}</Id><CallerReference>{}</CallerReference><HealthCheckConfig>{x}</HealthCheckConfig><HealthCheckVersion>{}</HealthCheckVersion></HealthCheck>",
            self.id,
            xml_escape(&self.caller_reference),
            self.version
        )
    }
}

fn parse_record(e: &Element) -> Result<RecordSet, String> {
    let name = fqdn(e.text_of("Name").ok_or("ResourceRecordSet needs a Name")?);
    let rtype = e
        .text_of("Type")
        .ok_or("ResourceRecordSet needs a Type")?
        .to_ascii_uppercase();
    if !matches!(
        rtype.as_str(),
        "A" | "AAAA" | "CNAME" | "TXT" | "NS" | "SOA" | "MX"
    ) {
        return Err(format!("The sandbox does not serve {rtype} records"));
    }
    let alias = e.child("AliasTarget").map(|a| Alias {
        zone_id: a.text_of("HostedZoneId").unwrap_or_default().to_owned(),
        dns_name: fqdn(a.text_of("DNSName").unwrap_or_default()),
        evaluate: a.text_of("EvaluateTargetHealth") == Some("true"),
    });
    let values: Vec<String> = e
        .child("ResourceRecords")
        .map(|r| {
            r.all("ResourceRecord")
                .filter_map(|v| v.text_of("Value").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let ttl = e
        .text_of("TTL")
        .map(|t| t.parse::<u64>().map_err(|_| format!("Invalid TTL {t}")))
        .transpose()?;
    let set = RecordSet {
        name,
        rtype,
        set_id: e.text_of("SetIdentifier").map(str::to_owned),
        weight: e.text_of("Weight").and_then(|w| w.parse().ok()),
        failover: e.text_of("Failover").map(str::to_owned),
        ttl,
        values,
        alias,
        health_check_id: e.text_of("HealthCheckId").map(str::to_owned),
    };
    if set.alias.is_some() && (set.ttl.is_some() || !set.values.is_empty()) {
        return Err(format!(
            "Alias record set {} must not have a TTL or resource records",
            set.describe()
        ));
    }
    if set.alias.is_none() && (set.ttl.is_none() || set.values.is_empty()) {
        return Err(format!(
            "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords]], but found none in Change with [Action=?, Name={}, Type={}, SetIdentifier={}]",
            set.name,
            set.rtype,
            set.set_id.as_deref().unwrap_or("null")
        ));
    }
    if (set.failover.is_some() || set.weight.is_some()) && set.set_id.is_none() {
        return Err(format!(
            "Invalid request: Missing field 'SetIdentifier' in Change with [Action=?, Name={}, Type={}]",
            set.name, set.rtype
        ));
    }
    if let Some(f) = &set.failover
        && f != "PRIMARY"
        && f != "SECONDARY"
    {
        return Err(format!("Invalid failover value {f}: PRIMARY or SECONDARY"));
    }
    Ok(set)
}

fn parse_health_check_config(
    c: &Element,
    base: Option<&HealthCheckConfig>,
) -> Result<HealthCheckConfig, String> {
    let kind = c
        .text_of("Type")
        .map(str::to_owned)
        .or(base.map(|b| b.kind.clone()))
        .ok_or("Type is required")?;
    if !matches!(kind.as_str(), "HTTP" | "HTTPS" | "TCP") {
        return Err(format!(
            "The sandbox supports HTTP, HTTPS and TCP health checks, not {kind}"
        ));
    }
    let num = |name: &str| {
        c.text_of(name)
            .map(|v| v.parse::<u32>().map_err(|_| format!("Invalid {name} {v}")))
            .transpose()
    };
    let cfg = HealthCheckConfig {
        ip: c
            .text_of("IPAddress")
            .map(str::to_owned)
            .or(base.and_then(|b| b.ip.clone())),
        port: match num("Port")? {
            Some(p) => Some(
                u16::try_from(p)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("Invalid Port {p}: 1 to 65535"))?,
            ),
            None => base.and_then(|b| b.port),
        },
        path: c
            .text_of("ResourcePath")
            .map(str::to_owned)
            .or(base.and_then(|b| b.path.clone())),
        fqdn: c
            .text_of("FullyQualifiedDomainName")
            .map(str::to_owned)
            .or(base.and_then(|b| b.fqdn.clone())),
        interval: num("RequestInterval")?
            .or(base.map(|b| b.interval))
            .unwrap_or(30),
        threshold: num("FailureThreshold")?
            .or(base.map(|b| b.threshold))
            .unwrap_or(3),
        inverted: c
            .text_of("Inverted")
            .map(|v| v == "true")
            .or(base.map(|b| b.inverted))
            .unwrap_or(false),
        disabled: c
            .text_of("Disabled")
            .map(|v| v == "true")
            .or(base.map(|b| b.disabled))
            .unwrap_or(false),
        kind,
    };
    if cfg.ip.is_none() && cfg.fqdn.is_none() {
        return Err("A health check needs an IPAddress or a FullyQualifiedDomainName".into());
    }
    check_endpoint(&cfg)?;
    // The sandbox allows intervals AWS refuses (1 s and up), so drills run
    // fast; the CLI validates 10 or 30 for AWS.
    if !(1..=30).contains(&cfg.interval) || !(1..=10).contains(&cfg.threshold) {
        return Err(
            "RequestInterval must be 1 to 30 (AWS: 10 or 30) and FailureThreshold 1 to 10".into(),
        );
    }
    Ok(cfg)
}

/// What a checker may be pointed at. AWS limits the path and the name to
/// 255 characters; the request a checker sends is built from them, so no
/// control characters or spaces. Addresses are loopback only: the sandbox's
/// checkers probe sandbox endpoints, not whatever host a caller names
/// (names resolve through the sandbox's own zones).
fn check_endpoint(cfg: &HealthCheckConfig) -> Result<(), String> {
    if let Some(ip) = &cfg.ip {
        let addr: std::net::IpAddr = ip.parse().map_err(|_| format!("Invalid IPAddress {ip}"))?;
        if !addr.is_loopback() {
            return Err(format!(
                "The sandbox's health checkers probe only loopback addresses (127.0.0.0/8, ::1), not {ip}"
            ));
        }
    }
    let plain = |v: &str| v.len() <= 255 && v.chars().all(|c| c.is_ascii_graphic());
    if let Some(path) = &cfg.path
        && !(path.starts_with('/') && plain(path))
    {
        return Err(
            "Invalid ResourcePath: it must start with / and hold at most 255 printable characters, no spaces or control characters".into(),
        );
    }
    if let Some(name) = &cfg.fqdn
        && !(plain(name)
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!("Invalid FullyQualifiedDomainName {name:?}"));
    }
    Ok(())
}

impl Route53 {
    pub fn open(file: PathBuf, topology: Topology) -> Result<Arc<Self>, StoreError> {
        let r = Arc::new(Route53 {
            topology,
            state: Store::open(file)?,
            checkers: Arc::new(health::Checkers::default()),
        });
        health::Checkers::sync(&r);
        Ok(r)
    }

    fn change_info(s: &mut State) -> String {
        let id = new_id("C");
        let at = now_ms();
        s.changes.insert(id.clone(), at);
        format!(
            "<ChangeInfo><Id>/change/{id}</Id><Status>PENDING</Status><SubmittedAt>{}</SubmittedAt></ChangeInfo>",
            iso_ms(at)
        )
    }

    /// Serves one (authenticated) Route 53 API request.
    pub fn handle(self: &Arc<Self>, input: &Input) -> Outcome {
        let (method, path) = (&input.method, input.path.as_str());
        let params = input.params();
        let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
        let doc = Element::parse(&input.body);
        let resp = self
            .state
            .change(
                |s| operations::serve(self, method.as_str(), &seg, &params, doc.as_ref(), s),
                |resp| *method != Method::GET && resp.is_ok(),
            )
            .unwrap_or_else(|e| Err(e.into()));
        if path.contains("healthcheck") && *method != Method::GET {
            health::Checkers::sync(self);
        }
        resp
    }

    /// What Route 53 would answer for `name` and `rtype` in zone `z` now
    /// (TestDNSAnswer): the response code and the record data, with
    /// failover and weights evaluated and A aliases resolved.
    fn test_answer(
        &self,
        s: &State,
        z: &Zone,
        name: &str,
        rtype: &str,
    ) -> (&'static str, Vec<String>) {
        if !z.records.iter().any(|r| r.name == name) {
            return ("NXDOMAIN", Vec::new());
        }
        let sets: Vec<&RecordSet> = z
            .records
            .iter()
            .filter(|r| r.name == name && r.rtype == rtype)
            .collect();
        let Some(chosen) = self.choose(s, &sets, 0) else {
            return ("NOERROR", Vec::new());
        };
        match &chosen.alias {
            Some(a) if rtype == "A" => match self.resolve_in(s, &fqdn(&a.dns_name), 1) {
                Some((ips, _)) => ("NOERROR", ips.iter().map(|ip| ip.to_string()).collect()),
                None => ("NOERROR", Vec::new()),
            },
            Some(a) => ("NOERROR", vec![fqdn(&a.dns_name)]),
            None => ("NOERROR", chosen.values.clone()),
        }
    }

    /// The addresses `name` resolves to in the sandbox's zones now, with the
    /// TTL, following aliases and evaluating failover (PRIMARY while its
    /// health check is healthy or, for aliases with EvaluateTargetHealth,
    /// while its target is; both unhealthy: PRIMARY, as Route 53 does).
    pub fn resolve(&self, name: &str) -> Option<(Vec<IpAddr>, u64)> {
        let state = self.state.lock();
        self.resolve_in(&state, &fqdn(name), 0)
    }

    fn resolve_in(&self, s: &State, name: &str, depth: u32) -> Option<(Vec<IpAddr>, u64)> {
        if depth > 8 {
            return None;
        }
        if let Some(ip) = self.service_address(name) {
            return Some((vec![ip], 60));
        }
        let zone = s.zone_for(name)?;
        let sets: Vec<&RecordSet> = zone
            .records
            .iter()
            .filter(|r| r.name == name && (r.rtype == "A" || r.rtype == "CNAME"))
            .collect();
        let chosen = self.choose(s, &sets, depth)?;
        match (&chosen.alias, chosen.rtype.as_str()) {
            (Some(a), _) => self
                .resolve_in(s, &a.dns_name, depth + 1)
                .map(|(ips, ttl)| (ips, chosen.ttl.unwrap_or(ttl))),
            // Answered flattened: a resolver re-reads the CNAME when its
            // TTL runs out, so the answer lives no longer than either.
            (None, "CNAME") => self
                .resolve_in(s, &fqdn(chosen.values.first()?), depth + 1)
                .map(|(ips, ttl)| (ips, chosen.ttl.map_or(ttl, |own| own.min(ttl)))),
            (None, _) => Some((
                chosen
                    .values
                    .iter()
                    .filter_map(|v| v.parse().ok())
                    .collect(),
                chosen.ttl.unwrap_or(300),
            )),
        }
    }

    fn healthy_record(&self, s: &State, r: &RecordSet, depth: u32) -> bool {
        if let Some(hc) = &r.health_check_id
            && !self.checkers.healthy(hc, s)
        {
            return false;
        }
        match &r.alias {
            Some(a) if a.evaluate => self.target_healthy(s, &a.dns_name, depth + 1),
            _ => true,
        }
    }

    /// Whether an alias target has a healthy answer (records in a sandbox
    /// zone); AWS service endpoints count as healthy.
    fn target_healthy(&self, s: &State, name: &str, depth: u32) -> bool {
        if depth > 8 || self.service_address(name).is_some() {
            return true;
        }
        let Some(zone) = s.zone_for(name) else {
            return true;
        };
        zone.records
            .iter()
            .filter(|r| r.name == name && r.rtype == "A")
            .any(|r| self.healthy_record(s, r, depth))
    }

    fn choose<'a>(&self, s: &State, sets: &[&'a RecordSet], depth: u32) -> Option<&'a RecordSet> {
        let primary = sets
            .iter()
            .find(|r| r.failover.as_deref() == Some("PRIMARY"));
        let secondary = sets
            .iter()
            .find(|r| r.failover.as_deref() == Some("SECONDARY"));
        if primary.is_some() || secondary.is_some() {
            return match (primary, secondary) {
                (Some(p), Some(sec))
                    if !self.healthy_record(s, p, depth) && self.healthy_record(s, sec, depth) =>
                {
                    Some(*sec)
                }
                (Some(p), _) => Some(*p),
                (None, sec) => sec.copied(),
            };
        }
        let weighted: Vec<&&RecordSet> = sets
            .iter()
            .filter(|r| r.weight.is_some() && self.healthy_record(s, r, depth))
            .collect();
        if !weighted.is_empty() {
            let total: u64 = weighted.iter().map(|r| r.weight.unwrap_or(0)).sum();
            if total == 0 {
                return weighted.first().map(|r| **r);
            }
            let mut pick = rand::rng().random_range(0..total);
            for r in weighted {
                let w = r.weight.unwrap_or(0);
                if pick < w {
                    return Some(r);
                }
                pick -= w;
            }
        }
        sets.first().copied()
    }

    /// Addresses of sandbox service endpoints, named as on AWS: API Gateway
    /// regional domains and S3 website endpoints name their region.
    fn service_address(&self, name: &str) -> Option<IpAddr> {
        self.service_endpoint(name).map(|e| e.address)
    }

    /// The region process serving an AWS service name (API Gateway regional
    /// domains, S3 website endpoints), if the name carries a sandbox region.
    pub fn service_endpoint(&self, name: &str) -> Option<&crate::topology::Endpoint> {
        let name = name.trim_end_matches('.');
        for endpoint in &self.topology.regions {
            let r = &endpoint.name;
            if name.ends_with(&format!(".execute-api.{r}.amazonaws.com"))
                || name.ends_with(&format!(".s3-website.{r}.localhost"))
                || name.ends_with(&format!("s3-website-{r}.amazonaws.com"))
                || name.ends_with(&format!("s3-website.{r}.amazonaws.com"))
            {
                return Some(endpoint);
            }
        }
        None
    }
}

/// The name of the operation a request's method, path segments and query
/// parameters bind to (for IAM), with the path's labels.
pub(crate) fn operation_of(
    method: &str,
    segments: &[&str],
    has_param: impl Fn(&str) -> bool,
) -> Option<(&'static str, crate::door::table::Labels)> {
    crate::door::table::by_route(operations::OPERATIONS, method, segments, has_param)
        .map(|(op, labels)| (op.name, labels))
}
