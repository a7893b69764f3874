//! `timeline.svg`: the drill on one picture a person can read at a glance:
//! the phases, the moments that make up the RTO, every user request by
//! outcome and serving region, the DNS answer and health checks over time,
//! and each probe ticket's replication lag with the ones at risk marked.
//! Written by hand: every text through [`xml_escape`], every coordinate
//! through [`num`].

use std::collections::HashSet;
use std::fmt::Write as _;

use super::*;

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
