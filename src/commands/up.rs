//! `wildrydes up`: bootstrap both regions and deploy the app, idempotently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::{Outcome, load_config};
use crate::cli::GlobalArgs;
use crate::config::Target;
use crate::deploy::{self, Ctx, StepReport, package, progress};
use crate::output::{self, Printer};
use crate::resources::function;
use crate::target;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Give up on any one step after this long (e.g. 10m); default: wait as long as AWS takes
    #[arg(long, env = "WILDRYDES_STEP_TIMEOUT", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub step_timeout: Option<std::time::Duration>,
    /// Print the result as JSON (progress still goes to stderr)
    #[arg(long)]
    pub json: bool,
    /// Show what would be created or updated, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Deploy this `bootstrap` binary instead of building the Lambda
    #[arg(long, env = "WILDRYDES_LAMBDA_BINARY", value_name = "PATH")]
    pub lambda_binary: Option<PathBuf>,
    /// The web UI's files [default: web/public/ of the wildrydes sources]
    #[arg(long, env = "WILDRYDES_WEB_DIR", value_name = "PATH")]
    pub web_dir: Option<PathBuf>,
}

/// The files of the web UI, by key (README.md is documentation, not UI).
fn web_files(dir: &Path) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                let key = path
                    .strip_prefix(root)?
                    .to_string_lossy()
                    .replace('\\', "/");
                if key != "README.md" && key != "config.js" {
                    out.insert(key, std::fs::read(&path)?);
                }
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    if dir.is_dir() {
        walk(dir, dir, &mut out)?;
    }
    Ok(out)
}

pub async fn run(args: UpArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let config = load_config(global)?;
    let printer = Printer::new(global, args.json);
    let begun = Instant::now();
    if config.target == Target::Aws && config.facebook_app_id.is_none() {
        anyhow::bail!(
            "on AWS the login needs a Facebook app: set facebook_app_id in wildrydes.toml (or WILDRYDES_FACEBOOK_APP_ID)"
        );
    }
    let for_aws = config.target == Target::Aws;
    let lambda = match &args.lambda_binary {
        Some(path) => package::package_binary(path, &config.lambda_architecture, for_aws)?,
        None => {
            printer
                .note("building the ticket Lambda (cargo build --release -p wildrydes-tickets)…");
            package::build(&config.lambda_architecture, for_aws)?
        }
    };
    let web_dir = match &args.web_dir {
        Some(d) => d.clone(),
        None => package::workspace_dir()
            .map(|d| d.join("web/public"))
            .unwrap_or_else(|| PathBuf::from("web/public")),
    };
    let web = web_files(&web_dir)?;

    let session = target::open(&config, target::OpenOptions::DEPLOY).await?;
    if let Some(sb) = &session.sandbox {
        printer.note(format_args!(
            "sandbox {} at {}",
            match session.started {
                Some(wildrydes_sandbox::launcher::Started::Started) => "started",
                _ => "running",
            },
            sb.layout.root.display()
        ));
    }
    let clients = session.clients.clone();
    let lambda_info = json!({"binary": lambda.binary, "codeSha256": lambda.code_sha256});
    let mut ctx = Ctx::open(&config, &session, args.dry_run, Some(lambda), web).await?;
    ctx.step_timeout = args.step_timeout;
    ctx.cursor_secret = Some(function::cursor_secret(&ctx).await?);
    if !args.dry_run {
        target::point_edge(&session, &config).await?;
    }
    let ctx = Arc::new(ctx);
    let plan = deploy::up::plan(&ctx);
    let reporter = printer.progress();
    let reports = deploy::execute(plan, ctx.clone(), reporter.as_ref()).await;
    let ok = reports.iter().all(StepReport::ok);
    let web_url = ctx.outputs.web_origin.get().map(|o| format!("{o}/"));
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
            "lambda": lambda_info,
            "next": {
                "webUrl": web_url,
                "apiUrl": session.api_url,
                "login": session.facebook_login_url,
                "identityPoolId": ctx.outputs.pool_id.get(&config.primary_region),
                "identityPools": config.regions().map(|r| json!({"region": r, "identityPoolId": ctx.outputs.pool_id.get(r)})),
            },
            "calls": {
                "all": clients.calls.all(),
                "writes": clients.calls.writes(),
            },
        }))?;
    } else {
        printer.result(table(&reports));
        let writes: u32 = clients.calls.writes().values().sum();
        let total: u32 = clients.calls.all().values().sum();
        printer.result(format_args!(
            "{} in {seconds:.1} s ({total} AWS calls, {writes} of them writes)",
            if args.dry_run { "planned" } else { "done" }
        ));
        if !ok {
            for r in reports.iter().filter(|r| r.error.is_some()) {
                printer.result(format_args!(
                    "\n{} failed in {}: {}",
                    r.resource,
                    r.scope,
                    r.error.as_deref().unwrap_or_default()
                ));
            }
            printer.result(
                "\nWhat succeeded stays; fix the cause and run `wildrydes up` again: it resumes where this run stopped.",
            );
        } else if !args.dry_run {
            print_next(printer, &config, &session, web_url.as_deref());
        }
    }
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::NeedsAttention
    })
}

/// Where to go once the stack is up.
fn print_next(
    printer: Printer,
    config: &crate::config::Config,
    session: &target::Session,
    web_url: Option<&str>,
) {
    printer.result("");
    if let Some(url) = web_url {
        printer.result(format_args!("web UI   {url}"));
    }
    printer.result(format_args!("API      {}", session.api_url));
    match &session.facebook_login_url {
        Some(_) => {
            printer.result("login    the sandbox's Facebook stand-in (any name; no password)")
        }
        None => printer.result(format_args!(
            "login    Facebook app {}",
            config.facebook_app_id.as_deref().unwrap_or_default()
        )),
    }
    printer.result("next     wildrydes failover-test");
}

/// Every step's resource, scope, action and id (ARNs cut to their
/// resource part; `--json` has them whole).
pub fn table(reports: &[StepReport]) -> comfy_table::Table {
    let mut t = output::table(&["scope", "resource", "action", "id"]);
    for r in reports {
        t.add_row([
            r.scope.clone(),
            r.resource.clone(),
            progress::outcome(r),
            output::short_id(r.id.as_deref().unwrap_or_default()),
        ]);
    }
    t
}
