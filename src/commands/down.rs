//! `wildrydes down`: remove everything `up` created.

use clap::Args;

use super::{Outcome, load_config, not_built};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct DownArgs {}

pub async fn run(_args: DownArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    load_config(global)?;
    Err(not_built("down", 6))
}
