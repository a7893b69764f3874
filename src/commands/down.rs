//! `wildrydes down`: remove everything `up` created.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::{Outcome, load_config};
use crate::cli::GlobalArgs;
use crate::config::Target;
use crate::deploy::{self, Ctx, StepReport};
use crate::output::Printer;
use crate::target;

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Do not ask for confirmation (required on AWS when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show what would be deleted, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// On the sandbox: stop it afterwards
    #[arg(long)]
    pub stop: bool,
    /// Give up on any one step after this long (e.g. 10m); default: wait as long as AWS takes
    #[arg(long, env = "WILDRYDES_STEP_TIMEOUT", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub step_timeout: Option<std::time::Duration>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

fn confirm(stack: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "`down` on AWS deletes stack {stack}'s resources: pass --yes to confirm (stdin is not a terminal)"
        );
    }
    eprint!("Delete every resource of stack {stack} on AWS? Type the stack name to confirm: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == stack)
}

pub async fn run(args: DownArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let config = load_config(global)?;
    let printer = Printer::new(global, args.json);
    if args.stop && config.target != Target::Sandbox {
        anyhow::bail!("--stop stops the sandbox; it means nothing with --target aws");
    }
    if config.target == Target::Aws && !args.yes && !args.dry_run && !confirm(&config.stack)? {
        printer.warn("nothing was deleted");
        return Ok(Outcome::NeedsAttention);
    }
    let begun = Instant::now();
    let session = target::open(&config, target::OpenOptions::DEPLOY).await?;
    let clients = session.clients.clone();
    let mut ctx = Ctx::open(&config, &session, args.dry_run, None, BTreeMap::new()).await?;
    ctx.step_timeout = args.step_timeout;
    let ctx = Arc::new(ctx);
    let reporter = printer.progress();
    let reports = deploy::execute(deploy::down::plan(&ctx), ctx.clone(), reporter.as_ref()).await;
    let ok = reports.iter().all(StepReport::ok);
    let mut stopped = Vec::new();
    if ok && args.stop && !args.dry_run {
        stopped = wildrydes_sandbox::launcher::stop(&target::sandbox_dir()?)?;
    }
    let seconds = begun.elapsed().as_secs_f64();
    if printer.json() {
        printer.document(&json!({
            "schemaVersion": 1,
            "target": config.target,
            "stack": config.stack,
            "dryRun": args.dry_run,
            "ok": ok,
            "seconds": seconds,
            "steps": reports,
            "sandboxStopped": stopped,
            "calls": {"all": clients.calls.all(), "writes": clients.calls.writes()},
        }))?;
    } else {
        printer.result(super::up::table(&reports));
        printer.result(format_args!(
            "{} in {seconds:.1} s",
            if args.dry_run { "planned" } else { "done" }
        ));
        if !stopped.is_empty() {
            printer.result(format_args!("sandbox stopped ({})", stopped.join(", ")));
        }
        if !ok {
            printer.result(
                "\nSome deletions failed (above); what was deleted stays deleted: fix the cause and run `wildrydes down` again.",
            );
        }
    }
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::NeedsAttention
    })
}
