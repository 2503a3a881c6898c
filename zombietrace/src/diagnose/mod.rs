//! Why a parent is not reaping: procfs facts and a verdict (issue 4). Also `zombietrace ps`.

use std::process::ExitCode;

/// List today's zombies and their parents, with why each parent is not reaping (no eBPF).
#[derive(Debug, clap::Args)]
pub struct PsArgs {}

pub fn ps(_args: PsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
