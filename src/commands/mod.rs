//! One module per subcommand, each with its `Args` and `async fn run`.

pub mod config;
pub mod down;
pub mod failover_test;
pub mod sandbox;
pub mod status;
pub mod up;

use std::process::ExitCode;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::config::Config;

/// How a command that ran to the end came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, healthy, objectives met: exit 0.
    Success,
    /// Ran, but something is unhealthy or an objective was missed: exit 1.
    NeedsAttention,
    /// Could not do what was asked (a drill that could not run, with its
    /// report written): exit 2.
    CouldNotRun,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::NeedsAttention => ExitCode::from(1),
            Outcome::CouldNotRun => ExitCode::from(2),
        }
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let global = cli.global;
    match cli.command {
        Command::Up(args) => up::run(args, &global).await,
        Command::Down(args) => down::run(args, &global).await,
        Command::Status(args) => status::run(args, &global).await,
        Command::FailoverTest(args) => failover_test::run(args, &global).await,
        Command::Sandbox(args) => sandbox::run(args, &global).await,
        Command::Config(args) => config::run(args, &global).await,
    }
}

/// The settings for this invocation, from `--config`, the file, the
/// environment and `--target`.
pub fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    Ok(Config::load(
        global.config.as_deref(),
        global.target,
        |name| std::env::var(name).ok(),
    )?)
}
