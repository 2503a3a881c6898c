//! `zombietrace spawn`: reproduces each zombie case on purpose, with ground truth.
//! (Placeholder: the spawner is being written; see issue 3.)

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SpawnArgs {}

pub fn run(_args: SpawnArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
