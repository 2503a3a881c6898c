//! Why a parent is not reaping: procfs facts and a verdict (issue 4). Also `zombietrace ps`.
//!
//! - `procinfo.rs`: reading and parsing /proc/<pid>/{stat,status,wchan,cmdline,cgroup,loginuid}
//! - `sigchld.rs`: SIGCHLD's disposition and mask from SigIgn/SigCgt/SigBlk
//! - `diagnosis.rs`: the facts about one process (`diagnose`)
//! - `verdict.rs`: the one line a person can act on
//! - `schedclock.rs`: how long a zombie has been one, from the scheduler clock
//! - `ps.rs`, `render.rs`: the `ps` command, its text and JSON (docs/ps.md)

mod diagnosis;
mod procinfo;
mod ps;
mod render;
mod schedclock;
mod sigchld;
mod verdict;

use std::process::ExitCode;

// The tracer's API (trace.rs, output/): it diagnoses a parent when it starts leaking.
pub use diagnosis::{Diagnosis, diagnose};
pub use sigchld::Sigchld;
pub use verdict::verdict;
// For a caller that knows its zombies' names (ps adds it to its verdicts).
#[allow(unused_imports)]
pub use verdict::exec_hint;

/// List today's zombies and their parents, with why each parent is not reaping (no eBPF).
///
/// Every zombie (state Z) in /proc, grouped by parent; parents with the most zombies first,
/// then the oldest. For each parent: its command, user, state, where it sleeps, what it does
/// with SIGCHLD, whether it is traced or a container init, and a one-line verdict. No root
/// needed: what procfs hides from other users shows as unknown.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Print one JSON document (see docs/ps.md) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn ps(args: PsArgs) -> anyhow::Result<ExitCode> {
    ps::run(args)
}
