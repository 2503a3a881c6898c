//! The `spawn` command line: one subcommand per scenario and its flags (limits: `limits.rs`).

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::fate::Fate;
use crate::duration::{format_ns, parse_duration};
use crate::sys::signal::parse_fatal as parse_signal;

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// Children exit at once; the parent reaps each --delay after it saw it gone.
    Delayed(DelayedArgs),
    /// The parent never reaps; it holds its zombies until --hold ends or SIGTERM/SIGINT.
    Never(HeldArgs),
    /// The parent sets SIGCHLD to SIG_IGN: the kernel reaps its children at once.
    Ignore(AutoArgs),
    /// The parent sets SA_NOCLDWAIT (with a real handler): the kernel reaps at once.
    Nocldwait(AutoArgs),
    /// The parent catches SIGCHLD but never calls wait (a common bug); holds like `never`.
    CaughtNoWait(HeldArgs),
    /// The parent blocks SIGCHLD and never waits; holds like `never`.
    Blocked(HeldArgs),
    /// The parent exits first; its children exit --delay later, reaped by init or the subreaper.
    Orphan(OrphanArgs),
    /// The child's main thread exits first; another thread lives on for --delay.
    ThreadedLeader(ThreadedArgs),
    /// The parent peeks with waitid(WNOWAIT) every few ms for --delay, then reaps with waitid.
    Wnowait(WnowaitArgs),
    /// A parent with a child execs `sleep`, which never waits (`sh -c 'sleep 1 & exec sleep 30'`).
    ExecLeak(ExecLeakArgs),
    /// The parent reaps with io_uring IORING_OP_WAITID (Linux 6.7+).
    IoUring(IoUringArgs),
    /// Load generator: parallel parents loop fork → child exit → reap.
    Storm(StormArgs),
    /// Slow to ask: the parent polls with wait4(WNOHANG) every --poll, so a child waits up to
    /// that long as a zombie (the ask phase).
    Poll(PollArgs),
    /// Slow to wake: the parent blocks in wait4, but a SCHED_FIFO hog takes its CPU for --burst
    /// when the child exits (the wake phase). Needs root and two CPUs.
    Contended(ContendedArgs),
    /// The parent reaps in its SIGCHLD handler (waitpid(-1, WNOHANG) in a loop), with SIGCHLD
    /// blocked for --block first (the handler starts late).
    Handler(HandlerArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReapMethod {
    Wait4,
    Waitid,
    /// waitid(P_PIDFD, pidfd)
    Pidfd,
}

impl ReapMethod {
    pub fn call(self) -> &'static str {
        match self {
            ReapMethod::Wait4 => "wait4",
            ReapMethod::Waitid => "waitid",
            ReapMethod::Pidfd => "waitid(P_PIDFD)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StormReap {
    Wait4,
    Waitid,
}

/// How each child ends.
#[derive(Debug, Args)]
pub struct FateArgs {
    /// Exit code of each child (0..=255).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub exit_code: i64,
    /// Each child dies by this signal instead of exiting (e.g. SEGV, ABRT, KILL, 9).
    #[arg(long, value_name = "SIG", value_parser = parse_signal)]
    pub kill_with: Option<i32>,
    /// Each child allocates and touches this many MiB of heap before it ends.
    #[arg(long, value_name = "MIB", default_value_t = 0)]
    pub touch_mib: u32,
    /// Each child renames itself to NAME (prctl PR_SET_NAME, at most 15 bytes) before it ends:
    /// `\xNN`, `\e`, `\a`, `\n`, `\t`, `\\` give any byte, e.g. '\xff\xfe' (not UTF-8) or
    /// '\e[2J\a\nFAKE' (a hostile name), to see how zombietrace shows it.
    #[arg(long, value_name = "NAME", value_parser = parse_child_name)]
    pub child_name: Option<[u8; 16]>,
}

/// A command name from its escaped form: at most 15 bytes, no NUL.
fn parse_child_name(text: &str) -> Result<[u8; 16], String> {
    let bytes = crate::sys::text::unescape(text)?;
    if bytes.len() > 15 || bytes.contains(&0) {
        return Err(format!(
            "`{text}` is {} bytes{}: a command name holds at most 15, none of them NUL",
            bytes.len(),
            if bytes.contains(&0) {
                " with a NUL"
            } else {
                ""
            }
        ));
    }
    let mut name = [0; 16];
    name[..bytes.len()].copy_from_slice(&bytes);
    Ok(name)
}

impl FateArgs {
    pub fn fate(&self) -> Fate {
        Fate {
            exit_code: self.exit_code as i32,
            kill_with: self.kill_with,
            touch_mib: self.touch_mib,
            name: self.child_name,
        }
    }
}

#[derive(Debug, Args)]
pub struct DelayedArgs {
    /// Number of children.
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// Reap each child this long after the parent saw it gone.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub delay: Duration,
    /// The reaping call.
    #[arg(long, value_enum, default_value_t = ReapMethod::Wait4)]
    pub reap: ReapMethod,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HeldArgs {
    /// Number of children.
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// How long the parent holds its zombies (SIGTERM/SIGINT ends the hold early).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub hold: Duration,
    /// The spawner's top process is a child subreaper and reaps the released zombies (wait4).
    #[arg(long)]
    pub subreaper: bool,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AutoArgs {
    /// Number of children.
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// How long the parent stays after its children are gone (SIGTERM/SIGINT ends it early).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub hold: Duration,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OrphanArgs {
    /// Number of children (all orphaned by the same parent).
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// The children exit this long after their parent exited.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub delay: Duration,
    /// With --subreaper: the top reaps each this long after it saw it gone.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub reap_delay: Duration,
    /// The spawner's top process is a child subreaper: the orphans come to it.
    #[arg(long)]
    pub subreaper: bool,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ThreadedArgs {
    /// Number of children (each with a leader that exits first).
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// The other thread lives this long after the main thread exited.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    pub delay: Duration,
    /// The parent reaps each this long after its pidfd became readable.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub reap_delay: Duration,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WnowaitArgs {
    /// Number of children.
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// Peek for this long after the child was first seen gone, then reap.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub delay: Duration,
    /// Time between WNOWAIT peeks.
    #[arg(long, default_value = "2ms", value_parser = parse_duration)]
    pub peek_every: Duration,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExecLeakArgs {
    /// Number of children forked before the exec.
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// The children exit this long after they were forked.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub delay: Duration,
    /// How long the exec'd `sleep` runs (SIGTERM/SIGINT to the spawner ends it early).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub hold: Duration,
    /// The spawner's top process is a child subreaper and reaps the leaked zombies (wait4).
    #[arg(long)]
    pub subreaper: bool,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IoUringArgs {
    /// Number of children.
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// Reap each child this long after the parent saw it gone.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub delay: Duration,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StormArgs {
    /// Parallel parent processes.
    #[arg(long, default_value_t = 1)]
    pub parents: u32,
    /// Target exits per second, all parents together (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<f64>,
    /// How long the storm lasts.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Wait this long after each fork before reaping.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub delay: Duration,
    /// The reaping call.
    #[arg(long, value_enum, default_value_t = StormReap::Wait4)]
    pub reap: StormReap,
    /// One `child` line per child (costs a pipe write per child).
    #[arg(long)]
    pub per_child: bool,
    #[command(flatten)]
    pub fate: FateArgs,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PollArgs {
    /// Number of children (they exit at once).
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// Time between polls; the first poll comes this long after the fork.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub poll: Duration,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ContendedArgs {
    /// Number of children, one burst each (one after the other, with a rest as long as a burst).
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// How long the hog spins on the parent's CPU (10ms..=500ms).
    #[arg(long, default_value = "150ms", value_parser = parse_duration)]
    pub burst: Duration,
    /// The child exits this long into the burst (less than --burst).
    #[arg(long, default_value = "30ms", value_parser = parse_duration)]
    pub exit_at: Duration,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HandlerArgs {
    /// Number of children (they exit at once).
    #[arg(long, default_value_t = 1)]
    pub children: u32,
    #[command(flatten)]
    pub fate: FateArgs,
    /// How long the parent keeps SIGCHLD blocked after forking (0: its handler runs at once).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub block: Duration,
    /// Ground truth as JSON lines.
    #[arg(long)]
    pub json: bool,
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Delayed(_) => "delayed",
            Scenario::Never(_) => "never",
            Scenario::Ignore(_) => "ignore",
            Scenario::Nocldwait(_) => "nocldwait",
            Scenario::CaughtNoWait(_) => "caught-no-wait",
            Scenario::Blocked(_) => "blocked",
            Scenario::Orphan(_) => "orphan",
            Scenario::ThreadedLeader(_) => "threaded-leader",
            Scenario::Wnowait(_) => "wnowait",
            Scenario::ExecLeak(_) => "exec-leak",
            Scenario::IoUring(_) => "io-uring",
            Scenario::Storm(_) => "storm",
            Scenario::Poll(_) => "poll",
            Scenario::Contended(_) => "contended",
            Scenario::Handler(_) => "handler",
        }
    }

    pub fn json(&self) -> bool {
        match self {
            Scenario::Delayed(a) => a.json,
            Scenario::Never(a) | Scenario::CaughtNoWait(a) | Scenario::Blocked(a) => a.json,
            Scenario::Ignore(a) | Scenario::Nocldwait(a) => a.json,
            Scenario::Orphan(a) => a.json,
            Scenario::ThreadedLeader(a) => a.json,
            Scenario::Wnowait(a) => a.json,
            Scenario::ExecLeak(a) => a.json,
            Scenario::IoUring(a) => a.json,
            Scenario::Storm(a) => a.json,
            Scenario::Poll(a) => a.json,
            Scenario::Contended(a) => a.json,
            Scenario::Handler(a) => a.json,
        }
    }
}

/// Formats a duration in seconds for `sleep` (which takes fractions).
pub fn seconds_arg(d: Duration) -> String {
    let frac = format!("{:09}", d.subsec_nanos());
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        d.as_secs().to_string()
    } else {
        format!("{}.{frac}", d.as_secs())
    }
}

pub fn human(d: Duration) -> String {
    format_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
