//! Renderings of a drill [`Report`]: the terminal summary, `report.md`,
//! `timeline.svg`, the JUnit file for CI and the `--history` table.
//!
//! They all read the one report so they cannot disagree, and none of them
//! measures anything: a number shown here was computed by the drill. The SVG
//! and XML are written by hand (no extra dependencies), so every piece of
//! report text goes through [`xml_escape`] and every coordinate through
//! `num`, which never prints `NaN` or `inf`.

use std::fmt::Write as _;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::report::{HealthObservation, Objective, Outcome, Phase, Report, RequestSample};

/// A duration for people: `"1234 ms"` under 10 s, `"12.3 s"` under a
/// minute, `"2m 03s"` beyond, `"n/a"` when unknown (or not finite).
pub fn duration(ms: Option<f64>) -> String {
    let Some(ms) = ms.filter(|m| m.is_finite()) else {
        return "n/a".to_owned();
    };
    let sign = if ms < 0.0 { "-" } else { "" };
    let ms = ms.abs();
    if ms.round() < 10_000.0 {
        return format!("{sign}{ms:.0} ms");
    }
    // Round first, so that 59.96 s reads "1m 00s" and not "60.0 s".
    let tenths = (ms / 100.0).round();
    if tenths < 600.0 {
        return format!("{sign}{:.1} s", tenths / 10.0);
    }
    let secs = (ms / 1000.0).round() as u64;
    format!("{sign}{}m {:02}s", secs / 60, secs % 60)
}

/// The terminal summary of one drill: the outcome, what was injected where,
/// the RTO and its breakdown, failback, availability, replication lag, the
/// RPO, the new-login check, then one row per objective (MET or MISSED).
pub fn summary_table(report: &Report, width: Option<u16>) -> String {
    let (r, pb) = (report, &report.playbook);
    let what = format!("{} (fault {} in {})", pb.name, pb.fault, pb.region);
    let mut rows = vec![row("outcome", outcome_line(r)), row("playbook", what)];
    rows.extend(sections(r).into_iter().flat_map(|(_, rows)| rows));
    for o in &r.objectives {
        rows.push((format!("objective {}", o.name), objective_text(o)));
    }
    if !r.errors.is_empty() {
        rows.push(row("errors", r.errors.join("\n")));
    }
    let mut table = new_table(width);
    table.set_header(["drill", &r.run_id]);
    for (key, value) in rows {
        table.add_row([key, value]);
    }
    table.to_string()
}

/// `failover-test --history`: one row per past drill, in the order given.
pub fn history_table(rows: &[Report], width: Option<u16>) -> String {
    let mut table = new_table(width);
    table.set_header("started,run id,playbook,outcome,RTO,RPO,objectives".split(','));
    for r in rows {
        let met = r.objectives.iter().filter(|o| o.met).count();
        let missed = r.objectives.len() - met;
        let rto = duration(r.rto.as_ref().map(|rto| rto.total_ms));
        let (when, id, name) = (&r.started_at, &r.run_id, &r.playbook.name);
        let (objectives, rpo) = (format!("{met} met, {missed} missed"), rpo_text(r));
        let outcome = r.outcome.as_str();
        let cells: [&str; 7] = [when, id, name, outcome, &rto, &rpo, &objectives];
        table.add_row(cells);
    }
    table.to_string()
}

/// `report.md`, for a ticket or a post-mortem: what ran where, the settings,
/// the summary numbers, the phases, the objectives, the probe tickets at
/// risk and lost, the errors, and a link to `timeline.svg` next to it.
pub fn markdown(report: &Report) -> String {
    let (r, pb, st) = (report, &report.playbook, &report.settings);
    let (name, outcome) = (md(&pb.name), md(&outcome_line(r)));
    let mut out = format!("# Failover drill {name}: {outcome}\n\n");
    if !pb.description.is_empty() {
        let _ = writeln!(out, "{}\n", md(&pb.description));
    }
    let facts = [
        ("run", r.run_id.clone()),
        ("stack", format!("{} ({})", r.stack, r.target)),
        ("playbook file", pb.path.clone()),
        ("fault", format!("{} in {}", pb.fault, pb.region)),
        ("when", format!("{} to {}", r.started_at, r.finished_at)),
        ("restored", if r.restored { "yes" } else { "NO" }.to_owned()),
    ];
    for (key, value) in facts {
        let _ = writeln!(out, "- {key}: {}", md(&value));
    }
    let regions = format!("{} → {}", st.primary_region, st.secondary_region);
    let (every, after) = (
        st.health_check_interval_s,
        st.health_check_failure_threshold,
    );
    let checks = format!("every {every} s, failed after {after}");
    let user = duration(Some(st.user_interval_ms));
    let writer = duration(Some(st.writer_interval_ms));
    let reader = duration(Some(st.reader_interval_ms));
    let probes = format!("user {user}, writer {writer}, reader {reader}");
    let settings = [
        cells(&["regions", &regions]),
        cells(&["health checks", &checks]),
        cells(&["DNS TTL", &format!("{} s", st.dns_ttl_s)]),
        cells(&["probe intervals", &probes]),
        cells(&["request timeout", &duration(Some(st.request_timeout_ms))]),
    ];
    md_table(&mut out, "Settings", "setting|value", &settings);
    for (title, rows) in sections(r) {
        let rows: Vec<String> = rows.iter().map(|(k, v)| cells(&[&md_key(k), v])).collect();
        md_table(&mut out, title, "measure|value", &rows);
    }
    let phases: Vec<String> = r.phases.iter().map(phase_row).collect();
    md_table(&mut out, "Phases", "phase|start|end|duration", &phases);
    let objectives: Vec<String> = r.objectives.iter().map(objective_row).collect();
    let head = "objective|target|measured|result|detail";
    md_table(&mut out, "Objectives", head, &objectives);
    let at_risk = sequences(&r.rpo.at_risk_sequences);
    let lost = sequences(&r.rpo.lost_sequences);
    let _ = writeln!(out, "## Probe tickets\n\n- at risk at recovery: {at_risk}");
    let _ = writeln!(out, "- lost: {lost}\n");
    if !r.errors.is_empty() {
        out.push_str("## Errors\n\n");
        for e in &r.errors {
            let _ = writeln!(out, "- {}", md(e));
        }
        out.push('\n');
    }
    out.push_str("## Timeline\n\nSee [timeline.svg](timeline.svg).\n\n");
    out.push_str("![drill timeline](timeline.svg)\n");
    out
}

/// JUnit XML for CI: one `<testcase>` per objective, with a `<failure>`
/// when it was missed. An aborted drill also gets a `drill` testcase
/// carrying its errors as an `<error>`, so CI never shows it green.
pub fn junit(report: &Report) -> String {
    let r = report;
    let class = xml_escape(&format!("wildrydes.{}", r.playbook.name));
    let mut cases = String::new();
    let mut failures = 0;
    for o in &r.objectives {
        let (name, time) = (xml_escape(&o.name), seconds(o.measured_ms.unwrap_or(0.0)));
        let case = format!(r#"<testcase classname="{class}" name="{name}" time="{time}""#);
        if o.met {
            let _ = writeln!(cases, "    {case}/>");
            continue;
        }
        failures += 1;
        let msg = match (o.measured_ms, o.target_ms) {
            (None, None) => xml_escape(&format!("{} missed: {}", o.name, o.detail)),
            (m, t) => xml_escape(&format!(
                "{} missed: measured {}, target {}",
                o.name,
                duration(m),
                duration(t)
            )),
        };
        let detail = xml_escape(&o.detail);
        let failure = format!(r#"<failure message="{msg}" type="objective-missed">"#);
        let _ = write!(cases, "    {case}>\n      {failure}{msg}&#10;{detail}");
        cases.push_str("</failure>\n    </testcase>\n");
    }
    let errors = usize::from(r.outcome == Outcome::Aborted);
    if errors == 1 {
        let first = r.errors.first().map_or("the drill was aborted", |e| e);
        let (msg, all) = (xml_escape(first), xml_escape(&r.errors.join("\n")));
        let case = format!(r#"<testcase classname="{class}" name="drill" time="0.000">"#);
        let error = format!(r#"<error message="{msg}" type="aborted">{all}</error>"#);
        let _ = writeln!(cases, "    {case}\n      {error}\n    </testcase>");
    }
    let (tests, time) = (r.objectives.len() + errors, seconds(drill_length_ms(r)));
    let counts = format!(r#"failures="{failures}" errors="{errors}" time="{time}""#);
    let suite = xml_escape(&format!("wildrydes failover-test: {}", r.playbook.name));
    let stamp = xml_escape(&r.started_at);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!(r#"tests="{tests}" {counts}"#);
    let _ = writeln!(out, r#"<testsuites name="wildrydes" {counts}>"#);
    let suite = format!(r#"<testsuite name="{suite}" {counts}"#);
    let _ = writeln!(out, r#"  {suite} timestamp="{stamp}">"#);
    out.push_str(&cases);
    if !r.errors.is_empty() && errors == 0 {
        let all = xml_escape(&r.errors.join("\n"));
        let _ = writeln!(out, "    <system-err>{all}</system-err>");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn new_table(width: Option<u16>) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(width) = width {
        table.set_width(width);
    }
    table
}

fn row(key: &str, value: String) -> (String, String) {
    (key.to_owned(), value)
}

/// The headline: what a person needs to know first.
fn outcome_line(r: &Report) -> String {
    match (r.outcome, r.errors.first()) {
        (Outcome::Met, _) => "objectives met".to_owned(),
        (Outcome::Missed, _) => "OBJECTIVES MISSED".to_owned(),
        (Outcome::Aborted, Some(e)) => format!("ABORTED: {e}"),
        (Outcome::Aborted, None) => "ABORTED".to_owned(),
    }
}

fn verdict(o: &Objective) -> &'static str {
    if o.met { "MET" } else { "MISSED" }
}

/// The RPO with the resolution it is known to, `"0 ms (±250 ms)"`.
fn rpo_text(r: &Report) -> String {
    let Some(rpo) = r.rpo.rpo_ms else {
        return "n/a".to_owned();
    };
    let resolution = duration(Some(r.rpo.resolution_ms));
    format!("{} (±{resolution})", duration(Some(rpo)))
}

/// The measurements, grouped as the terminal table and `report.md` show
/// them; a key starting with two spaces breaks down the row above it.
fn sections(r: &Report) -> Vec<(&'static str, Vec<(String, String)>)> {
    let mut recovery = match &r.rto {
        Some(rto) => vec![
            row("RTO", duration(Some(rto.total_ms))),
            row("  detection", duration(rto.detection_ms)),
            row("  DNS", duration(rto.dns_ms)),
            row("  client", duration(rto.client_ms)),
            row("  errors in window", rto.errors_in_window.to_string()),
        ],
        None if r.playbook.expect_failover => vec![row("RTO", "n/a (no recovery seen)".into())],
        None => vec![row("RTO", "n/a (no failover expected)".into())],
    };
    recovery.push(row("failback", duration(r.failback_ms)));
    let q = &r.requests;
    let availability = match q.window_availability {
        a if a.is_finite() => format!("{:.2}%", a * 100.0),
        _ => "n/a".to_owned(),
    };
    let (failed, total) = (q.window_failed, q.window_total);
    let window = format!("{availability} ({failed} / {total} failed)");
    let requests = vec![
        row("requests failed", format!("{} / {}", q.failed, q.total)),
        row("availability in window", window),
    ];
    let (l, p) = (&r.baseline_lag, &r.rpo);
    let [p50, p95, p99, max] = [l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms].map(duration);
    let lag = format!("p50 {p50}, p95 {p95}, p99 {p99}, max {max}");
    let lag = format!("{lag} ({} samples)", l.samples);
    let (acked, at_risk, late, lost) = (p.acknowledged, p.at_risk, p.arrived_late, p.lost);
    let probes = format!("{acked} acknowledged, {at_risk} at risk, {late} arrived late");
    let replication = vec![
        row("steady-state lag", lag),
        row("RPO", rpo_text(r)),
        row("probe tickets", format!("{probes}, {lost} lost")),
    ];
    let login = vec![row("new login", login_text(r))];
    let titles = ["Recovery", "Requests", "Replication", "Login"];
    let rows = [recovery, requests, replication, login];
    titles.into_iter().zip(rows).collect()
}

fn login_text(r: &Report) -> String {
    let l = &r.new_login;
    let mut text = match (l.attempted, l.ok) {
        (false, _) => return "not attempted".to_owned(),
        (true, Some(true)) => "ok".to_owned(),
        (true, Some(false)) => "FAILED".to_owned(),
        (true, None) => "no answer".to_owned(),
    };
    if let Some(region) = &l.region {
        let _ = write!(text, " via {region}");
    }
    if let Some(at) = l.at_ms {
        let _ = write!(text, " at {}", secs(at, 1));
    }
    if !l.detail.is_empty() {
        let _ = write!(text, ": {}", l.detail);
    }
    text
}

fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// A time on the drill's clock, as seconds since its start.
fn secs(ms: f64, decimals: usize) -> String {
    format!("{:.decimals$} s", finite(ms) / 1000.0)
}

/// Seconds with millisecond precision, for JUnit `time` attributes.
fn seconds(ms: f64) -> String {
    format!("{:.3}", finite(ms).max(0.0) / 1000.0)
}

fn drill_length_ms(r: &Report) -> f64 {
    let (mut start, mut end) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in &r.phases {
        (start, end) = (start.min(p.start_ms), end.max(p.end_ms));
    }
    finite(end - start).max(0.0)
}

/// A sequence-number list that stays readable when a drill lost thousands.
fn sequences(seqs: &[u64]) -> String {
    const SHOWN: usize = 50;
    if seqs.is_empty() {
        return "none".to_owned();
    }
    let shown: Vec<String> = seqs.iter().take(SHOWN).map(u64::to_string).collect();
    let mut text = shown.join(", ");
    if seqs.len() > SHOWN {
        let _ = write!(text, " … ({} more)", seqs.len() - SHOWN);
    }
    text
}

/// Markdown cell or inline text: `|` would end the cell, a newline the row,
/// and `<` could open raw HTML.
fn md(s: &str) -> String {
    let s = s.replace('|', "\\|").replace('<', "&lt;");
    s.replace(['\r', '\n'], " ")
}

/// A breakdown key (two leading spaces) as Markdown, which trims spaces.
fn md_key(key: &str) -> String {
    let sub = key.strip_prefix("  ").map(|k| format!("↳ {k}"));
    sub.unwrap_or_else(|| key.to_owned())
}

/// One Markdown table row, every cell escaped.
fn cells(cells: &[&str]) -> String {
    let cells: Vec<String> = cells.iter().map(|c| md(c)).collect();
    format!("| {} |", cells.join(" | "))
}

fn phase_row(p: &Phase) -> String {
    let (start, end) = (secs(p.start_ms, 2), secs(p.end_ms, 2));
    let length = duration(Some(p.end_ms - p.start_ms));
    cells(&[&p.name, &start, &end, &length])
}

/// "MET: measured 2961 ms, target 15m 00s", or for an objective with no
/// number "MET: <what it checks>".
fn objective_text(o: &Objective) -> String {
    if o.target_ms.is_none() && o.measured_ms.is_none() {
        return format!("{}: {}", verdict(o), o.detail);
    }
    let (m, t) = (duration(o.measured_ms), duration(o.target_ms));
    let mut value = format!("{}: measured {m}, target {t}", verdict(o));
    if !o.met && !o.detail.is_empty() {
        let _ = write!(value, " ({})", o.detail);
    }
    value
}

fn objective_row(o: &Objective) -> String {
    let (m, t) = (duration(o.measured_ms), duration(o.target_ms));
    cells(&[&o.name, &t, &m, verdict(o), &o.detail])
}

/// A `## title` section holding a table; `head` is `|`-separated.
fn md_table(out: &mut String, title: &str, head: &str, rows: &[String]) {
    let _ = writeln!(out, "\n## {title}\n");
    if rows.is_empty() {
        out.push_str("none\n\n");
        return;
    }
    let head: Vec<&str> = head.split('|').collect();
    let _ = writeln!(out, "{}\n|{}", cells(&head), "---|".repeat(head.len()));
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
    out.push('\n');
}

/// Escapes text for XML content and quoted attributes. Control characters
/// XML 1.0 cannot carry become U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate for SVG: one decimal at most, `0` for anything not finite.
fn num(v: f64) -> String {
    let s = format!("{:.1}", finite(v));
    match s.strip_suffix(".0") {
        Some("-0") => "0".to_owned(),
        Some(whole) => whole.to_owned(),
        None => s,
    }
}

/// `s` cut to `max` characters with an ellipsis (before escaping).
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

mod svg;
pub use svg::svg;

#[cfg(test)]
mod tests;
