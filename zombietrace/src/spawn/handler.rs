//! `handler`: a parent that reaps inside its SIGCHLD handler, the classic
//! `while (waitpid(-1, &st, WNOHANG) > 0)`. It keeps SIGCHLD blocked for --block after forking
//! (a critical section), so the handler, and with it the reap, starts that late: the zombie
//! time is then the parent's *ask* phase, and the tracer's `handler_ns` says when the handler
//! began. Ground truth: the handler's first reading (`handler_entry_ns`), each reaping call's
//! start and return, and each child's last reading before it exited.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use anyhow::{Context as _, bail};

use super::cleanup;
use super::cli::{HandlerArgs, human};
use super::limits::MAX_CHILDREN;
use super::process::{Pid, Status, now_ns};
use super::session::{Session, Wake};
use super::truth::{ChildRecord, Done, Reap, Reaped};

const CAP: usize = MAX_CHILDREN as usize;

/// What the handler saw of one reap; written only by the handler, read once it has reaped all.
struct Slot {
    pid: AtomicI64,
    status: AtomicI64,
    entry_ns: AtomicU64,
    call_ns: AtomicU64,
    ns: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    pid: AtomicI64::new(0),
    status: AtomicI64::new(0),
    entry_ns: AtomicU64::new(0),
    call_ns: AtomicU64::new(0),
    ns: AtomicU64::new(0),
};
static SLOTS: [Slot; CAP] = [EMPTY; CAP];
/// Reaps recorded in SLOTS, runs of the handler, and reaps that found no free slot.
static REAPED: AtomicU64 = AtomicU64::new(0);
static RUNS: AtomicU64 = AtomicU64::new(0);

/// The SIGCHLD handler: reads the clock, then reaps every child that is a zombie, timing each
/// call. Only async-signal-safe calls (clock_gettime, wait4); errno is kept.
extern "C" fn on_sigchld(_: libc::c_int) {
    let entry_ns = now_ns();
    // SAFETY: errno is thread-local; saved and restored around the handler.
    let errno = unsafe { *libc::__errno_location() };
    RUNS.fetch_add(1, Ordering::Relaxed);
    loop {
        let mut status = 0;
        let call_ns = now_ns();
        // SAFETY: `status` is writable; rusage may be null.
        let pid = unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, std::ptr::null_mut()) };
        let ns = now_ns();
        if pid <= 0 {
            break; // none left that is a zombie (0), or no child at all (ECHILD)
        }
        let i = REAPED.fetch_add(1, Ordering::Relaxed) as usize;
        if let Some(slot) = SLOTS.get(i) {
            slot.status.store(i64::from(status), Ordering::Relaxed);
            slot.entry_ns.store(entry_ns, Ordering::Relaxed);
            slot.call_ns.store(call_ns, Ordering::Relaxed);
            slot.ns.store(ns, Ordering::Relaxed);
            slot.pid.store(i64::from(pid), Ordering::Release);
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

fn install() -> anyhow::Result<()> {
    // SAFETY: sigaction with a valid handler and an empty mask.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigchld as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut()) < 0 {
            return Err(std::io::Error::last_os_error()).context("sigaction(SIGCHLD)");
        }
    }
    Ok(())
}

pub fn run(s: &mut Session, a: &HandlerArgs) -> anyhow::Result<Done> {
    install()?;
    // Blocked before the children exist, so that none is reaped before the section ends.
    cleanup::set_blocked(libc::SIGCHLD, true);
    let kids = s.fork_fated(a.children, a.fate.fate())?;
    let top = s.top;
    let unblock_at = now_ns() + a.block.as_nanos() as u64;
    s.out.ready(
        top,
        Some(top),
        &kids,
        None,
        &format!(
            "spawner {top} forked {} children {kids:?} that exit at once; it keeps SIGCHLD \
             blocked for {}, then its SIGCHLD handler reaps them with wait4(-1, WNOHANG)",
            kids.len(),
            human(a.block)
        ),
    )?;
    let finished = s.sleep_until(unblock_at)?;
    // A SIGCHLD pending now is delivered, and the handler runs, before this call returns.
    cleanup::set_blocked(libc::SIGCHLD, false);
    let n = kids.len() as u64;
    let deadline = now_ns() + 60_000_000_000;
    let mut stopped = !finished;
    while !stopped && REAPED.load(Ordering::Acquire) < n {
        if now_ns() >= deadline {
            bail!(
                "the SIGCHLD handler reaped {} of {n} children in 60s",
                REAPED.load(Ordering::Acquire)
            );
        }
        // Short naps: a SIGCHLD interrupts nothing here (SA_RESTART), the count is checked.
        if let Wake::Stop = s.poll(&mut [], Some(now_ns() + 1_000_000), true)? {
            stopped = true;
        }
    }
    // No more handler runs: what is left is reaped below, after a stop.
    cleanup::set_blocked(libc::SIGCHLD, true);
    let recorded = (REAPED.load(Ordering::Acquire) as usize).min(CAP);
    let mut seen: Vec<Pid> = Vec::with_capacity(recorded);
    for slot in &SLOTS[..recorded] {
        let pid = slot.pid.load(Ordering::Acquire) as Pid;
        if !kids.contains(&pid) {
            bail!("the SIGCHLD handler reaped {pid}, which is not one of the children");
        }
        s.reg.forget(pid);
        seen.push(pid);
        let r = Reaped {
            status: Status::from_wait(slot.status.load(Ordering::Relaxed) as libc::c_int),
            call_ns: slot.call_ns.load(Ordering::Relaxed),
            ns: slot.ns.load(Ordering::Relaxed),
        };
        let mut rec = ChildRecord::reaped(pid, top, top, None, r, Reap::Wait4);
        rec.handler_entry_ns = Some(slot.entry_ns.load(Ordering::Relaxed));
        s.out.child(&rec)?;
    }
    let sig = s.stopped();
    for &pid in kids.iter().filter(|p| !seen.contains(p)) {
        if sig.is_none() {
            bail!("child {pid} was not reaped by the SIGCHLD handler");
        }
        s.reg.kill(pid, libc::SIGKILL);
        let r = s.reap(pid, super::cli::ReapMethod::Wait4)?;
        s.out
            .child(&ChildRecord::reaped(pid, top, top, None, r, Reap::Wait4))?;
    }
    Ok(Done {
        interrupted: sig.is_some(),
        signal: sig,
        sigchld: Some(RUNS.load(Ordering::Relaxed)),
        ..Done::default()
    })
}
