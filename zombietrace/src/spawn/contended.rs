//! `contended`: a parent blocked in wait whose CPU is taken when its child exits. The parent
//! (the top) runs at normal priority pinned to one CPU and blocks in wait4 on its child; a CPU
//! hog at SCHED_FIFO, pinned to the same CPU, waits until it sees the parent asleep in wait,
//! then spins for --burst; the child, on another CPU, exits --exit-at into the burst. The
//! parent is woken at once but cannot run until the hog stops: the zombie time is the *wake*
//! phase (the parent was already asking). Ground truth: the hog's first and last readings while
//! it spun (`hog_start_ns`, `hog_end_ns`), the child's last reading before it exited, and the
//! wait call's start (before the exit) and return (after the hog).
//!
//! The burst is bounded (at most 500 ms), one per child, with as long a rest after each; the
//! tracer and everything else keep the other CPU.

use std::os::fd::AsRawFd as _;

use anyhow::{Context as _, bail};

use super::channel::{Msg, MsgWriter};
use super::cli::{ContendedArgs, ReapMethod, human};
use super::fate::Fate;
use super::process::{self, Pid, now_ns};
use super::sched::{self, Policy};
use super::session::{Recv, Session};
use super::truth::{ChildRecord, Done, Reap};
use crate::sys::proc;

/// The hog's real-time priority: the lowest, enough to run ahead of every normal task.
const HOG_PRIORITY: i32 = 1;
/// The child's real-time priority, so that it exits on time on its CPU whatever else runs
/// there (a busy machine, other real-time spawners): it only sleeps, then exits.
const CHILD_PRIORITY: i32 = 50;
/// How long the hog looks for the parent asleep in its wait call before giving up.
const SEE_WAIT_NS: u64 = 2_000_000_000;

/// Where each process runs: the parent and the hog share `shared`; the child runs on `other`.
#[derive(Clone, Copy)]
struct Cpus {
    shared: usize,
    other: usize,
}

fn cpus() -> anyhow::Result<Cpus> {
    let allowed = sched::allowed_cpus().context("sched_getaffinity")?;
    match (allowed.first(), allowed.last()) {
        (Some(&other), Some(&shared)) if other != shared => Ok(Cpus { shared, other }),
        _ => bail!(
            "contended needs two CPUs (the hog takes one, the child exits on another) but this \
             process may run only on {allowed:?}"
        ),
    }
}

/// The hog: pinned with the parent, real-time; once the parent sleeps in its wait call, tells
/// the child to go and spins for `burst_ns`.
fn hog(cpus: Cpus, parent: Pid, burst_ns: u64, go: std::os::fd::RawFd) -> anyhow::Result<Msg> {
    sched::pin_to(cpus.shared)
        .with_context(|| format!("pinning the hog to CPU {}", cpus.shared))?;
    sched::set_policy(Policy::Fifo(HOG_PRIORITY))
        .context("SCHED_FIFO for the CPU hog (needs CAP_SYS_NICE: run as root)")?;
    let deadline = now_ns() + SEE_WAIT_NS;
    // Asleep in wait4: its wchan says so, or (on x86 before 5.16, whose wchan is often 0) the
    // system call it is blocked in.
    let waiting = || {
        proc::wchan(parent as u32).as_deref() == Some("do_wait")
            || proc::syscall(parent as u32) == Some(libc::SYS_wait4)
    };
    while !waiting() {
        if now_ns() >= deadline {
            bail!(
                "the hog never saw the parent {parent} asleep in its wait call (/proc/{parent}/wchan \
                 is {:?}, syscall {:?})",
                proc::wchan(parent as u32),
                proc::syscall(parent as u32)
            );
        }
        process::sleep_until(now_ns() + 100_000);
    }
    let start_ns = now_ns();
    process::write_all(go, b"g").context("telling the child to go")?;
    process::close_raw(go);
    let mut end_ns = start_ns;
    while end_ns < start_ns + burst_ns {
        end_ns = now_ns();
    }
    Ok(Msg::Hog { start_ns, end_ns })
}

/// The child: on the other CPU, exits `exit_at_ns` after the hog said go (at once if the hog
/// failed: then the pipe reads end-of-file and the hog's error ends the scenario).
fn child(cpus: Cpus, fate: Fate, exit_at_ns: u64, go: std::os::fd::RawFd) -> ! {
    let _ = sched::pin_to(cpus.other);
    // Without CAP_SYS_NICE this fails, and so does the hog, whose error ends the scenario.
    let _ = sched::set_policy(Policy::Fifo(CHILD_PRIORITY));
    fate.touch();
    let mut byte = 0u8;
    // SAFETY: reads one byte into `byte`.
    while unsafe { libc::read(go, (&mut byte as *mut u8).cast(), 1) } < 0
        && process::errno() == libc::EINTR
    {}
    let at = now_ns() + exit_at_ns;
    while !process::sleep_until(at) {}
    fate.finish()
}

/// One burst: forks the child and the hog, reaps the child (the reap the scenario is about),
/// then the hog. Returns the child's record.
fn round(s: &mut Session, a: &ContendedArgs, cpus: Cpus) -> anyhow::Result<ChildRecord> {
    let (mut reader, write) = s.report_pipe()?;
    let (go_read, go_write) = process::pipe(false)?;
    let (go_r, go_w, read_end) = (go_read.as_raw_fd(), go_write.as_raw_fd(), reader.fd());
    let report = MsgWriter(write.as_raw_fd());
    let (fate, exit_at_ns) = (a.fate.fate(), a.exit_at.as_nanos() as u64);
    let kid = s.fork(false, None, move || {
        process::close_raw(read_end);
        process::close_raw(report.0);
        process::close_raw(go_w);
        child(cpus, fate, exit_at_ns, go_r)
    })?;
    let (top, burst_ns) = (s.top, a.burst.as_nanos() as u64);
    let hog_pid = s.fork(true, Some(report), move || {
        process::close_raw(read_end);
        process::close_raw(go_r);
        let msg = hog(cpus, top, burst_ns, go_w)?;
        report.send(&msg)?;
        Ok(())
    })?;
    drop((write, go_read, go_write));
    let r = s.reap(kid, ReapMethod::Wait4)?;
    let mut rec = ChildRecord::reaped(kid, top, top, None, r, Reap::Wait4);
    let deadline = now_ns() + burst_ns + 5_000_000_000;
    loop {
        match s.recv(&mut reader, Some(deadline), false)? {
            Recv::Msg(Msg::Hog { start_ns, end_ns }) => {
                rec.hog_start_ns = Some(start_ns);
                rec.hog_end_ns = Some(end_ns);
            }
            Recv::Msg(other) => bail!("unexpected message {other:?}"),
            Recv::Eof => break,
            Recv::Timeout => bail!("the hog {hog_pid} did not report within 5s of its burst"),
            Recv::Stop => {} // not watched for here
        }
    }
    s.reap(hog_pid, ReapMethod::Wait4)?;
    if rec.hog_start_ns.is_none() {
        bail!("the hog {hog_pid} ended without reporting its burst");
    }
    Ok(rec)
}

pub fn run(s: &mut Session, a: &ContendedArgs) -> anyhow::Result<Done> {
    let cpus = cpus()?;
    // The parent is an ordinary process: normal priority (the spawner may have been started
    // at real-time priority), on the CPU the hog will take.
    sched::set_policy(Policy::Normal).context("SCHED_OTHER for the parent")?;
    sched::pin_to(cpus.shared).with_context(|| format!("pinning to CPU {}", cpus.shared))?;
    let top = s.top;
    s.out.ready(
        top,
        Some(top),
        &[],
        None,
        &format!(
            "spawner {top} (normal priority, CPU {}) blocks in wait4 on each of {} children in \
             turn; a SCHED_FIFO hog on CPU {} spins for {} once it sees it waiting, and the child \
             exits on CPU {} {} into the burst",
            cpus.shared,
            a.children,
            cpus.shared,
            human(a.burst),
            cpus.other,
            human(a.exit_at)
        ),
    )?;
    let mut stopped = None;
    for i in 0..a.children {
        if i > 0 {
            // Rest as long as the burst: the hog takes at most half of that CPU.
            if !s.sleep_until(now_ns() + a.burst.as_nanos() as u64)? {
                stopped = s.stopped();
                break;
            }
        }
        let rec = round(s, a, cpus)?;
        s.out.child(&rec)?;
        if let Some(sig) = s.stopped() {
            stopped = Some(sig);
            break;
        }
    }
    Ok(Done {
        interrupted: stopped.is_some(),
        signal: stopped,
        ..Done::default()
    })
}
