//! `wildrydes sandbox`: the embedded two-region AWS stand-in. `start`
//! launches one process per region and a global one from this binary;
//! the rest inspect, outage and stop them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use wildrydes_sandbox::launcher::{self, Sandbox, StartOptions, Started};
use wildrydes_sandbox::server::{self, Role};
use wildrydes_sandbox::services::dynamodb::replication::Settings;
use wildrydes_sandbox::topology::{Layout, Topology};

use super::{Outcome, load_config};
use crate::cli::GlobalArgs;

/// How the launcher runs one sandbox process: this binary's hidden
/// `sandbox serve` (the sandbox itself knows no command line).
pub fn serve_command() -> anyhow::Result<Vec<std::ffi::OsString>> {
    Ok(vec![
        std::env::current_exe()?.into(),
        "sandbox".into(),
        "serve".into(),
    ])
}

/// Where sandbox state lives unless `--dir` says otherwise.
pub const DEFAULT_DIR: &str = ".wildrydes/sandbox";

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The sandbox's directory: state, logs, data, credentials
    #[arg(long, global = true, env = "WILDRYDES_SANDBOX_DIR", default_value = DEFAULT_DIR, value_name = "PATH")]
    pub dir: PathBuf,

    #[command(subcommand)]
    pub command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Start both regions and the global process (reuses a healthy running sandbox)
    Start(StartArgs),
    /// Stop the sandbox's processes; data is kept for the next start
    Stop,
    /// Show each process, its address and whether it answers
    Status(StatusArgs),
    /// Show the end of a process's log, or where the logs are
    Logs(LogsArgs),
    /// Stop the sandbox and delete all of its data and credentials
    Reset,
    /// Freeze a region's process (SIGSTOP): a blackout that holds connections
    Freeze(ProcessArg),
    /// Resume a frozen region (SIGCONT)
    Thaw(ProcessArg),
    /// Kill a region's process (SIGKILL) as a crash would; its data stays
    Kill(ProcessArg),
    /// Start a killed region's process again on its address, data intact
    Revive(ProcessArg),
    /// Show or set the replication delay and jitter into a region
    Replication(ReplicationArgs),
    /// Run one sandbox process (started by `start`; not for direct use)
    #[command(hide = true)]
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Port shared by every process (0 picks a free one)
    #[arg(long, env = "WILDRYDES_SANDBOX_PORT", default_value_t = 4710)]
    pub port: u16,
    /// Print the sandbox's endpoints as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// A region name or `global`; without it, list the log files
    pub process: Option<String>,
    /// How many lines from the end
    #[arg(long, short = 'n', default_value_t = 40)]
    pub lines: usize,
}

#[derive(Debug, Args)]
pub struct ProcessArg {
    /// A region name (or `global`)
    pub process: String,
}

#[derive(Debug, Args)]
pub struct ReplicationArgs {
    /// The region replicated into
    pub region: String,
    /// New mean delay in milliseconds (0 for none)
    #[arg(long)]
    pub delay_ms: Option<u64>,
    /// New jitter in milliseconds (± around the delay, at most the delay)
    #[arg(long)]
    pub jitter_ms: Option<u64>,
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub listen_fd: i32,
    #[arg(long)]
    pub topology: String,
}

fn absolute(dir: &Path) -> anyhow::Result<PathBuf> {
    Ok(if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()?.join(dir)
    })
}

fn running(root: &Path) -> anyhow::Result<Sandbox> {
    Sandbox::open(root)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no sandbox is running at {}; start one with `wildrydes sandbox start`",
            root.display()
        )
    })
}

// Its output predates `output::Printer`; moving it over is left for a
// follow-up.
pub async fn run(args: SandboxArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let root = absolute(&args.dir)?;
    match args.command {
        SandboxCommand::Serve(serve) => {
            let topology: Topology = serde_json::from_str(&serve.topology)?;
            server::serve_inherited(
                Role::parse(&serve.role)?,
                Layout::new(root),
                topology,
                serve.listen_fd,
            )
            .await?;
            Ok(Outcome::Success)
        }
        SandboxCommand::Start(start) => {
            let config = load_config(global)?;
            let opts = StartOptions {
                root: root.clone(),
                regions: config.regions().iter().map(|r| r.to_string()).collect(),
                port: start.port,
                serve_command: serve_command()?,
                ready_timeout: Duration::from_secs(15),
            };
            let begun = std::time::Instant::now();
            let (sandbox, started) = launcher::start(&opts).await.map_err(|e| match e {
                launcher::LaunchError::PortInUse { .. } => anyhow::anyhow!(
                    "{e} with --port (or WILDRYDES_SANDBOX_PORT; 0 picks a free one)"
                ),
                e => e.into(),
            })?;
            if start.json {
                let doc = serde_json::json!({
                    "schemaVersion": 1,
                    "outcome": started,
                    "dir": root,
                    "topology": sandbox.state.topology,
                    "credentialsFile": sandbox.layout.credentials_file(),
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                let verb = match started {
                    Started::Started => format!("started in {} ms", begun.elapsed().as_millis()),
                    Started::Reused => "already running".to_owned(),
                };
                println!("sandbox {verb} at {}", root.display());
                let topology = &sandbox.state.topology;
                for e in topology.endpoints() {
                    println!("  {:<16} {}", e.name, e.url());
                }
                for line in service_lines(topology) {
                    println!("  {line}");
                }
                if !sandbox.state.topology.shared_port {
                    println!(
                        "  (127.0.1.x is not available here: each process has its own port on 127.0.0.1)"
                    );
                }
            }
            Ok(Outcome::Success)
        }
        SandboxCommand::Stop => {
            let stopped = launcher::stop(&root)?;
            if stopped.is_empty() {
                println!("no sandbox processes were running at {}", root.display());
            } else {
                println!("stopped {}", stopped.join(", "));
            }
            Ok(Outcome::Success)
        }
        SandboxCommand::Reset => {
            launcher::reset(&root)?;
            println!("removed the sandbox at {}", root.display());
            Ok(Outcome::Success)
        }
        SandboxCommand::Status(status) => show_status(&root, &status).await,
        SandboxCommand::Logs(logs) => show_logs(&root, &logs),
        SandboxCommand::Freeze(p) => {
            running(&root)?.freeze(&p.process)?;
            println!("froze {}", p.process);
            Ok(Outcome::Success)
        }
        SandboxCommand::Thaw(p) => {
            running(&root)?.thaw(&p.process)?;
            println!("thawed {}", p.process);
            Ok(Outcome::Success)
        }
        SandboxCommand::Kill(p) => {
            running(&root)?.kill(&p.process)?;
            println!("killed {}", p.process);
            Ok(Outcome::Success)
        }
        SandboxCommand::Revive(p) => {
            let mut sandbox = running(&root)?;
            sandbox
                .revive_with(&p.process, &serve_command()?, Duration::from_secs(15))
                .await?;
            println!("revived {}", p.process);
            Ok(Outcome::Success)
        }
        SandboxCommand::Replication(r) => replication(&root, &r).await,
    }
}

/// `sandbox status`: each process and whether it answers.
async fn show_status(root: &Path, status: &StatusArgs) -> anyhow::Result<Outcome> {
    let sandbox = running(root)?;
    let processes = sandbox.status().await;
    let healthy = processes.iter().all(|p| p.state == "running");
    if status.json {
        let doc = serde_json::json!({
            "schemaVersion": 1,
            "dir": root,
            "startedAt": sandbox.state.started_at,
            "sharedPort": sandbox.state.topology.shared_port,
            "topology": sandbox.state.topology,
            "processes": processes,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(["process", "endpoint", "pid", "state"]);
        for p in &processes {
            table.add_row([
                p.name.clone(),
                p.endpoint.clone(),
                p.pid.to_string(),
                p.state.clone(),
            ]);
        }
        println!(
            "sandbox at {} (started {})",
            root.display(),
            sandbox.state.started_at
        );
        if !sandbox.state.topology.shared_port {
            println!("127.0.1.x is not available here: each process has its own port on 127.0.0.1");
        }
        println!("{table}");
        for line in service_lines(&sandbox.state.topology) {
            println!("{line}");
        }
    }
    Ok(if healthy {
        Outcome::Success
    } else {
        Outcome::NeedsAttention
    })
}

/// `sandbox logs`: where the logs are, or the end of one.
fn show_logs(root: &Path, logs: &LogsArgs) -> anyhow::Result<Outcome> {
    let layout = Layout::new(root);
    match &logs.process {
        None => {
            let mut entries: Vec<_> = std::fs::read_dir(layout.logs_dir())
                .map_err(|e| anyhow::anyhow!("no logs at {}: {e}", layout.logs_dir().display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for path in entries {
                println!("{}", path.display());
            }
        }
        Some(process) => {
            let path = layout.log_file(process);
            anyhow::ensure!(
                path.exists(),
                "there is no log for {process:?} at {}",
                path.display()
            );
            println!("{}", launcher::tail(&path, logs.lines));
        }
    }
    Ok(Outcome::Success)
}

/// `sandbox replication`: show or set the delay into a region.
async fn replication(root: &Path, r: &ReplicationArgs) -> anyhow::Result<Outcome> {
    let sandbox = running(root)?;
    let (mut settings, subscriptions) = sandbox.replication(&r.region).await?;
    if r.delay_ms.is_some() || r.jitter_ms.is_some() {
        settings.delay_ms = r.delay_ms.unwrap_or(settings.delay_ms);
        settings.jitter_ms = r
            .jitter_ms
            .unwrap_or(settings.jitter_ms.min(settings.delay_ms));
        anyhow::ensure!(
            settings.jitter_ms <= settings.delay_ms,
            "--jitter-ms must not exceed --delay-ms"
        );
        settings = sandbox
            .set_replication(&r.region, Settings { ..settings })
            .await?;
    }
    if r.json {
        let doc = serde_json::json!({"schemaVersion": 1, "region": r.region, "settings": settings, "subscriptions": subscriptions});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "replication into {}: delay {} ms ± {} ms",
            r.region, settings.delay_ms, settings.jitter_ms
        );
        for s in subscriptions {
            let state = match (&s.paused, &s.last_error) {
                (Some(p), _) => format!("paused: {p}"),
                (None, Some(e)) => format!("error: {e}"),
                (None, None) if s.caught_up => "caught up".to_owned(),
                _ => "catching up".to_owned(),
            };
            let resumed = match s.resumed.as_ref().and_then(|r| r.unfinished_batch.as_ref()) {
                Some(b) => format!(
                    "; resumed reading the {} records of a batch a restart cut short",
                    b.records
                ),
                None => String::new(),
            };
            println!(
                "  {} from {}: {state}; {} applied{resumed}",
                s.table, s.source, s.applied
            );
        }
    }
    Ok(Outcome::Success)
}

/// The global process's other listeners, one line each.
fn service_lines(topology: &Topology) -> Vec<String> {
    let host = topology.global.address;
    let mut lines = Vec::new();
    if let Some(port) = topology.dns_port {
        lines.push(format!("{:<16} {host}:{port} (UDP and TCP)", "dns"));
    }
    if let Some(url) = topology.edge_url() {
        lines.push(format!("{:<16} {url} (the API, following DNS)", "edge"));
    }
    if let Some(url) = topology.cdn_url() {
        lines.push(format!(
            "{:<16} {url} (CloudFront distributions)",
            "cloudfront"
        ));
    }
    lines
}
