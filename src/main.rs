//! `wildrydes`: deploy, inspect and failover-drill the two-region Wild Rydes
//! ticketing service. `main` only parses, sets up logging, dispatches and
//! maps the outcome to an exit code (0 ok, 1 needs attention, 2 error).

mod aws;
mod cli;
mod commands;
mod config;
mod deploy;
mod drill;
mod journal;
mod output;
mod resources;
mod status;
mod target;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cli.global.init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
