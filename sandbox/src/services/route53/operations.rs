//! Route 53's operations: one function per API operation, found through
//! the operation table [`OPERATIONS`] by method and path, each given the
//! request's labels, query and XML body and the locked state.

use std::collections::BTreeMap;

use http::StatusCode;

use super::{
    HealthCheck, RecordSet, Route53, State, Zone, error, fqdn, iso_ms, new_id, now_ms, ok,
    parse_health_check_config, parse_record, zone_id_of,
};
use crate::door::Outcome;
use crate::door::table::{Labels, Operation, by_route, rest};
use crate::wire::xml_escape;
use crate::xml::Element;

/// What an operation gets from the request.
pub(super) struct Request<'a> {
    /// The path's `{Id}`.
    labels: Labels,
    query: &'a BTreeMap<String, String>,
    /// The XML body; `None` when it does not parse.
    doc: Option<&'a Element>,
}

type Handler = fn(&Route53, &Request, &mut State) -> Outcome;

/// Route 53's operations by HTTP binding, as in the API reference.
#[rustfmt::skip]
pub(super) const OPERATIONS: &[Operation<Handler>] = &[
    rest("CreateHostedZone", "POST", "/2013-04-01/hostedzone", create_hosted_zone),
    rest("ListHostedZones", "GET", "/2013-04-01/hostedzone", list_hosted_zones),
    rest("ListHostedZonesByName", "GET", "/2013-04-01/hostedzonesbyname", list_hosted_zones_by_name),
    rest("GetHostedZone", "GET", "/2013-04-01/hostedzone/{Id}", get_hosted_zone),
    rest("DeleteHostedZone", "DELETE", "/2013-04-01/hostedzone/{Id}", delete_hosted_zone),
    rest("ChangeResourceRecordSets", "POST", "/2013-04-01/hostedzone/{Id}/rrset", change_resource_record_sets),
    rest("ListResourceRecordSets", "GET", "/2013-04-01/hostedzone/{Id}/rrset", list_resource_record_sets),
    rest("TestDNSAnswer", "GET", "/2013-04-01/testdnsanswer", test_dns_answer),
    rest("GetChange", "GET", "/2013-04-01/change/{Id}", get_change),
    rest("CreateHealthCheck", "POST", "/2013-04-01/healthcheck", create_health_check),
    rest("ListHealthChecks", "GET", "/2013-04-01/healthcheck", list_health_checks),
    rest("GetHealthCheck", "GET", "/2013-04-01/healthcheck/{Id}", get_health_check),
    rest("UpdateHealthCheck", "POST", "/2013-04-01/healthcheck/{Id}", update_health_check),
    rest("DeleteHealthCheck", "DELETE", "/2013-04-01/healthcheck/{Id}", delete_health_check),
    rest("GetHealthCheckStatus", "GET", "/2013-04-01/healthcheck/{Id}/status", |r, q, s| health_check_observations(r, q, s, false)),
    rest("GetHealthCheckLastFailureReason", "GET", "/2013-04-01/healthcheck/{Id}/lastfailurereason", |r, q, s| health_check_observations(r, q, s, true)),
];

/// Serves the operation `method` and the path `seg` name.
pub(super) fn serve(
    r53: &Route53,
    method: &str,
    seg: &[&str],
    query: &BTreeMap<String, String>,
    doc: Option<&Element>,
    s: &mut State,
) -> Outcome {
    let Some((op, labels)) = by_route(OPERATIONS, method, seg, |_| false) else {
        return error(
            StatusCode::NOT_FOUND,
            "InvalidInput",
            &format!("no Route 53 operation {method} /{}", seg.join("/")),
        );
    };
    (op.handler)(r53, &Request { labels, query, doc }, s)
}

fn bad_input(message: &str) -> Outcome {
    error(StatusCode::BAD_REQUEST, "InvalidInput", message)
}

fn no_zone(id: &str) -> Outcome {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchHostedZone",
        &format!("No hosted zone found with ID: {id}"),
    )
}

fn no_check(id: &str) -> Outcome {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchHealthCheck",
        &format!("A health check with id {id} does not exist."),
    )
}

/// CreateHostedZone: a zone with its SOA and NS records.
fn create_hosted_zone(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let doc = req.doc;
    let Some(doc) = doc else {
        return bad_input("The request body is not valid XML");
    };
    let (Some(name), Some(caller)) = (doc.text_of("Name"), doc.text_of("CallerReference")) else {
        return bad_input("Name and CallerReference are required");
    };
    if s.zones.values().any(|z| z.caller_reference == caller) {
        return error(
            StatusCode::CONFLICT,
            "HostedZoneAlreadyExists",
            &format!(
                "A hosted zone has already been created with the specified caller reference {caller}"
            ),
        );
    }
    let name = fqdn(name);
    let id = new_id("Z");
    let soa = RecordSet {
        name: name.clone(),
        rtype: "SOA".into(),
        set_id: None,
        weight: None,
        failover: None,
        ttl: Some(900),
        values: vec![
            "ns-1.sandbox.wildrydes.test. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
                .into(),
        ],
        alias: None,
        health_check_id: None,
    };
    let ns = RecordSet {
        rtype: "NS".into(),
        ttl: Some(172800),
        values: vec![
            "ns-1.sandbox.wildrydes.test.".into(),
            "ns-2.sandbox.wildrydes.test.".into(),
        ],
        ..soa.clone()
    };
    let zone = Zone {
        id: id.clone(),
        name,
        caller_reference: caller.to_owned(),
        comment: doc
            .child("HostedZoneConfig")
            .and_then(|c| c.text_of("Comment"))
            .unwrap_or("")
            .to_owned(),
        records: vec![ns, soa],
    };
    let inner = format!(
        "{}{}{}",
        zone.xml(),
        Route53::change_info(s),
        zone.delegation()
    );
    s.zones.insert(id.clone(), zone);
    ok(StatusCode::CREATED, "CreateHostedZoneResponse", inner).map(|r| {
        r.header(
            "location",
            format!("https://route53.amazonaws.com/2013-04-01/hostedzone/{id}"),
        )
    })
}

/// ListHostedZones (one page: the sandbox holds few zones).
fn list_hosted_zones(_r53: &Route53, _req: &Request, s: &mut State) -> Outcome {
    let zones: String = s.zones.values().map(Zone::xml).collect();
    ok(
        StatusCode::OK,
        "ListHostedZonesResponse",
        format!(
            "<HostedZones>{zones}</HostedZones><Marker></Marker><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems>"
        ),
    )
}

/// ListHostedZonesByName, from `dnsname` on, in reversed-label order.
fn list_hosted_zones_by_name(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let params = req.query;
    let from = params.get("dnsname").map(|n| fqdn(n));
    let mut zones: Vec<&Zone> = s.zones.values().collect();
    zones.sort_by_key(|z| z.name.split('.').rev().collect::<Vec<_>>().join("."));
    let key = |n: &str| n.split('.').rev().collect::<Vec<_>>().join(".");
    let listed: String = zones
        .into_iter()
        .filter(|z| from.as_ref().is_none_or(|f| key(&z.name) >= key(f)))
        .map(Zone::xml)
        .collect();
    let dns = from
        .map(|f| format!("<DNSName>{}</DNSName>", xml_escape(&f)))
        .unwrap_or_default();
    ok(
        StatusCode::OK,
        "ListHostedZonesByNameResponse",
        format!(
            "<HostedZones>{listed}</HostedZones>{dns}<IsTruncated>false</IsTruncated><MaxItems>100</MaxItems>"
        ),
    )
}

/// GetHostedZone.
fn get_hosted_zone(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let id = req.labels.get("Id");
    match s.zones.get(zone_id_of(id)) {
        Some(z) => ok(
            StatusCode::OK,
            "GetHostedZoneResponse",
            format!("{}{}", z.xml(), z.delegation()),
        ),
        None => no_zone(id),
    }
}

/// DeleteHostedZone: only a zone holding nothing but its SOA and NS.
fn delete_hosted_zone(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let id = req.labels.get("Id");
    let id = zone_id_of(id).to_owned();
    match s.zones.get(&id) {
        None => no_zone(&id),
        Some(z)
            if z.records
                .iter()
                .any(|r| !(r.name == z.name && (r.rtype == "SOA" || r.rtype == "NS"))) =>
        {
            error(
                StatusCode::BAD_REQUEST,
                "HostedZoneNotEmpty",
                "The specified hosted zone contains non-required resource record sets and so cannot be deleted.",
            )
        }
        Some(_) => {
            s.zones.remove(&id);
            let info = Route53::change_info(s);
            ok(StatusCode::OK, "DeleteHostedZoneResponse", info)
        }
    }
}

/// ChangeResourceRecordSets: the whole batch or nothing, each problem
/// reported as Route 53 words it.
fn change_resource_record_sets(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let doc = req.doc;
    let id = req.labels.get("Id");
    let id = zone_id_of(id).to_owned();
    let Some(doc) = doc else {
        return bad_input("The request body is not valid XML");
    };
    let checks: Vec<String> = s.health_checks.keys().cloned().collect();
    let Some(zone) = s.zones.get_mut(&id) else {
        return no_zone(&id);
    };
    let changes: Vec<&Element> = doc
        .child("ChangeBatch")
        .and_then(|b| b.child("Changes"))
        .map(|c| c.all("Change").collect())
        .unwrap_or_default();
    if changes.is_empty() {
        return bad_input("ChangeBatch needs at least one Change");
    }
    let mut records = zone.records.clone();
    let mut problems = Vec::new();
    for change in changes {
        let action = change.text_of("Action").unwrap_or_default();
        let set = match change.child("ResourceRecordSet").map(parse_record) {
            Some(Ok(set)) => set,
            Some(Err(m)) => return bad_input(&m),
            None => return bad_input("Change needs a ResourceRecordSet"),
        };
        if !(set.name == zone.name || set.name.ends_with(&format!(".{}", zone.name))) {
            problems.push(format!(
                "RRSet with DNS name {} is not permitted in zone {}",
                set.name, zone.name
            ));
            continue;
        }
        if let Some(hc) = &set.health_check_id
            && !checks.contains(hc)
        {
            problems.push(format!(
                "The health check {hc} referenced by {} does not exist",
                set.describe()
            ));
            continue;
        }
        let existing = records.iter().position(|r| r.same_identity(&set));
        match (action, existing) {
            ("CREATE", Some(_)) => problems.push(format!("Tried to create resource record set {} but it already exists", set.describe())),
            ("CREATE", None) | ("UPSERT", None) => records.push(set),
            ("UPSERT", Some(i)) => records[i] = set,
            ("DELETE", None) => problems.push(format!("Tried to delete resource record set {} but it was not found", set.describe())),
            ("DELETE", Some(i)) if records[i] != set => problems.push(format!("Tried to delete resource record set {} but the values provided do not match the current values", set.describe())),
            ("DELETE", Some(i)) => {
                records.remove(i);
            }
            (other, _) => return bad_input(&format!("Invalid Action {other}: CREATE, DELETE or UPSERT")),
        }
    }
    if !problems.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidChangeBatch",
            &format!("[{}]", problems.join(", ")),
        );
    }
    zone.records = records;
    let info = Route53::change_info(s);
    ok(StatusCode::OK, "ChangeResourceRecordSetsResponse", info)
}

/// ListResourceRecordSets, paged by name, type and set identifier.
fn list_resource_record_sets(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let params = req.query;
    let id = req.labels.get("Id");
    let Some(zone) = s.zones.get(zone_id_of(id)) else {
        return no_zone(id);
    };
    let mut sorted = zone.records.clone();
    let key = |r: &RecordSet| {
        (
            r.name.split('.').rev().collect::<Vec<_>>().join("."),
            r.rtype.clone(),
            r.set_id.clone().unwrap_or_default(),
        )
    };
    sorted.sort_by_key(key);
    let start = params.get("name").map(|n| {
        (
            fqdn(n).split('.').rev().collect::<Vec<_>>().join("."),
            params.get("type").cloned().unwrap_or_default(),
            params.get("identifier").cloned().unwrap_or_default(),
        )
    });
    let max = params
        .get("maxitems")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(300)
        .clamp(1, 300);
    let page: Vec<&RecordSet> = sorted
        .iter()
        .filter(|r| start.as_ref().is_none_or(|s| key(r) >= *s))
        .take(max + 1)
        .collect();
    let truncated = page.len() > max;
    let items: String = page.iter().take(max).map(|r| r.xml()).collect();
    let mut next = String::new();
    if truncated {
        let n = page[max];
        next = format!(
            "<NextRecordName>{}</NextRecordName><NextRecordType>{}</NextRecordType>",
            xml_escape(&n.name),
            n.rtype
        );
        if let Some(id) = &n.set_id {
            next.push_str(&format!(
                "<NextRecordIdentifier>{}</NextRecordIdentifier>",
                xml_escape(id)
            ));
        }
    }
    ok(
        StatusCode::OK,
        "ListResourceRecordSetsResponse",
        format!(
            "<ResourceRecordSets>{items}</ResourceRecordSets><IsTruncated>{truncated}</IsTruncated>{next}<MaxItems>{max}</MaxItems>"
        ),
    )
}

/// TestDNSAnswer: what the zone answers now (see `Route53::test_answer`).
fn test_dns_answer(r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let params = req.query;
    let (Some(zone), Some(name), Some(rtype)) = (
        params.get("hostedzoneid"),
        params.get("recordname"),
        params.get("recordtype"),
    ) else {
        return bad_input("hostedzoneid, recordname and recordtype are required");
    };
    let Some(z) = s.zones.get(zone_id_of(zone)) else {
        return no_zone(zone);
    };
    let (code, data) = r53.test_answer(s, z, &fqdn(name), &rtype.to_ascii_uppercase());
    let entries: String = data
        .iter()
        .map(|d| format!("<RecordDataEntry>{}</RecordDataEntry>", xml_escape(d)))
        .collect();
    ok(
        StatusCode::OK,
        "TestDNSAnswerResponse",
        format!(
            "<Nameserver>ns-1.sandbox.{}</Nameserver><RecordName>{}</RecordName><RecordType>{}</RecordType><RecordData>{entries}</RecordData><ResponseCode>{code}</ResponseCode><Protocol>UDP</Protocol>",
            xml_escape(&z.name),
            xml_escape(&fqdn(name)),
            xml_escape(&rtype.to_ascii_uppercase())
        ),
    )
}

/// GetChange: changes are INSYNC 100 ms after they are submitted.
fn get_change(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let id = req.labels.get("Id");
    let id = id.trim_start_matches("/change/");
    match s.changes.get(id) {
        // Changes reach every (simulated) name server within 100 ms.
        Some(at) => {
            let status = if now_ms() - at >= 100 {
                "INSYNC"
            } else {
                "PENDING"
            };
            ok(
                StatusCode::OK,
                "GetChangeResponse",
                format!(
                    "<ChangeInfo><Id>/change/{id}</Id><Status>{status}</Status><SubmittedAt>{}</SubmittedAt></ChangeInfo>",
                    iso_ms(*at)
                ),
            )
        }
        None => error(
            StatusCode::NOT_FOUND,
            "NoSuchChange",
            &format!("A change with the specified change ID does not exist: {id}"),
        ),
    }
}

/// CreateHealthCheck; the same caller reference and configuration again
/// answers the existing check, as AWS does.
fn create_health_check(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let doc = req.doc;
    let Some(doc) = doc else {
        return bad_input("The request body is not valid XML");
    };
    let Some(caller) = doc.text_of("CallerReference") else {
        return bad_input("CallerReference is required");
    };
    let config = match doc
        .child("HealthCheckConfig")
        .map(|c| parse_health_check_config(c, None))
    {
        Some(Ok(c)) => c,
        Some(Err(m)) => return bad_input(&m),
        None => return bad_input("HealthCheckConfig is required"),
    };
    if let Some(existing) = s
        .health_checks
        .values()
        .find(|h| h.caller_reference == caller)
    {
        if existing.config == config {
            let x = existing.xml();
            return ok(StatusCode::CREATED, "CreateHealthCheckResponse", x);
        }
        return error(
            StatusCode::CONFLICT,
            "HealthCheckAlreadyExists",
            &format!(
                "A health check with the caller reference {caller} already exists with a different configuration"
            ),
        );
    }
    let hc = HealthCheck {
        id: uuid::Uuid::new_v4().to_string(),
        caller_reference: caller.to_owned(),
        config,
        version: 1,
    };
    let x = hc.xml();
    let location = format!(
        "https://route53.amazonaws.com/2013-04-01/healthcheck/{}",
        hc.id
    );
    let r = ok(StatusCode::CREATED, "CreateHealthCheckResponse", x)
        .map(|r| r.header("location", location));
    s.health_checks.insert(hc.id.clone(), hc);
    r
}

/// ListHealthChecks.
fn list_health_checks(_r53: &Route53, _req: &Request, s: &mut State) -> Outcome {
    let items: String = s.health_checks.values().map(HealthCheck::xml).collect();
    ok(
        StatusCode::OK,
        "ListHealthChecksResponse",
        format!(
            "<HealthChecks>{items}</HealthChecks><Marker></Marker><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems>"
        ),
    )
}

/// GetHealthCheck.
fn get_health_check(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let id = req.labels.get("Id");
    match s.health_checks.get(id) {
        Some(h) => ok(StatusCode::OK, "GetHealthCheckResponse", h.xml()),
        None => no_check(id),
    }
}

/// UpdateHealthCheck, checked against HealthCheckVersion.
fn update_health_check(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let doc = req.doc;
    let id = req.labels.get("Id");
    let Some(doc) = doc else {
        return bad_input("The request body is not valid XML");
    };
    let Some(h) = s.health_checks.get_mut(id) else {
        return no_check(id);
    };
    if let Some(v) = doc.text_of("HealthCheckVersion")
        && v.parse::<u64>().ok() != Some(h.version)
    {
        return error(
            StatusCode::CONFLICT,
            "HealthCheckVersionMismatch",
            &format!(
                "The value of HealthCheckVersion in the request ({v}) doesn't match the current version ({}).",
                h.version
            ),
        );
    }
    if doc.child("RequestInterval").is_some() {
        return bad_input("RequestInterval cannot be changed after a health check is created");
    }
    match parse_health_check_config(doc, Some(&h.config)) {
        Ok(c) => {
            h.config = c;
            h.version += 1;
            ok(StatusCode::OK, "UpdateHealthCheckResponse", h.xml())
        }
        Err(m) => bad_input(&m),
    }
}

/// DeleteHealthCheck: not while a record set refers to it.
fn delete_health_check(_r53: &Route53, req: &Request, s: &mut State) -> Outcome {
    let id = req.labels.get("Id");
    if !s.health_checks.contains_key(id) {
        return no_check(id);
    }
    if s.zones.values().any(|z| {
        z.records
            .iter()
            .any(|r| r.health_check_id.as_deref() == Some(id))
    }) {
        return error(
            StatusCode::BAD_REQUEST,
            "HealthCheckInUse",
            &format!("The health check {id} is still referenced from a resource record set."),
        );
    }
    s.health_checks.remove(id);
    ok(StatusCode::OK, "DeleteHealthCheckResponse", String::new())
}

/// The checkers' observations of a health check: every one
/// (GetHealthCheckStatus) or the last failure of each
/// (GetHealthCheckLastFailureReason).
fn health_check_observations(
    r53: &Route53,
    req: &Request,
    s: &mut State,
    failures_only: bool,
) -> Outcome {
    let id = req.labels.get("Id");
    if !s.health_checks.contains_key(id) {
        return no_check(id);
    }
    let obs: String = r53
        .checkers
        .observations(id)
        .into_iter()
        .filter(|o| !failures_only || o.last_failure.is_some())
        .map(|o| {
            let (status, at) = if failures_only { o.last_failure.clone().unwrap_or_default() } else { (o.status.clone(), o.checked_ms) };
            format!(
                "<HealthCheckObservation><Region>{}</Region><IPAddress>{}</IPAddress><StatusReport><Status>{}</Status><CheckedTime>{}</CheckedTime></StatusReport></HealthCheckObservation>",
                o.region,
                o.checker_ip,
                xml_escape(&status),
                iso_ms(at)
            )
        })
        .collect();
    let element = if failures_only {
        "GetHealthCheckLastFailureReasonResponse"
    } else {
        "GetHealthCheckStatusResponse"
    };
    ok(
        StatusCode::OK,
        element,
        format!("<HealthCheckObservations>{obs}</HealthCheckObservations>"),
    )
}
