//! `wildrydes up`: bootstrap both regions and deploy the app.

use clap::Args;

use super::{Outcome, load_config, not_built};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct UpArgs {}

pub async fn run(_args: UpArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    load_config(global)?;
    Err(not_built("up", 6))
}
