//! `zombietrace spawn`: reproduces each zombie case on purpose and prints first-hand ground
//! truth (JSON Lines with `--json`) that the tracer's tests compare against.
//!
//! The process that runs this is the *top*. It is single-threaded and forks; every wait it
//! makes can be woken by SIGINT/SIGTERM/SIGHUP (see `cleanup`), after which everything it made
//! is killed and reaped. Processes it makes die with it (PR_SET_PDEATHSIG) or notice through
//! the lifeline pipe. Other processes of the spawner pass what they saw back to the top over
//! a pipe (`channel`), so that the top prints every line.
//!
//! Files: `cli` (flags), `limits` (refusing absurd input), `truth` (output), `process`
//! (syscalls), `fate` (how a child ends), `exit_stamp` (each child's last clock reading, in
//! memory every process of the spawner shares), `cleanup` (signals, lifeline, registry), `session`
//! (the top's waits, forks, reaps), `channel` (messages to the top). Scenarios: `direct`
//! (delayed, wnowait), `held` (never, ignore, nocldwait, caught-no-wait, blocked) with
//! `release` (the top's side of a hold), `orphan`, `threaded`, `exec_leak`, `io_uring`, `storm`;
//! and one per phase of a slow reap: `poll` (ask), `contended` (wake, with `sched`: CPUs and
//! priorities), `handler` (a reap in the SIGCHLD handler).

mod channel;
mod cleanup;
mod cli;
mod contended;
mod direct;
mod exec_leak;
mod exit_stamp;
mod fate;
mod handler;
mod held;
mod io_uring;
mod limits;
mod orphan;
mod poll;
mod process;
mod release;
mod sched;
mod session;
mod storm;
mod threaded;
mod truth;

use std::process::ExitCode;

use anyhow::Context as _;

pub use cli::Scenario;
use held::Kind;
use session::Session;

/// With --json, ground truth as JSON Lines on stdout: one `ready` line once the children exist
/// (for held scenarios: once the zombies are in place), one `child` line per child when its
/// fate is known, one `done` line last. Times are CLOCK_MONOTONIC ns (bpf_ktime_get_ns).
/// A `child` line brackets each moment a tracer measures (fields: `truth::ChildRecord`): the
/// zombie moment lies in [`exiting_ns`, `gone_ns`] (the child's last reading before it exited;
/// when the reaper learned it was gone), the reap in [`reap_call_ns`, `reaped_ns`] (right before
/// the reaping call; right after it returned).
#[derive(Debug, clap::Args)]
pub struct SpawnArgs {
    #[command(subcommand)]
    pub scenario: Scenario,
}

pub fn run(args: SpawnArgs) -> anyhow::Result<ExitCode> {
    let sc = &args.scenario;
    sc.validate()?;
    limits::ensure_fds(children(sc))?;
    // Before anything is forked: every descendant inherits the table.
    exit_stamp::init().context("mapping the exit-stamp table")?;
    let mut s = Session::new(sc.name(), sc.json())?;
    let subreaper = match sc {
        Scenario::Never(a) | Scenario::CaughtNoWait(a) | Scenario::Blocked(a) => a.subreaper,
        Scenario::Orphan(a) => a.subreaper,
        Scenario::ExecLeak(a) => a.subreaper,
        _ => false,
    };
    if subreaper {
        // SAFETY: plain prctl.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
            return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_CHILD_SUBREAPER)");
        }
    }
    let done = match sc {
        Scenario::Delayed(a) => direct::delayed(&mut s, a),
        Scenario::Never(a) => held::held(&mut s, Kind::Never, a),
        Scenario::CaughtNoWait(a) => held::held(&mut s, Kind::CaughtNoWait, a),
        Scenario::Blocked(a) => held::held(&mut s, Kind::Blocked, a),
        Scenario::Ignore(a) => held::auto(&mut s, Kind::Ignore, a),
        Scenario::Nocldwait(a) => held::auto(&mut s, Kind::Nocldwait, a),
        Scenario::Orphan(a) => orphan::run(&mut s, a),
        Scenario::ThreadedLeader(a) => threaded::run(&mut s, a),
        Scenario::Wnowait(a) => direct::wnowait(&mut s, a),
        Scenario::ExecLeak(a) => exec_leak::run(&mut s, a),
        Scenario::IoUring(a) => io_uring::run(&mut s, a),
        Scenario::Storm(a) => storm::run(&mut s, a),
        Scenario::Poll(a) => poll::run(&mut s, a),
        Scenario::Contended(a) => contended::run(&mut s, a),
        Scenario::Handler(a) => handler::run(&mut s, a),
    };
    // Whatever happened, nothing the spawner made outlives this point.
    s.reg.shutdown();
    let done = done?;
    s.out.done(done.clone())?;
    let held = matches!(
        sc,
        Scenario::Never(_)
            | Scenario::CaughtNoWait(_)
            | Scenario::Blocked(_)
            | Scenario::Ignore(_)
            | Scenario::Nocldwait(_)
            | Scenario::ExecLeak(_)
    );
    Ok(match done.signal {
        // A stop signal is how a hold is meant to end early; elsewhere it cut the run short.
        Some(sig) if !held => ExitCode::from(128u8.saturating_add(sig as u8)),
        _ => ExitCode::SUCCESS,
    })
}

fn children(sc: &Scenario) -> u32 {
    match sc {
        Scenario::Delayed(a) => a.children,
        Scenario::Never(a) | Scenario::CaughtNoWait(a) | Scenario::Blocked(a) => a.children,
        Scenario::Ignore(a) | Scenario::Nocldwait(a) => a.children,
        Scenario::Orphan(a) => a.children,
        Scenario::ThreadedLeader(a) => a.children,
        Scenario::Wnowait(a) => a.children,
        Scenario::ExecLeak(a) => a.children,
        Scenario::IoUring(a) => a.children,
        Scenario::Storm(a) => a.parents,
        Scenario::Poll(a) => a.children,
        Scenario::Contended(_) => 2, // one child and its hog at a time
        Scenario::Handler(a) => a.children,
    }
}
