//! `wildrydes config`: the effective settings, validated for the target,
//! so an operator sees exactly what `up` and the drills will use.

use clap::Args;

use super::{Outcome, load_config};
use crate::cli::GlobalArgs;

/// Version of the `--json` document.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the settings as JSON (schema version 1)
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: ConfigArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let config = load_config(global)?;
    if args.json {
        let doc = serde_json::json!({"schemaVersion": SCHEMA_VERSION, "config": config});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{config}");
    }
    Ok(Outcome::Success)
}
