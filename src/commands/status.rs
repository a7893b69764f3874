//! `wildrydes status`: both regions, the health check, where DNS points,
//! replication lag and leftover faults at a glance; `--watch` keeps it up.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use comfy_table::{Cell, Color, Table};

use super::{Outcome, load_config};
use crate::cli::GlobalArgs;
use crate::deploy::Ctx;
use crate::output::{self, Printer};
use crate::status::{self, Report, State};
use crate::target;

/// Every AWS call and probe gives up after this long, so a dead region
/// shows as unreachable within the 3 s the issue asks.
const DEADLINE: Duration = Duration::from_millis(2500);
/// How much of the health check's last failure the text shows.
const LAST_FAILURE_WIDTH: usize = 72;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the report as JSON (schema version in `schemaVersion`)
    #[arg(long)]
    pub json: bool,
    /// Refresh every INTERVAL (default 2s) until Ctrl-C, showing what changed
    #[arg(long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "2s", value_parser = humantime::parse_duration)]
    pub watch: Option<Duration>,
}

fn colored(text: String, good: bool, colour: bool) -> Cell {
    let cell = Cell::new(text);
    match (colour, good) {
        (false, _) => cell,
        (true, true) => cell.fg(Color::Green),
        (true, false) => cell.fg(Color::Red),
    }
}

fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// The report as text: a verdict line, then a table per area.
pub fn render(r: &Report, colour: bool) -> String {
    let mut out = String::new();
    let verdict = match (colour, r.state) {
        (false, _) => r.verdict.clone(),
        (true, State::Healthy) => format!("\x1b[32m{}\x1b[0m", r.verdict),
        (true, _) => format!("\x1b[31;1m{}\x1b[0m", r.verdict),
    };
    out.push_str(&format!("{verdict}\n\n"));
    out.push_str(&format!("{}\n", regions_table(r, colour)));
    out.push_str(&format!("{}\n", routing_table(r, colour)));
    render_leftovers(r, colour, &mut out);
    out
}

/// One row per region: its table, replica, function, API, domains, the
/// identity pool users log in with, /health.
fn regions_table(r: &Report, colour: bool) -> Table {
    let mut regions = output::table(&[
        "region",
        "role",
        "table",
        "replica",
        "function",
        "API stage",
        "domains",
        "logins",
        "/health",
    ]);
    for g in &r.regions {
        if !g.reachable {
            regions.add_row(vec![
                Cell::new(&g.region),
                Cell::new(g.role),
                colored("UNREACHABLE".into(), false, colour),
                Cell::new("-"),
                Cell::new("-"),
                Cell::new("-"),
                Cell::new("-"),
                Cell::new("-"),
                colored(or_dash(g.health.error.clone()), false, colour),
            ]);
            continue;
        }
        let table_text = match &g.table {
            Some(t) => format!(
                "{} ({} items, stream {})",
                t.status,
                or_dash(t.item_count),
                t.stream.as_deref().unwrap_or("off")
            ),
            None => "missing".into(),
        };
        let replica = g
            .table
            .as_ref()
            .map(|t| {
                t.replicas
                    .iter()
                    .map(|(region, s)| format!("{region} {s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".into());
        let function = match &g.function {
            Some(f) => {
                let mut s = format!("{} / {}", f.state, f.last_update);
                if let Some(n) = f.reserved_concurrency {
                    s.push_str(&format!(", reserved {n}"));
                }
                if let Some(fault) = &f.fault {
                    s.push_str(&format!(", FAULT {fault}"));
                }
                s
            }
            None => "missing".into(),
        };
        let function_ok = g.function.as_ref().is_some_and(|f| {
            f.fault.is_none() && f.reserved_concurrency != Some(0) && f.state == "Active"
        });
        let api = match &g.api {
            Some(a) => format!("{} → {}", a.id, or_dash(a.stage_deployment.clone())),
            None => "missing".into(),
        };
        let domains = format!("{} of 2", g.domains.len());
        let logins = match &g.identity_pool {
            Some(p) => {
                let mut via: Vec<&str> = p
                    .logins
                    .iter()
                    .map(|l| {
                        if l == "graph.facebook.com" {
                            "Facebook"
                        } else {
                            l.as_str()
                        }
                    })
                    .collect();
                if p.developer_provider.is_some() {
                    via.push("drills");
                }
                via.join(", ")
            }
            None => "no identity pool".into(),
        };
        let health = match (&g.health.status, &g.health.error) {
            (Some(s), _) => format!("{s} in {:.0} ms", g.health.latency_ms.unwrap_or(0.0)),
            (_, Some(e)) => e.clone(),
            _ => "-".into(),
        };
        regions.add_row(vec![
            Cell::new(&g.region),
            Cell::new(g.role),
            colored(
                table_text,
                g.table.as_ref().is_some_and(|t| t.status == "ACTIVE"),
                colour,
            ),
            Cell::new(replica),
            colored(function, function_ok, colour),
            Cell::new(api),
            Cell::new(domains),
            colored(logins, g.identity_pool.is_some(), colour),
            colored(health, g.health.status == Some(200), colour),
        ]);
    }
    regions
}

/// The health check, where DNS points, replication lag.
fn routing_table(r: &Report, colour: bool) -> Table {
    let mut routing = output::table(&["", "now"]);
    match &r.health_check {
        Some(h) => {
            let mut flags = Vec::new();
            if h.inverted {
                flags.push("INVERTED");
            }
            if h.disabled {
                flags.push("DISABLED");
            }
            routing.add_row(vec![
                Cell::new("health check"),
                colored(
                    format!(
                        "{} ({} of {} checkers healthy) on {}{}",
                        if h.healthy { "healthy" } else { "UNHEALTHY" },
                        h.checkers_healthy,
                        h.checkers,
                        h.target,
                        if flags.is_empty() {
                            String::new()
                        } else {
                            format!(" [{}]", flags.join(", "))
                        }
                    ),
                    h.healthy && flags.is_empty(),
                    colour,
                ),
            ]);
            routing.add_row(vec![
                Cell::new("last failure"),
                // Route 53's reasons run long; `--json` has them whole.
                Cell::new(output::truncate(
                    h.last_failure.as_deref().unwrap_or("none recorded"),
                    LAST_FAILURE_WIDTH,
                )),
            ]);
        }
        None => {
            routing.add_row(vec![
                Cell::new("health check"),
                colored("missing".into(), false, colour),
            ]);
        }
    }
    match &r.dns {
        Some(d) => routing.add_row(vec![
            Cell::new(format!("DNS {}", d.name)),
            Cell::new(format!(
                "{} → {} (TTL {} s)",
                d.answer.join(", "),
                or_dash(d.region.clone()),
                or_dash(d.ttl)
            )),
        ]),
        None => routing.add_row(vec![
            Cell::new("DNS"),
            colored("no zone".into(), false, colour),
        ]),
    };
    for l in &r.replication {
        routing.add_row(vec![
            Cell::new(format!("replication {} → {}", l.from, l.to)),
            colored(
                match l.p50_ms {
                    Some(ms) => format!("{ms:.0} ms (p50 of {} probes)", l.arrived),
                    None => format!("{} of {} probes arrived", l.arrived, l.probes),
                },
                l.arrived == l.probes,
                colour,
            ),
        ]);
    }
    routing
}

/// Faults left behind, drift, problems.
fn render_leftovers(r: &Report, colour: bool, out: &mut String) {
    if !r.faults.is_empty() {
        let mut faults = output::table(&["fault left behind", "where", "what"]);
        for f in &r.faults {
            faults.add_row(vec![
                colored(f.kind.clone(), false, colour),
                Cell::new(&f.scope),
                Cell::new(&f.detail),
            ]);
        }
        out.push_str(&format!("{faults}\n"));
    }
    match &r.drift {
        Some(d) if !d.is_empty() => {
            let mut drift = output::table(&["drift", "where", "differs from what `up` makes"]);
            for x in d {
                drift.add_row(vec![
                    Cell::new(&x.resource),
                    Cell::new(&x.scope),
                    Cell::new(&x.differs),
                ]);
            }
            out.push_str(&format!("{drift}\n"));
        }
        Some(_) => out.push_str("no drift from what `up` would make\n"),
        None => out.push_str("drift: not determined in time\n"),
    }
    for p in &r.problems {
        out.push_str(&format!("! {p}\n"));
    }
}

/// One-line descriptions of what changed between two reports.
fn changes(before: &Report, now: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if before.verdict != now.verdict && before.state != now.state {
        out.push(format!("state: {:?} → {:?}", before.state, now.state));
    }
    if before.serving_region != now.serving_region {
        out.push(format!(
            "DNS: {} → {}",
            or_dash(before.serving_region.clone()),
            or_dash(now.serving_region.clone())
        ));
    }
    let hc = |r: &Report| r.health_check.as_ref().map(|h| h.healthy);
    if hc(before) != hc(now) {
        out.push(format!(
            "health check: {} → {}",
            or_dash(hc(before)),
            or_dash(hc(now))
        ));
    }
    let health: fn(&Report) -> BTreeMap<String, Option<u16>> = |r| {
        r.regions
            .iter()
            .map(|g| (g.region.clone(), g.health.status))
            .collect()
    };
    for (region, was) in health(before) {
        let is = health(now).get(&region).copied().flatten();
        if was != is {
            out.push(format!(
                "{region} /health: {} → {}",
                or_dash(was),
                or_dash(is)
            ));
        }
    }
    let kinds = |r: &Report| {
        r.faults
            .iter()
            .map(|f| format!("{} in {}", f.kind, f.scope))
            .collect::<Vec<_>>()
    };
    for f in kinds(now).iter().filter(|f| !kinds(before).contains(f)) {
        out.push(format!("fault appeared: {f}"));
    }
    for f in kinds(before).iter().filter(|f| !kinds(now).contains(f)) {
        out.push(format!("fault gone: {f}"));
    }
    out
}

pub async fn run(args: StatusArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let config = load_config(global)?;
    let session = target::open(
        &config,
        target::OpenOptions {
            start_sandbox: false,
            call_timeout: Some(DEADLINE),
        },
    )
    .await?;
    let mut ctx = Ctx::open(&config, &session, true, None, BTreeMap::new())
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}\n(no credentials? set up the AWS credential chain, e.g. `aws sso login`, or use the sandbox)"))?;
    ctx.step_timeout = Some(DEADLINE);
    let ctx = Arc::new(ctx);
    let printer = Printer::new(global, args.json);
    let colour = std::io::stdout().is_terminal() && !printer.json();
    let mut previous: Option<Report> = None;
    // One receiver for the whole watch, so a Ctrl-C pressed while
    // gathering is not lost.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        let report = status::gather(ctx.clone(), session.health_url(), DEADLINE).await?;
        printer.document(&report)?;
        if args.watch.is_some() && colour {
            // Refresh in place.
            printer.result_raw("\x1b[2J\x1b[H");
        }
        printer.result_raw(render(&report, colour));
        if let Some(before) = &previous {
            for c in changes(before, &report) {
                printer.result(format_args!("changed: {c}"));
            }
        }
        if let Some(every) = args.watch {
            printer.result(format_args!(
                "(gathered in {:.2} s; every {} until Ctrl-C)",
                report.seconds,
                humantime::format_duration(every)
            ));
        }
        let outcome = match report.state {
            State::Healthy if report.faults.is_empty() => Outcome::Success,
            _ => Outcome::NeedsAttention,
        };
        let Some(every) = args.watch else {
            return Ok(outcome);
        };
        previous = Some(report);
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = interrupt.recv() => return Ok(outcome),
        }
    }
}
