//! `wildrydes failover-test`: run a drill from a playbook and measure RTO
//! and RPO against the objectives.

use clap::Args;

use super::{Outcome, load_config};
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct FailoverTestArgs {}

pub async fn run(_args: FailoverTestArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    load_config(global)?;
    Err(anyhow::anyhow!(
        "`wildrydes failover-test` is not built yet (the drill engine comes after `up` and `status`); nothing was done"
    ))
}
