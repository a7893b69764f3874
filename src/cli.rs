//! The command line: one `Command` variant per subcommand, each wrapping
//! its own `Args`; doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::config::Target;

/// Operator CLI for the multi-region Wild Rydes ticketing service.
///
/// Deploys the app (API Gateway + Lambda + DynamoDB global table, Cognito,
/// Route 53 failover, S3 + CloudFront) to a primary and a secondary region,
/// shows where it stands, and runs failover drills that measure RTO and RPO
/// against the objectives. By default it drives an embedded two-region
/// sandbox on loopback; `--target aws` drives real AWS with the same code.
#[derive(Debug, Parser)]
#[command(
    name = "wildrydes",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Settings file [default: ./wildrydes.toml when present, else built-in defaults]
    #[arg(long, global = true, env = "WILDRYDES_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Where to deploy and drill: the embedded sandbox or real AWS
    #[arg(long, global = true, env = "WILDRYDES_TARGET", value_enum, default_value_t = Target::Sandbox)]
    pub target: Target,

    /// More log output (-v info, -vv debug, -vvv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

impl GlobalArgs {
    /// Logs go to stderr; `RUST_LOG` overrides the level the flags choose.
    pub fn init_tracing(&self) {
        let level = match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            _ => "trace",
        };
        // aws-sigv4 writes canonical requests, session tokens included, at
        // debug and trace: never shown, whatever the level asked for.
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level))
            .add_directive("aws_sigv4=info".parse().expect("a valid directive"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .init();
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bootstrap both regions and deploy the app, idempotently
    Up(commands::up::UpArgs),
    /// Remove everything `up` created
    Down(commands::down::DownArgs),
    /// Show both regions, health checks, DNS, replication lag and leftover faults
    Status(commands::status::StatusArgs),
    /// Run a failover drill from a playbook and report RTO and RPO
    FailoverTest(commands::failover_test::FailoverTestArgs),
    /// Start, stop, inspect and outage the embedded two-region sandbox
    Sandbox(commands::sandbox::SandboxArgs),
    /// Show the effective settings and where they came from
    Config(commands::config::ConfigArgs),
}
