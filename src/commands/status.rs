//! `wildrydes status`: where the stack stands, at a glance.

use clap::Args;

use super::{Outcome, load_config, not_built};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct StatusArgs {}

pub async fn run(_args: StatusArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    load_config(global)?;
    Err(not_built("status", 7))
}
