//! `wildrydes failover-test`: run a drill from a playbook and measure RTO
//! and RPO against the objectives; list playbooks, show past drills, and
//! restore what a drill that died left behind.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use tokio::sync::watch;

use super::{Outcome, load_config};
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::drill::engine::{self, NotSteady, Options};
use crate::drill::env::Env;
use crate::drill::lock::{DrillLock, Holder};
use crate::drill::playbook::{self, Plan};
use crate::drill::progress::Progress;
use crate::drill::render;
use crate::drill::report::{self as drill_report, Outcome as DrillOutcome, Report};
use crate::journal;

#[derive(Debug, Args)]
pub struct FailoverTestArgs {
    /// The playbook: a name from `--list` or a path to a .toml file
    #[arg(long, value_name = "NAME|PATH", default_value = playbook::DEFAULT, conflicts_with = "all")]
    pub playbook: String,
    /// Run every playbook the target supports in turn (a game day)
    #[arg(long)]
    pub all: bool,
    /// List the playbooks and exit
    #[arg(long, conflicts_with_all = ["all", "restore", "history", "dry_run"])]
    pub list: bool,
    /// Validate and print the plan; touch nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Roll back every fault a drill that died left behind, then exit
    #[arg(long, conflicts_with_all = ["all", "history", "dry_run"])]
    pub restore: bool,
    /// List this stack's past drills from their reports, then exit
    #[arg(long, conflicts_with_all = ["all", "dry_run"])]
    pub history: bool,
    /// Print the report as JSON on stdout (an array with --all)
    #[arg(long)]
    pub json: bool,
    /// Also write a JUnit XML file with one test case per objective
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

pub async fn run(args: FailoverTestArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let config = load_config(global)?;
    if args.list {
        return list(&config);
    }
    if args.history {
        return history(&config, args.json);
    }
    let plans = plans(&args, &config)?;
    if args.dry_run {
        for plan in &plans {
            print!("{}", describe(plan, &config));
        }
        println!("dry run: nothing was touched");
        return Ok(Outcome::Success);
    }
    let env = Env::open(&config).await?;
    if args.restore {
        // Never undo a running drill's fault under it.
        let _lock = DrillLock::acquire(
            &config.stack,
            Holder {
                pid: std::process::id(),
                run_id: "restore".into(),
                playbook: "--restore".into(),
                started_at: journal::now(),
            },
        )?;
        let done = engine::restore_journals(&env).await?;
        if done.is_empty() {
            println!("nothing to restore: no drill left a fault behind");
        }
        for d in done {
            println!("restored {d}");
        }
        return Ok(Outcome::Success);
    }
    let interrupts = interrupts()?;
    let mut reports = Vec::new();
    let mut could_not_run = Vec::new();
    for plan in &plans {
        if *interrupts.borrow() > 0 {
            break;
        }
        match one(&env, plan, &config, global, &args, interrupts.clone()).await {
            Ok(r) => reports.push(r),
            Err(e) if args.all => {
                eprintln!("error: drill {} could not run: {e:#}", plan.name);
                could_not_run.push(plan.name.clone());
            }
            Err(e) => return Err(e),
        }
    }
    if args.json {
        let doc = if args.all {
            serde_json::to_string_pretty(&reports)?
        } else {
            serde_json::to_string_pretty(
                reports
                    .first()
                    .ok_or_else(|| anyhow::anyhow!("the drill did not run"))?,
            )?
        };
        println!("{doc}");
    } else if args.all {
        println!("{}", render::history_table(&reports, width()));
    }
    if let Some(path) = &args.junit {
        let xml: Vec<String> = reports.iter().map(render::junit).collect();
        let merged = merge_junit(&xml);
        std::fs::write(path, merged)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let aborted =
        !could_not_run.is_empty() || reports.iter().any(|r| r.outcome == DrillOutcome::Aborted);
    Ok(if aborted {
        Outcome::CouldNotRun
    } else if reports.iter().all(|r| r.outcome == DrillOutcome::Met) {
        Outcome::Success
    } else {
        Outcome::NeedsAttention
    })
}

/// One drill: the lock, the engine, the files, the summary.
async fn one(
    env: &Env,
    plan: &Plan,
    config: &Config,
    global: &GlobalArgs,
    args: &FailoverTestArgs,
    interrupts: engine::Interrupts,
) -> anyhow::Result<Report> {
    let run_id = run_id(&plan.name);
    let _lock = DrillLock::acquire(
        &config.stack,
        Holder {
            pid: std::process::id(),
            run_id: run_id.clone(),
            playbook: plan.name.clone(),
            started_at: journal::now(),
        },
    )?;
    let progress = Progress::new(
        !global.quiet,
        &format!(
            "drill {} ({} in {}) on the {}",
            plan.name,
            plan.fault.as_str(),
            plan.region,
            config.target
        ),
    );
    let options = Options {
        run_id: run_id.clone(),
    };
    let report = match engine::run(env, plan, &options, interrupts, &progress).await {
        Ok(r) => r,
        Err(e) => {
            progress.finish();
            return Err(match e.downcast::<NotSteady>() {
                Ok(ns) => anyhow::anyhow!("drill {}: {ns}", plan.name),
                Err(e) => e.context(format!("drill {} could not run", plan.name)),
            });
        }
    };
    let dir = journal::dir().join(&run_id);
    write_files(&dir, &report)?;
    if !args.json {
        println!("{}", render::summary_table(&report, width()));
        println!("report: {}", dir.display());
    }
    Ok(report)
}

fn write_files(dir: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    for (name, bytes) in [
        ("report.json", serde_json::to_vec_pretty(report)?),
        ("report.md", render::markdown(report).into_bytes()),
        ("timeline.svg", render::svg(report).into_bytes()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// `<UTC time>-<playbook>`, unique in the drills folder.
fn run_id(playbook: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let base = format!("{stamp}-{playbook}");
    let dir = journal::dir();
    (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|id| !dir.join(id).exists())
        .unwrap_or(base)
}

fn width() -> Option<u16> {
    std::io::stdout()
        .is_terminal()
        .then(terminal_width)
        .flatten()
}

fn terminal_width() -> Option<u16> {
    // SAFETY: TIOCGWINSZ fills a winsize for a terminal descriptor.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col > 0).then_some(ws.ws_col)
}

/// Ctrl-C (and SIGTERM) presses, counted: the first rolls the drill back,
/// a second stops waiting for failback; the restore always runs.
fn interrupts() -> anyhow::Result<engine::Interrupts> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(0u32);
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            let n = *tx.borrow() + 1;
            eprintln!(
                "{}",
                if n == 1 {
                    "interrupted: rolling back (press Ctrl-C again to stop waiting for failback; the restore always runs)"
                } else {
                    "interrupted again: no more waiting, restoring and reporting"
                }
            );
            let _ = tx.send(n);
        }
    });
    Ok(rx)
}

/// The playbooks to run: one, or with `--all` every one the target supports.
fn plans(args: &FailoverTestArgs, config: &Config) -> anyhow::Result<Vec<Plan>> {
    if !args.all {
        let path = playbook::locate(&args.playbook)?;
        return Ok(vec![playbook::load(&path, config)?]);
    }
    let mut out = Vec::new();
    for path in playbook::all()? {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        // Skip what the target cannot run; refuse anything else invalid.
        let kind_ok = toml::from_str::<toml::Value>(&text)
            .ok()
            .and_then(|v| v.get("fault")?.get("kind")?.as_str().map(str::to_owned))
            .and_then(|k| playbook::FaultKind::parse(&k))
            .is_none_or(|k| k.supported_on(config.target));
        if !kind_ok {
            continue;
        }
        out.push(playbook::parse(&text, &path, config)?);
    }
    anyhow::ensure!(
        !out.is_empty(),
        "no playbooks in {}",
        playbook::dir().display()
    );
    Ok(out)
}

fn describe(plan: &Plan, config: &Config) -> String {
    let d = |d: std::time::Duration| humantime::format_duration(d).to_string();
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    if let Some(w) = width() {
        t.set_width(w);
    }
    t.set_header(vec!["plan", plan.name.as_str()]);
    let rows: Vec<(&str, String)> = vec![
        ("file", plan.path.display().to_string()),
        ("about", plan.description.clone()),
        (
            "target",
            format!("{} (stack {})", config.target, config.stack),
        ),
        (
            "fault",
            format!("{} in {}", plan.fault.as_str(), plan.region),
        ),
        (
            "expects",
            if plan.expect_failover {
                format!("DNS failover to {}", config.secondary_region)
            } else {
                "no failover (the fault is held for its maximum duration)".into()
            },
        ),
        ("max duration", d(plan.max_duration)),
        ("hold after recovery", d(plan.hold)),
        (
            "steady state",
            format!(
                "both regions healthy, DNS on {}, replication lag ≤ {}, no fault left, no other drill",
                config.primary_region,
                d(plan.max_replication_lag)
            ),
        ),
        (
            "probes",
            format!(
                "user every {}, writer every {}, reader every {}, timeout {}",
                d(plan.user_interval),
                d(plan.writer_interval),
                d(plan.reader_interval),
                d(plan.request_timeout)
            ),
        ),
        (
            "health check",
            format!(
                "every {} s, threshold {}; DNS TTL {} s",
                config.health_check_interval_seconds,
                config.health_check_failure_threshold,
                config.dns_ttl_seconds
            ),
        ),
        (
            "objectives",
            format!("RTO ≤ {}, RPO ≤ {}", d(plan.rto), d(plan.rpo)),
        ),
        (
            "failback",
            if plan.failback {
                format!("measured, up to {}", d(plan.failback_timeout))
            } else {
                "restored, not measured".into()
            },
        ),
    ];
    for (k, v) in rows {
        t.add_row(vec![k.to_owned(), v]);
    }
    format!("{t}\n")
}

fn list(config: &Config) -> anyhow::Result<Outcome> {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    if let Some(w) = width() {
        t.set_width(w);
    }
    t.set_header(vec!["playbook", "fault", "on this target", "about"]);
    for path in playbook::all()? {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match playbook::load(&path, config) {
            Ok(p) => t.add_row(vec![
                p.name.clone(),
                format!("{} in {}", p.fault.as_str(), p.region),
                "yes".into(),
                p.description.clone(),
            ]),
            Err(e) => t.add_row(vec![name, "-".into(), "no".into(), e.to_string()]),
        };
    }
    println!("{t}");
    println!("playbooks from {}", playbook::dir().display());
    Ok(Outcome::Success)
}

fn history(config: &Config, json: bool) -> anyhow::Result<Outcome> {
    let mut reports: Vec<Report> = Vec::new();
    let dir = journal::dir();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let path = entry.path().join("report.json");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            match serde_json::from_str::<Report>(&text) {
                Ok(r)
                    if r.stack == config.stack
                        && r.schema_version == drill_report::SCHEMA_VERSION =>
                {
                    reports.push(r)
                }
                Ok(_) => {}
                Err(e) => eprintln!("warning: {} is not a drill report: {e}", path.display()),
            }
        }
    }
    reports.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else if reports.is_empty() {
        println!(
            "no drills of stack {} in {}: run `wildrydes failover-test`",
            config.stack,
            dir.display()
        );
    } else {
        println!("{}", render::history_table(&reports, width()));
    }
    Ok(Outcome::Success)
}

/// Several JUnit documents as one `<testsuites>`.
fn merge_junit(docs: &[String]) -> String {
    let mut suites = String::new();
    for d in docs {
        let start = d.find("<testsuite ").unwrap_or(0);
        let end = d.rfind("</testsuites>").unwrap_or(d.len());
        suites.push_str(&d[start..end]);
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"wildrydes failover-test\">\n{suites}</testsuites>\n"
    )
}
