//! The renderings checked on a realistic drill and on an empty one.
use serde_json::json;

use super::super::report::{ProbeTicket, RequestSample, lag_stats};
use super::*;

const P: &str = "eu-west-1";
const S: &str = "us-east-1";

/// Which region serves at `t` in the sample drill; `None`: failing.
fn served(t: f64) -> Option<&'static str> {
    match t {
        t if !(5_000.0..23_000.0).contains(&t) => Some(P),
        t if t >= 9_000.0 => Some(S),
        _ => None,
    }
}

fn request(at_ms: f64, kind: &str) -> RequestSample {
    let by = served(at_ms);
    RequestSample {
        at_ms,
        kind: kind.to_owned(),
        status: Some(if by.is_some() { 200 } else { 503 }),
        ok: by.is_some(),
        served_by: Some(by.unwrap_or(P).to_owned()),
        signed_for: by.unwrap_or(P).to_owned(),
        latency_ms: 80.0,
        error: by.is_none().then(|| "503 from the primary".to_owned()),
    }
}

/// Reads every second, a probe ticket every 500 ms; the tickets acked
/// from 4 s to 5 s replicate slowly and are at risk at recovery.
fn logs() -> (Vec<RequestSample>, Vec<ProbeTicket>) {
    let reads = (0..28).map(|i| request(250.0 + 1_000.0 * f64::from(i), "read"));
    let mut requests: Vec<_> = reads.collect();
    let mut tickets = Vec::new();
    for sequence in 0..46u64 {
        let write = request(1_000.0 + 500.0 * sequence as f64, "write");
        let acked_ms = write.at_ms + write.latency_ms;
        let late = (4_000.0..5_000.0).contains(&write.at_ms);
        let lag = if late {
            5_500.0
        } else {
            250.0 + (sequence * 37 % 120) as f64
        };
        let class = if late { "arrived-late" } else { "present" }.to_owned();
        let (id, acked_by) = (format!("p{sequence}"), write.served_by.clone());
        let seen_ms = Some(acked_ms + lag);
        if write.ok {
            tickets.push(ProbeTicket {
                sequence,
                id,
                acked_ms,
                acked_by,
                seen_ms,
                class,
            });
        }
        requests.push(write);
    }
    (requests, tickets)
}

/// A health-endpoint-failure drill: inject 5 s, detect 8.1 s, DNS 8.2 s,
/// recover 9 s, restore 20 s, failback 23 s; two tickets at risk.
fn sample() -> Report {
    let (requests, tickets) = logs();
    let late = tickets.iter().filter(|t| t.class == "arrived-late");
    let at_risk: Vec<u64> = late.map(|t| t.sequence).collect();
    let early = tickets.iter().filter(|t| t.acked_ms < 4_000.0);
    let baseline: Vec<f64> = early
        .filter_map(|t| Some(t.seen_ms? - t.acked_ms))
        .collect();
    let rpo = 9_000.0
        - tickets
            .iter()
            .find(|t| t.class != "present")
            .unwrap()
            .acked_ms;
    let in_window = |q: &&RequestSample| (5_000.0..20_000.0).contains(&q.at_ms);
    let window: Vec<_> = requests.iter().filter(in_window).collect();
    let window_failed = window.iter().filter(|q| !q.ok).count();
    let failed = requests.iter().filter(|q| !q.ok).count();
    let health = |t: f64| {
        [(5_500.0, 3), (6_500.0, 1), (20_500.0, 0), (21_500.0, 2)]
            .into_iter()
            .find(|(until, _)| t < *until)
            .map_or(3, |(_, n)| n)
    };
    let checks: Vec<_> = (0..56)
        .map(|i| f64::from(i) * 500.0)
        .map(|t| json!({"atMs": t, "success": health(t), "checkers": 3}))
        .collect();
    let dns: Vec<_> = (0..280)
        .map(|i| f64::from(i) * 100.0)
        .map(|t| {
            let region = if (8_200.0..22_100.0).contains(&t) {
                S
            } else {
                P
            };
            json!({"atMs": t, "region": region, "answer": format!("{region}.execute-api")})
        })
        .collect();
    let phases = [
        ("steady-state", 0, 2_000),
        ("baseline", 2_000, 5_000),
        ("inject", 5_000, 5_050),
        ("outage", 5_050, 20_000),
        ("restore", 20_000, 20_100),
        ("failback", 20_100, 23_000),
        ("settle", 23_000, 27_000),
        ("cleanup", 27_000, 28_000),
    ]
    .map(|(name, start, end)| json!({"name": name, "startMs": start, "endMs": end}));
    let report = json!({
        "schemaVersion": 1, "runId": "01J9ZK3T7Q", "stack": "wildrydes-dev", "target": "sandbox",
        "playbook": {"name": "health-endpoint-failure", "path": "playbooks/health.toml",
            "description": "The primary's /health returns 503", "fault": "health-endpoint-failure",
            "region": P, "expectFailover": true},
        "startedAt": "2025-06-01T10:00:00Z", "finishedAt": "2025-06-01T10:00:28Z",
        "settings": {"primaryRegion": P, "secondaryRegion": S, "healthCheckIntervalS": 1,
            "healthCheckFailureThreshold": 3, "dnsTtlS": 1, "userIntervalMs": 1000.0,
            "writerIntervalMs": 500.0, "readerIntervalMs": 250.0, "requestTimeoutMs": 2000.0},
        "outcome": "met", "errors": [], "restored": true, "phases": phases,
        "marks": {"injectMs": 5000.0, "detectMs": 8100.0, "dnsMs": 8200.0, "recoverMs": 9000.0,
            "restoreMs": 20000.0, "failbackDnsMs": 22100.0, "failbackMs": 23000.0},
        "rto": {"totalMs": 4000.0, "detectionMs": 3100.0, "dnsMs": 100.0, "clientMs": 800.0,
            "errorsInWindow": window_failed},
        "failbackMs": 3000.0,
        "requests": {"total": requests.len(), "failed": failed, "windowTotal": window.len(),
            "windowFailed": window_failed,
            "windowAvailability": 1.0 - window_failed as f64 / window.len() as f64},
        "baselineLag": lag_stats(&baseline),
        "rpo": {"rpoMs": rpo, "resolutionMs": 500.0, "acknowledged": tickets.len(),
            "atRisk": 2, "arrivedLate": 2, "lost": 0, "atRiskSequences": at_risk, "lostSequences": []},
        "newLogin": {"attempted": true, "ok": true, "region": S, "atMs": 12000.0, "detail": ""},
        "objectives": [
            {"name": "rto", "targetMs": 30000.0, "measuredMs": 4000.0, "met": true,
                "detail": "detect 3100 ms | DNS 100 ms | client 800 ms"},
            {"name": "rpo", "targetMs": 10000.0, "measuredMs": rpo, "met": true,
                "detail": "2 tickets at risk, both arrived late"},
            {"name": "no-data-lost", "met": true, "detail": "0 of 2 at-risk tickets lost"},
            {"name": "restored", "met": true, "detail": "the /health fault was removed"}],
        "requestLog": requests, "probeLog": tickets, "healthChecks": checks, "dnsAnswers": dns,
    });
    serde_json::from_value(report).expect("a valid report")
}

/// An aborted drill that measured nothing at all.
fn empty() -> Report {
    let report = json!({
        "schemaVersion": 1, "runId": "", "stack": "", "target": "",
        "playbook": {"name": "", "path": "", "description": "", "fault": "", "region": "",
            "expectFailover": false},
        "startedAt": "", "finishedAt": "",
        "settings": {"primaryRegion": "", "secondaryRegion": "", "healthCheckIntervalS": 0,
            "healthCheckFailureThreshold": 0, "dnsTtlS": 0, "userIntervalMs": 0.0,
            "writerIntervalMs": 0.0, "readerIntervalMs": 0.0, "requestTimeoutMs": 0.0},
        "outcome": "aborted", "errors": [], "restored": false,
        "phases": [{"name": "steady-state", "startMs": 0.0, "endMs": 0.0}],
        "marks": {}, "requests": {"total": 0, "failed": 0, "windowTotal": 0, "windowFailed": 0,
            "windowAvailability": 1.0},
        "baselineLag": {"samples": 0}, "rpo": {"resolutionMs": 0.0, "acknowledged": 0, "atRisk": 0,
            "arrivedLate": 0, "lost": 0, "atRiskSequences": [], "lostSequences": []},
        "newLogin": {"attempted": false, "detail": ""}, "objectives": [],
        "requestLog": [], "probeLog": [], "healthChecks": [], "dnsAnswers": [],
    });
    serde_json::from_value(report).expect("a valid report")
}

/// Every `&` starts an entity XML knows.
fn assert_entities(s: &str) {
    for (i, _) in s.match_indices('&') {
        let rest = &s[i + 1..];
        let named = ["amp;", "lt;", "gt;", "quot;", "apos;"]
            .iter()
            .any(|e| rest.starts_with(e));
        let numeric = rest.strip_prefix('#').and_then(|r| r.split_once(';'));
        let numeric = numeric.is_some_and(|(d, _)| d.chars().all(|c| c.is_ascii_digit()));
        assert!(named || numeric, "raw & in {s:?}");
    }
}

/// A small well-formedness check: balanced tags, quoted attributes
/// without `<`, and only known entities.
fn assert_well_formed(xml: &str) {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        assert_entities(&rest[..start]);
        rest = &rest[start..];
        if let Some(decl) = rest.strip_prefix("<?") {
            rest = &decl[decl.find("?>").expect("unclosed <?") + 2..];
            continue;
        }
        let mut quote = None;
        let end = rest.char_indices().skip(1).find_map(|(i, c)| {
            match (quote, c) {
                (Some(_), '<') => panic!("< in an attribute: {rest:.80}"),
                (Some(q), c) if c == q => quote = None,
                (None, '"' | '\'') => quote = Some(c),
                (None, '>') => return Some(i),
                _ => {}
            }
            None
        });
        let tag = &rest[1..end.expect("unclosed tag")];
        rest = &rest[tag.len() + 2..];
        assert_entities(tag);
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name), "mismatched close");
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap();
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-';
        assert!(
            !name.is_empty() && name.chars().all(valid),
            "bad tag <{tag}>"
        );
        if !tag.ends_with('/') {
            open.push(name);
        }
    }
    assert_entities(rest);
    assert!(open.is_empty(), "unclosed: {open:?}");
}

#[test]
fn durations_read_like_people_write_them() {
    assert_eq!(duration(None), "n/a");
    assert_eq!(duration(Some(f64::NAN)), "n/a");
    assert_eq!(duration(Some(1234.4)), "1234 ms");
    assert_eq!(duration(Some(9_999.6)), "10.0 s");
    assert_eq!(duration(Some(12_345.0)), "12.3 s");
    assert_eq!(duration(Some(59_970.0)), "1m 00s");
    assert_eq!(duration(Some(123_000.0)), "2m 03s");
    assert_eq!(duration(Some(-250.0)), "-250 ms");
}

#[test]
fn summary_shows_rto_and_verdicts() {
    let table = summary_table(&sample(), Some(100));
    assert!(table.contains("objectives met"), "{table}");
    assert!(
        table.contains("4000 ms") && table.contains("3100 ms"),
        "{table}"
    );
    assert!(
        table.contains("MET: measured 4000 ms, target 30.0 s"),
        "{table}"
    );
    assert!(table.contains("4920 ms (±500 ms)"), "{table}");
    assert!(table.contains("73.33% (12 / 45 failed)"), "{table}");
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
}

#[test]
fn markdown_has_objectives_and_escapes_pipes() {
    let md = markdown(&sample());
    assert!(md.starts_with("# Failover drill health-endpoint-failure: objectives met"));
    let rto = "| rto | 30.0 s | 4000 ms | MET | detect 3100 ms \\| DNS 100 ms \\| client 800 ms |";
    assert!(md.contains(rto), "{md}");
    assert!(md.contains("| no-data-lost | n/a | n/a | MET |"), "{md}");
    assert!(
        md.contains("| outage | 5.05 s | 20.00 s | 15.0 s |"),
        "{md}"
    );
    assert!(md.contains("- at risk at recovery: 6, 7\n"), "{md}");
    assert!(md.contains("[timeline.svg](timeline.svg)"), "{md}");
}

#[test]
fn svg_is_well_formed_and_escaped() {
    let mut r = sample();
    r.playbook.description = "evil <script>&\" description".into();
    r.playbook.name = "a<b>&c".into();
    r.request_log[3].error = Some("<html>&".into());
    let svg = svg(&r);
    assert_well_formed(&svg);
    assert!(svg.contains("evil &lt;script&gt;&amp;&quot; description"));
    assert!(!svg.contains("<script") && !svg.contains("a<b>") && !svg.contains("<html"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    let marks = [
        "inject 5.0 s",
        "detect 8.1 s",
        "DNS flip 8.2 s",
        "recover 9.0 s",
    ];
    for label in marks
        .into_iter()
        .chain(["restore 20.0 s", "failback DNS 22.1 s"])
    {
        assert!(svg.contains(label), "no {label}");
    }
    assert!(svg.contains("RTO 4000 ms, RPO 4920 ms (±500 ms)"));
}

#[test]
fn writes_the_sample_svg_when_asked() {
    // WILDRYDES_SAMPLE_SVG=path cargo test: to look at the timeline.
    if let Some(path) = std::env::var_os("WILDRYDES_SAMPLE_SVG") {
        std::fs::write(path, svg(&sample())).expect("writing the sample svg");
    }
}

#[test]
fn junit_fails_missed_objectives_only() {
    let ok = junit(&sample());
    assert_well_formed(&ok);
    assert!(!ok.contains("<failure") && !ok.contains("<error"));
    let rto = r#"classname="wildrydes.health-endpoint-failure" name="rto" time="4.000"/>"#;
    assert!(ok.contains(rto), "{ok}");
    let mut r = sample();
    r.outcome = Outcome::Missed;
    (r.objectives[1].target_ms, r.objectives[1].met) = (Some(1_000.0), false);
    r.objectives[1].detail = "<script>&\"".into();
    let missed = junit(&r);
    assert_well_formed(&missed);
    assert_eq!(missed.matches("<failure").count(), 1, "{missed}");
    let counts = r#"tests="4" failures="1" errors="0" time="28.000""#;
    assert!(missed.contains(counts), "{missed}");
    let message = r#"message="rpo missed: measured 4920 ms, target 1000 ms""#;
    assert!(missed.contains(message), "{missed}");
    assert!(missed.contains("&lt;script&gt;&amp;&quot;"));
}

#[test]
fn aborted_drill_is_an_error_in_junit() {
    let mut r = empty();
    r.playbook.name = "lambda-throttle".into();
    r.errors = vec!["not steady: /health answered 503 <twice> & more".into()];
    let xml = junit(&r);
    assert_well_formed(&xml);
    assert_eq!(xml.matches("<error").count(), 1, "{xml}");
    assert!(xml.contains(r#"name="drill""#) && xml.contains("503 &lt;twice&gt; &amp; more"));
    assert!(summary_table(&r, None).contains("ABORTED: not steady"));
}

#[test]
fn empty_report_renders_everywhere() {
    let r = empty();
    let svg = svg(&r);
    let history = history_table(std::slice::from_ref(&r), Some(80));
    let all = [
        summary_table(&r, Some(60)),
        markdown(&r),
        svg.clone(),
        junit(&r),
        history,
    ];
    for out in &all {
        assert!(!out.contains("NaN") && !out.contains("inf"), "{out}");
    }
    assert_well_formed(&svg);
    assert_well_formed(&all[3]);
    assert!(all[0].contains("n/a (no failover expected)"), "{}", all[0]);
}

#[test]
fn history_lists_each_drill() {
    let mut missed = sample();
    missed.run_id = "01J9ZM0000".into();
    missed.outcome = Outcome::Missed;
    missed.objectives[0].met = false;
    let table = history_table(&[sample(), missed], Some(120));
    assert!(
        table.contains("01J9ZK3T7Q") && table.contains("01J9ZM0000"),
        "{table}"
    );
    assert!(table.contains("4 met, 0 missed") && table.contains("3 met, 1 missed"));
    assert!(table.contains("4920 ms (±500 ms)"), "{table}");
}
