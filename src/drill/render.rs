//! Renderings of a drill [`Report`]: the terminal summary, `report.md`,
//! `timeline.svg`, the JUnit file for CI and the `--history` table.
//!
//! They all read the one report so they cannot disagree, and none of them
//! measures anything: a number shown here was computed by the drill. The SVG
//! and XML are written by hand (no extra dependencies), so every piece of
//! report text goes through [`xml_escape`] and every coordinate through
//! `num`, which never prints `NaN` or `inf`.

use std::collections::HashSet;
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

// --- timeline.svg -------------------------------------------------------

const SVG_W: f64 = 1000.0;
const SVG_H: f64 = 440.0;
const X0: f64 = 120.0;
const X1: f64 = 975.0;
const PHASE_TOP: f64 = 50.0;
const PHASE_BOTTOM: f64 = 68.0;
const MARK_ROW0: f64 = 81.0;
const MARK_ROWS: usize = 4;
const READ_Y: f64 = 136.0;
const WRITE_Y: f64 = 154.0;
const DNS_TOP: f64 = 170.0;
const DNS_BOTTOM: f64 = 184.0;
const HEALTH_TOP: f64 = 196.0;
const HEALTH_BOTTOM: f64 = 224.0;
const LAG_TOP: f64 = 250.0;
const AXIS_Y: f64 = 352.0;
const LEGEND_Y: f64 = 402.0;
/// Average width of an 11px sans-serif character, to keep labels apart.
const CHAR_W: f64 = 6.6;

const BLUE: &str = "#1f77b4";
const GREEN: &str = "#2ca02c";
const RED: &str = "#d62728";
const GREY: &str = "#9a9a9a";
const ORANGE: &str = "#ff7f0e";
const PURPLE: &str = "#9467bd";
const DARK: &str = "#444444";

const END: &str = r#" text-anchor="end""#;
const MIDDLE: &str = r#" text-anchor="middle""#;
const LANE: &str = r#" class="lane""#;

/// `timeline.svg`: the drill on one time axis. Phases across the top, the
/// marks (inject … failback) as labelled vertical lines, every user request
/// coloured by outcome and serving region, the DNS answer and the health
/// checks' successes over time, and each probe ticket's replication lag.
pub fn svg(report: &Report) -> String {
    let axis = TimeAxis::new(report);
    let mut s = Svg(String::new());
    svg_title(&mut s, report);
    svg_phases(&mut s, report, &axis);
    svg_time_axis(&mut s, &axis);
    svg_marks(&mut s, report, &axis);
    svg_requests(&mut s, report, &axis);
    svg_dns(&mut s, report, &axis);
    svg_health(&mut s, report, &axis);
    svg_lag(&mut s, report, &axis);
    svg_legend(&mut s, report);
    s.0.push_str("</svg>\n");
    s.0
}

/// Maps drill time (ms) to x; its span is never zero.
struct TimeAxis {
    t_max: f64,
}

impl TimeAxis {
    fn new(r: &Report) -> Self {
        let mut times: Vec<f64> = marks(r).iter().map(|m| m.1).collect();
        times.extend(r.phases.iter().flat_map(|p| [p.start_ms, p.end_ms]));
        times.extend(r.request_log.iter().map(|q| q.at_ms));
        times.extend(r.probe_log.iter().map(|p| p.acked_ms));
        times.extend(r.probe_log.iter().filter_map(|p| p.seen_ms));
        times.extend(r.health_checks.iter().map(|h| h.at_ms));
        times.extend(r.dns_answers.iter().map(|d| d.at_ms));
        let t_max = times.iter().fold(0.0, |max, &t| finite(t).max(max));
        let t_max = if t_max > 0.0 { t_max } else { 1000.0 };
        TimeAxis { t_max }
    }

    fn x(&self, ms: f64) -> f64 {
        X0 + finite(ms).clamp(0.0, self.t_max) / self.t_max * (X1 - X0)
    }
}

/// An SVG document being written; every method escapes its text.
struct Svg(String);

impl Svg {
    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
        let (x1, y1, x2, y2) = (num(x1), num(y1), num(x2), num(y2));
        let at = format!(r#"x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}""#);
        let _ = writeln!(self.0, "<line {at} {style}/>");
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, style: &str, tip: &str) {
        let (x, y, w, h) = (num(x), num(y), num(w.max(0.0)), num(h.max(0.0)));
        let open = format!(r#"<rect x="{x}" y="{y}" width="{w}" height="{h}" {style}"#);
        self.element(&open, "rect", tip);
    }

    fn circle(&mut self, cx: f64, cy: f64, r: f64, style: &str, tip: &str) {
        let (cx, cy, r) = (num(cx), num(cy), num(r));
        let open = format!(r#"<circle cx="{cx}" cy="{cy}" r="{r}" {style}"#);
        self.element(&open, "circle", tip);
    }

    /// A red ×, centred on (x, y).
    fn cross(&mut self, x: f64, y: f64, tip: &str) {
        let (a, b, c, d) = (num(x - 4.0), num(x + 4.0), num(y - 4.0), num(y + 4.0));
        let style = format!(r#"stroke="{RED}" stroke-width="2""#);
        let open = format!(r#"<path d="M{a} {c} L{b} {d} M{a} {d} L{b} {c}" {style}"#);
        self.element(&open, "path", tip);
    }

    /// Closes `open`, with a tooltip when `tip` is not empty.
    fn element(&mut self, open: &str, tag: &str, tip: &str) {
        let _ = match tip {
            "" => writeln!(self.0, "{open}/>"),
            tip => writeln!(self.0, "{open}><title>{}</title></{tag}>", xml_escape(tip)),
        };
    }

    fn text(&mut self, x: f64, y: f64, attrs: &str, content: &str) {
        let (x, y, t) = (num(x), num(y), xml_escape(content));
        let _ = writeln!(self.0, r#"<text x="{x}" y="{y}"{attrs}>{t}</text>"#);
    }
}

fn fill(colour: &str) -> String {
    format!(r#"fill="{colour}""#)
}

fn svg_title(s: &mut Svg, r: &Report) {
    let (w, h) = (num(SVG_W), num(SVG_H));
    let size = format!(r#"width="{w}" height="{h}" viewBox="0 0 {w} {h}""#);
    let _ = writeln!(s.0, r#"<svg xmlns="http://www.w3.org/2000/svg" {size}>"#);
    s.0.push_str(
        "<style>text { font-family: sans-serif; font-size: 11px; fill: #222; }\n\
         .title { font-size: 14px; font-weight: bold; } .lane { font-size: 12px; }\n\
         .mark { paint-order: stroke; stroke: #fff; stroke-width: 3px; }</style>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n",
    );
    let rto = duration(r.rto.as_ref().map(|rto| rto.total_ms));
    let (name, rpo) = (truncate(&r.playbook.name, 28), rpo_text(r));
    let title = xml_escape(&format!("Failover drill {name}: RTO {rto}, RPO {rpo}"));
    let met = r.outcome == Outcome::Met;
    let colour = if met { GREEN } else { RED };
    let outcome = xml_escape(&truncate(&outcome_line(r), 32));
    let outcome = format!(r#"<tspan fill="{colour}">{outcome}</tspan>"#);
    let title = format!("{title} — {outcome}");
    let _ = writeln!(s.0, r#"<text x="12" y="22" class="title">{title}</text>"#);
    let pb = &r.playbook;
    let mut sub = format!("run {} · fault {} in {}", r.run_id, pb.fault, pb.region);
    let _ = write!(sub, " · started {}", r.started_at);
    if !pb.description.is_empty() {
        sub = format!("{} · {sub}", pb.description);
    }
    s.text(12.0, 40.0, "", &truncate(&sub, 145));
}

fn phase_colour(name: &str, i: usize) -> &'static str {
    match name {
        "inject" | "outage" => "#fbd5d0",
        "restore" | "failback" => "#d7e8f7",
        "baseline" | "steady-state" => "#e3f1df",
        _ if i.is_multiple_of(2) => "#ececec",
        _ => "#f6f6f6",
    }
}

fn svg_phases(s: &mut Svg, r: &Report, axis: &TimeAxis) {
    s.text(8.0, PHASE_BOTTOM - 5.0, LANE, "phases");
    let h = PHASE_BOTTOM - PHASE_TOP;
    for (i, p) in r.phases.iter().enumerate() {
        let (x0, x1) = (axis.x(p.start_ms), axis.x(p.end_ms));
        let style = format!(r##"{} stroke="#fff""##, fill(phase_colour(&p.name, i)));
        let (start, end) = (secs(p.start_ms, 2), secs(p.end_ms, 2));
        let tip = format!("{}: {start} to {end}", p.name);
        s.rect(x0, PHASE_TOP, x1 - x0, h, &style, &tip);
        if p.name.chars().count() as f64 * CHAR_W + 6.0 < x1 - x0 {
            s.text((x0 + x1) / 2.0, PHASE_BOTTOM - 5.0, MIDDLE, &p.name);
        }
    }
    // The RTO window, faintly across every lane.
    if let (Some(inject), Some(recover)) = (r.marks.inject_ms, r.marks.recover_ms) {
        let (x0, x1, h) = (axis.x(inject), axis.x(recover), AXIS_Y - PHASE_BOTTOM);
        let style = r##"fill="#d62728" fill-opacity="0.06""##;
        s.rect(x0, PHASE_BOTTOM, x1 - x0, h, style, "RTO window");
    }
}

/// A tick step giving at most about 12 ticks.
fn tick_step_s(t_max_s: f64) -> f64 {
    let steps = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0];
    let fits = steps.into_iter().find(|step| t_max_s / step <= 12.0);
    fits.unwrap_or_else(|| nice_ceil(t_max_s / 10.0))
}

fn svg_time_axis(s: &mut Svg, axis: &TimeAxis) {
    let t_max_s = axis.t_max / 1000.0;
    let step = tick_step_s(t_max_s);
    let decimals = if step < 1.0 { 1 } else { 0 };
    let ticks = (0..=100).map(|i| f64::from(i) * step);
    for t in ticks.take_while(|t| *t <= t_max_s + 1e-9) {
        let x = axis.x(t * 1000.0);
        s.line(x, PHASE_BOTTOM, x, AXIS_Y + 4.0, r##"stroke="#eee""##);
        s.text(x, AXIS_Y + 16.0, MIDDLE, &format!("{t:.decimals$} s"));
    }
    s.line(X0, AXIS_Y, X1, AXIS_Y, r##"stroke="#444""##);
    let title = "seconds since the drill started";
    s.text((X0 + X1) / 2.0, AXIS_Y + 31.0, MIDDLE, title);
}

/// The marks that were seen, in time order, with their label and colour.
fn marks(r: &Report) -> Vec<(&'static str, f64, &'static str)> {
    let m = &r.marks;
    let all = [
        ("inject", m.inject_ms, RED),
        ("detect", m.detect_ms, ORANGE),
        ("DNS flip", m.dns_ms, PURPLE),
        ("recover", m.recover_ms, GREEN),
        ("restore", m.restore_ms, DARK),
        ("failback DNS", m.failback_dns_ms, PURPLE),
        ("failback", m.failback_ms, BLUE),
    ];
    let seen = |(name, at, colour): (_, Option<f64>, _)| {
        Some((name, at.filter(|t| t.is_finite())?, colour))
    };
    let mut marks: Vec<_> = all.into_iter().filter_map(seen).collect();
    marks.sort_by(|a, b| a.1.total_cmp(&b.1));
    marks
}

fn svg_marks(s: &mut Svg, r: &Report, axis: &TimeAxis) {
    // Each label goes in the first row where it clears the one before it.
    let mut row_end = [f64::NEG_INFINITY; MARK_ROWS];
    for (name, at, colour) in marks(r) {
        let x = axis.x(at);
        let label = format!("{name} {}", secs(at, 1));
        let w = label.chars().count() as f64 * CHAR_W;
        let flip = x + 3.0 + w > SVG_W - 4.0;
        let start = if flip { x - 3.0 - w } else { x + 3.0 };
        let free = (0..MARK_ROWS).find(|&i| row_end[i] + 6.0 < start);
        let emptiest = (0..MARK_ROWS).min_by(|&a, &b| row_end[a].total_cmp(&row_end[b]));
        let row = free.or(emptiest).unwrap_or(0);
        // With every row taken, the label slides right of its line, unhidden.
        let flip = flip && free.is_some();
        let start = if free.is_some() {
            start
        } else {
            start.max(row_end[row] + 6.0)
        };
        row_end[row] = start + w;
        let y = MARK_ROW0 + 12.0 * row as f64;
        let style = format!(r#"stroke="{colour}" stroke-width="1.5" stroke-dasharray="4 3""#);
        s.line(x, y - 9.0, x, AXIS_Y, &style);
        let (tx, anchor) = if flip { (x - 3.0, END) } else { (start, "") };
        let attrs = format!(r#" class="mark" style="fill: {colour}"{anchor}"#);
        s.text(tx, y, &attrs, &label);
    }
}

/// Colour of a request or DNS answer: failed red, otherwise by region.
fn colour(r: &Report, ok: bool, region: Option<&str>) -> &'static str {
    match region {
        _ if !ok => RED,
        Some(region) if region == r.settings.primary_region => BLUE,
        Some(region) if region == r.settings.secondary_region => GREEN,
        _ => GREY,
    }
}

fn request_colour(r: &Report, q: &RequestSample) -> &'static str {
    colour(r, q.ok, q.served_by.as_deref())
}

fn svg_requests(s: &mut Svg, r: &Report, axis: &TimeAxis) {
    s.text(8.0, (READ_Y + WRITE_Y) / 2.0 + 4.0, LANE, "requests");
    s.text(X0 - 6.0, READ_Y + 4.0, END, "read");
    s.text(X0 - 6.0, WRITE_Y + 4.0, END, "write");
    // Failures last, so that they are drawn on top.
    let mut log: Vec<_> = r.request_log.iter().collect();
    log.sort_by_key(|q| !q.ok);
    for q in log {
        let verdict = if q.ok { "ok" } else { "FAILED" };
        let status = q.status.map_or("no status".to_owned(), |c| c.to_string());
        let (by, at) = (q.served_by.as_deref().unwrap_or("?"), secs(q.at_ms, 2));
        let mut tip = format!("{} {verdict} at {at}: {status} from {by}", q.kind);
        let latency = duration(Some(q.latency_ms));
        let _ = write!(tip, ", signed for {}, {latency}", q.signed_for);
        if let Some(e) = &q.error {
            let _ = write!(tip, " ({e})");
        }
        let (x, style) = (axis.x(q.at_ms), fill(request_colour(r, q)));
        match q.kind.as_str() {
            "write" => s.rect(x - 3.0, WRITE_Y - 3.0, 6.0, 6.0, &style, &tip),
            _ => s.circle(x, READ_Y, 3.5, &style, &tip),
        }
    }
}

fn svg_dns(s: &mut Svg, r: &Report, axis: &TimeAxis) {
    s.text(8.0, DNS_BOTTOM - 3.0, LANE, "DNS answer");
    let mut answers: Vec<_> = r.dns_answers.iter().collect();
    answers.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    // One bar per run of equal answers, up to the next change (or the end).
    let mut i = 0;
    while let Some(first) = answers.get(i) {
        let run = answers[i..].iter().position(|d| d.region != first.region);
        i += run.unwrap_or(answers.len() - i);
        let end = answers.get(i).map_or(axis.t_max, |d| d.at_ms);
        let (x0, x1) = (axis.x(first.at_ms), axis.x(end));
        let region = first.region.as_deref();
        let label = region.unwrap_or("no region");
        let style = format!(r#"{} fill-opacity="0.75""#, fill(colour(r, true, region)));
        let tip = format!("{label} from {}: {}", secs(first.at_ms, 2), first.answer);
        s.rect(x0, DNS_TOP, x1 - x0, DNS_BOTTOM - DNS_TOP, &style, &tip);
        if label.chars().count() as f64 * CHAR_W + 6.0 < x1 - x0 {
            let attrs = format!(r#"{MIDDLE} style="fill: #fff""#);
            s.text((x0 + x1) / 2.0, DNS_BOTTOM - 3.0, &attrs, label);
        }
    }
}

fn svg_health(s: &mut Svg, r: &Report, axis: &TimeAxis) {
    let checkers = r.health_checks.iter().map(|h| h.checkers).max();
    let checkers = checkers.unwrap_or(0);
    s.text(8.0, HEALTH_TOP + 11.0, LANE, "health checks");
    s.text(8.0, HEALTH_TOP + 25.0, "", &format!("(ok of {checkers})"));
    if checkers > 0 {
        s.text(X0 - 6.0, HEALTH_TOP + 4.0, END, &checkers.to_string());
        s.text(X0 - 6.0, HEALTH_BOTTOM + 4.0, END, "0");
    }
    for y in [HEALTH_TOP, HEALTH_BOTTOM] {
        s.line(X0, y, X1, y, r##"stroke="#ddd""##);
    }
    let share = |h: &HealthObservation| h.success.min(h.checkers) as f64 / h.checkers as f64;
    let counted = r.health_checks.iter().filter(|h| h.checkers > 0);
    let mut points: Vec<(f64, f64)> = counted.map(|h| (h.at_ms, share(h))).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let y = |share: f64| num(HEALTH_BOTTOM - share * (HEALTH_BOTTOM - HEALTH_TOP));
    let Some(&(at, first)) = points.first() else {
        return;
    };
    // A step line: each count holds until the next observation.
    let mut d = format!("M{} {}", num(axis.x(at)), y(first));
    for (at, share) in &points {
        let _ = write!(d, " H{} V{}", num(axis.x(*at)), y(*share));
    }
    let style = format!(r#"fill="none" stroke="{DARK}" stroke-width="1.5""#);
    let _ = writeln!(s.0, r#"<path d="{d} H{}" {style}/>"#, num(X1));
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v`, and at least 1.
fn nice_ceil(v: f64) -> f64 {
    let v = if v.is_finite() && v > 1.0 { v } else { 1.0 };
    let p = 10f64.powf(v.log10().floor());
    let nice = [1.0, 2.0, 5.0, 10.0].map(|m| m * p);
    nice.into_iter().find(|c| *c >= v).unwrap_or(10.0 * p)
}

/// A lag-axis label, in one unit for the whole axis.
fn lag_tick(ms: f64, y_max: f64) -> String {
    match y_max {
        m if m >= 10_000.0 => format!("{} s", num(ms / 1000.0)),
        _ => format!("{} ms", num(ms)),
    }
}

fn svg_lag(s: &mut Svg, r: &Report, axis: &TimeAxis) {
    let top = LAG_TOP + 10.0;
    s.text(8.0, LAG_TOP + 32.0, LANE, "replication lag");
    s.text(8.0, LAG_TOP + 46.0, "", "(seen − acked)");
    let lag = |seen: f64, acked: f64| Some(seen - acked).filter(|l| l.is_finite());
    let probes = &r.probe_log;
    let lags = probes.iter().filter_map(|p| lag(p.seen_ms?, p.acked_ms));
    let y_max = nice_ceil(lags.fold(0.0, f64::max));
    let y = |ms: f64| AXIS_Y - ms.max(0.0) / y_max * (AXIS_Y - top);
    for share in [0.0, 0.5, 1.0] {
        let (ms, style) = (share * y_max, r##"stroke="#ddd" stroke-dasharray="2 2""##);
        if share > 0.0 {
            s.line(X0, y(ms), X1, y(ms), style);
        }
        s.text(X0 - 6.0, y(ms) + 4.0, END, &lag_tick(ms, y_max));
    }
    let at_risk: HashSet<u64> = r.rpo.at_risk_sequences.iter().copied().collect();
    let lost: HashSet<u64> = r.rpo.lost_sequences.iter().copied().collect();
    for p in probes {
        let (x, by) = (axis.x(p.acked_ms), p.acked_by.as_deref().unwrap_or("?"));
        let acked = secs(p.acked_ms, 2);
        let mut tip = format!("ticket {} ({}): acked {acked} by {by}", p.sequence, p.class);
        let lag = p.seen_ms.and_then(|seen| lag(seen, p.acked_ms));
        match lag {
            Some(l) => tip.push_str(&format!(", lag {}", duration(Some(l)))),
            None => tip.push_str(", never seen in the secondary"),
        }
        let risky = p.class == "arrived-late" || at_risk.contains(&p.sequence);
        match lag {
            Some(l) if risky => {
                let style = format!(r##"{} stroke="#000""##, fill(ORANGE));
                s.circle(x, y(l), 5.0, &style, &tip);
            }
            Some(l) => s.circle(x, y(l), 2.5, &fill(DARK), &tip),
            None if p.class == "lost" || lost.contains(&p.sequence) => s.cross(x, top, &tip),
            None => {}
        }
    }
}

fn svg_legend(s: &mut Svg, r: &Report) {
    let (p, q) = (&r.settings.primary_region, &r.settings.secondary_region);
    let unknown = r.request_log.iter().any(|q| request_colour(r, q) == GREY);
    let (primary, secondary) = (
        format!("ok via {p} (primary)"),
        format!("ok via {q} (secondary)"),
    );
    let mut requests = vec![("●", BLUE, primary.as_str()), ("●", GREEN, &secondary)];
    requests.push(("●", RED, "failed"));
    if unknown {
        requests.push(("●", GREY, "ok, region unknown"));
    }
    requests.extend([("●", DARK, "read"), ("■", DARK, "write")]);
    let dns = vec![
        ("■", BLUE, "primary"),
        ("■", GREEN, "secondary"),
        ("■", GREY, "other"),
    ];
    let probes = vec![
        ("●", DARK, "replicated"),
        ("●", ORANGE, "at risk, arrived late"),
    ];
    let probes = [probes, vec![("✕", RED, "lost")]].concat();
    let groups = [
        ("requests:", requests),
        ("DNS:", dns),
        ("probe tickets:", probes),
    ];
    let width = |label: &str| label.chars().count() as f64 * CHAR_W;
    let (mut x, mut y) = (12.0, LEGEND_Y);
    for (heading, items) in groups {
        // A group wraps as a whole, so its heading stays with its items.
        let items_w: f64 = items.iter().map(|i| 28.0 + width(i.2)).sum();
        if x > 12.0 && x + width(heading) + items_w > SVG_W - 8.0 {
            (x, y) = (12.0, y + 18.0);
        }
        s.text(x, y, r#" font-weight="bold""#, heading);
        x += width(heading) + 12.0;
        for (glyph, colour, label) in items {
            s.text(x, y, &format!(r#" style="fill: {colour}""#), glyph);
            s.text(x + 13.0, y, "", label);
            x += 28.0 + width(label);
        }
        x += 6.0;
    }
}

#[cfg(test)]
mod tests {
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
        let rto =
            "| rto | 30.0 s | 4000 ms | MET | detect 3100 ms \\| DNS 100 ms \\| client 800 ms |";
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
}
