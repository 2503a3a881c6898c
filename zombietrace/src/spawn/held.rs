//! Held scenarios: a parent process (a child of the top) makes children and does not reap
//! them (`never`, `caught-no-wait`, `blocked`), or lets the kernel reap them (`ignore`,
//! `nocldwait`), and holds until --hold ends or it is told to stop. The top watches, and
//! when the parent is gone, reaps the released zombies (--subreaper) or sees init reap them.

use std::os::fd::{AsRawFd as _, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::channel::{Msg, MsgReader, MsgWriter};
use super::cleanup;
use super::cli::{AutoArgs, HeldArgs, human};
use super::fate::Fate;
use super::process::{self, Pid, Status, now_ns, pollfd};
use super::session::{Recv, Session, Wake};
use super::truth::{ChildRecord, Done, Reap};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Never,
    CaughtNoWait,
    Blocked,
    Ignore,
    Nocldwait,
}

impl Kind {
    fn autoreaps(self) -> bool {
        matches!(self, Kind::Ignore | Kind::Nocldwait)
    }
}

static SIGCHLD_CAUGHT: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_sigchld(_: libc::c_int) {
    SIGCHLD_CAUGHT.fetch_add(1, Ordering::Relaxed);
}

fn set_sigchld(kind: Kind) -> anyhow::Result<()> {
    // SAFETY: sigaction/sigprocmask with valid arguments.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut sa.sa_mask);
        match kind {
            Kind::Never => return Ok(()),
            Kind::Blocked => {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGCHLD);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                return Ok(());
            }
            Kind::Ignore => sa.sa_sigaction = libc::SIG_IGN,
            Kind::Nocldwait => {
                sa.sa_sigaction = count_sigchld as *const () as usize;
                sa.sa_flags = libc::SA_NOCLDWAIT | libc::SA_RESTART;
            }
            Kind::CaughtNoWait => {
                sa.sa_sigaction = count_sigchld as *const () as usize;
                sa.sa_flags = libc::SA_RESTART;
            }
        }
        if libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut()) < 0 {
            return Err(std::io::Error::last_os_error()).context("sigaction(SIGCHLD)");
        }
    }
    Ok(())
}

/// The parent process. Forks `n` children that wait for a go signal (so that their pidfds
/// open while they surely exist), releases them, waits until each is a zombie (or, when the
/// kernel autoreaps, gone), tells the top, and holds.
fn parent(
    kind: Kind,
    n: u32,
    fate: Fate,
    hold: Duration,
    report: MsgWriter,
    lifeline: RawFd,
) -> anyhow::Result<()> {
    let stop = cleanup::install_stop()?;
    set_sigchld(kind)?;
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let (go_read, go_write) = process::pipe(false)?;
    let (go_r, go_w) = (go_read.as_raw_fd(), go_write.as_raw_fd());
    let mut kids = Vec::new();
    let mut pidfds = Vec::new();
    for _ in 0..n {
        let pid = process::fork()?;
        if pid == 0 {
            cleanup::reset_in_child();
            process::close_raw(go_w);
            process::close_raw(report.0);
            let mut byte = 0u8;
            // SAFETY: reads one byte into `byte`; returns 0 once the parent closed the pipe.
            while unsafe { libc::read(go_r, (&mut byte as *mut u8).cast(), 1) } < 0
                && process::errno() == libc::EINTR
            {}
            fate.die();
        }
        kids.push(pid);
        pidfds.push(process::pidfd_open(pid).context("pidfd_open on a child")?);
    }
    drop(go_write); // go
    let events = if kind.autoreaps() { 0 } else { libc::POLLIN }; // autoreap: wait for POLLHUP
    let deadline = now_ns() + 60_000_000_000;
    for fd in &pidfds {
        let mut fds = [
            pollfd(fd.as_raw_fd(), events),
            pollfd(stop.fd(), libc::POLLIN),
            pollfd(lifeline, libc::POLLIN),
        ];
        loop {
            let slice = (now_ns() + 10_000_000).min(deadline);
            process::poll_until(&mut fds, Some(slice))?;
            if fds[1].revents != 0 || fds[2].revents != 0 {
                return Ok(()); // told to stop before the hold began
            }
            if fds[0].revents != 0 {
                break;
            }
            if now_ns() >= deadline {
                bail!("children of {me} did not exit within 60s");
            }
        }
    }
    report.send(&Msg::Holding {
        parent: me,
        pids: kids.clone(),
    })?;
    if kind.autoreaps() {
        for (&pid, fd) in kids.iter().zip(&pidfds) {
            let st = process::pidfd_exit_status(fd.as_raw_fd()).unwrap_or_default();
            let rec = ChildRecord::unseen(pid, me, Reap::Autoreap, st);
            report.send(&Msg::Child(rec))?;
        }
    }
    process::wait_readable(
        &[stop.fd(), lifeline],
        Some(now_ns() + hold.as_nanos() as u64),
    )?;
    report.send(&Msg::Released {
        parent: me,
        sigchld: SIGCHLD_CAUGHT.load(Ordering::Relaxed),
    })?;
    Ok(())
}

pub fn held(s: &mut Session, kind: Kind, a: &HeldArgs) -> anyhow::Result<Done> {
    run(s, kind, a.children, a.fate.fate(), a.hold, a.subreaper)
}

pub fn auto(s: &mut Session, kind: Kind, a: &AutoArgs) -> anyhow::Result<Done> {
    run(s, kind, a.children, a.fate.fate(), a.hold, false)
}

fn run(
    s: &mut Session,
    kind: Kind,
    n: u32,
    fate: Fate,
    hold: Duration,
    subreaper: bool,
) -> anyhow::Result<Done> {
    let (mut reader, write) = s.report_pipe()?;
    let report = MsgWriter(write.as_raw_fd());
    let (life, read_end) = (s.lifeline.read_fd(), reader.fd());
    let p = s.fork(true, Some(report), move || {
        process::close_raw(read_end);
        parent(kind, n, fate, hold, report, life)
    })?;
    drop(write);
    let kids = loop {
        match s.recv(&mut reader, None, true)? {
            Recv::Msg(Msg::Holding { pids, .. }) => break pids,
            Recv::Msg(other) => bail!("unexpected message {other:?}"),
            Recv::Eof => bail!("parent {p} ended before its children were in place"),
            Recv::Timeout => {}
            Recv::Stop => {
                s.reg.kill(p, libc::SIGKILL);
                s.reap(p, super::cli::ReapMethod::Wait4)?;
                let sig = s.stopped();
                return Ok(Done {
                    interrupted: true,
                    signal: sig,
                    ..Done::default()
                });
            }
        }
    };
    let statuses = if kind.autoreaps() {
        Vec::new()
    } else {
        watch_zombies(s, &kids)
    };
    let what = match kind {
        Kind::Never => "never reaps",
        Kind::CaughtNoWait => "catches SIGCHLD but never waits",
        Kind::Blocked => "blocks SIGCHLD and never waits",
        Kind::Ignore => "ignores SIGCHLD, so the kernel reaped its children at once",
        Kind::Nocldwait => "set SA_NOCLDWAIT, so the kernel reaped its children at once",
    };
    let release = if kind.autoreaps() {
        String::new()
    } else if subreaper {
        format!("; then its zombies go to the spawner {} (subreaper)", s.top)
    } else {
        "; then its zombies go to init".to_string()
    };
    s.out.ready(
        s.top,
        Some(p),
        &kids,
        None,
        &format!(
            "parent {p} {what}: {} children {kids:?}; it holds for {} or until SIGTERM/SIGINT{release}",
            kids.len(),
            human(hold)
        ),
    )?;
    let hold_end = now_ns() + hold.as_nanos() as u64;
    let released = wait_parent(s, p, &mut reader, hold_end)?;
    let top = s.top;
    release_zombies(
        s,
        p,
        &kids,
        &statuses,
        released.at,
        subreaper.then_some(top),
    )?;
    Ok(Done {
        interrupted: released.stopped.is_some(),
        signal: released.stopped,
        sigchld: matches!(kind, Kind::CaughtNoWait | Kind::Nocldwait).then_some(released.sigchld),
        ..Done::default()
    })
}

/// Opens a pidfd on each held zombie (to see when it is finally reaped, and to kill it if
/// something goes wrong) and reads its exit status from `/proc/<pid>/stat`.
pub fn watch_zombies(s: &mut Session, kids: &[Pid]) -> Vec<Status> {
    kids.iter()
        .map(|&pid| {
            s.reg.track_other(pid);
            process::proc_stat(pid, None)
                .filter(|st| st.state == 'Z')
                .and_then(|st| st.exit_status)
                .map(Status::from_wait)
                .unwrap_or_default()
        })
        .collect()
}

pub struct Released {
    /// CLOCK_MONOTONIC right after the top's poll saw the parent gone.
    pub at: u64,
    pub stopped: Option<i32>,
    pub sigchld: u64,
}

/// Waits for the parent `p` to end (hold over, or told to stop: then SIGTERM, and SIGKILL a
/// second later), relays its messages, and reaps it.
pub fn wait_parent(
    s: &mut Session,
    p: Pid,
    reader: &mut MsgReader,
    hold_end: u64,
) -> anyhow::Result<Released> {
    let pfd = s.pidfd(p)?;
    let mut stopped = None;
    let mut kill_at = hold_end + 10_000_000_000;
    let mut sigchld = 0;
    let at = loop {
        let mut fds = [pollfd(pfd, libc::POLLIN), pollfd(reader.fd(), libc::POLLIN)];
        match s.poll(&mut fds, Some(kill_at), stopped.is_none())? {
            Wake::Stop => {
                stopped = s.stopped();
                s.reg.kill(p, libc::SIGTERM);
                kill_at = now_ns() + 1_000_000_000;
            }
            Wake::Timeout => {
                s.reg.kill(p, libc::SIGKILL);
                kill_at = u64::MAX / 2;
            }
            Wake::Events => {
                let t = now_ns();
                if fds[1].revents != 0 {
                    reader.fill()?;
                    while let Some(msg) = reader.next()? {
                        match msg {
                            Msg::Child(rec) => s.out.child(&rec)?,
                            Msg::Released { sigchld: n, .. } => sigchld = n,
                            other => bail!("unexpected message {other:?}"),
                        }
                    }
                }
                if fds[0].revents != 0 {
                    break t;
                }
            }
        }
    };
    s.reap(p, super::cli::ReapMethod::Wait4)?;
    // The parent is gone; read what it wrote last (its children may still hold the pipe).
    reader.fill()?;
    while let Some(msg) = reader.next()? {
        match msg {
            Msg::Child(rec) => s.out.child(&rec)?,
            Msg::Released { sigchld: n, .. } => sigchld = n,
            other => bail!("unexpected message {other:?}"),
        }
    }
    Ok(Released {
        at,
        stopped,
        sigchld,
    })
}

/// The parent is gone, so its zombies were reparented: to the top (`subreaper`), which reaps
/// each with wait4, or to init, which the top watches reap them (pidfd POLLHUP).
pub fn release_zombies(
    s: &mut Session,
    p: Pid,
    kids: &[Pid],
    statuses: &[Status],
    gone: u64,
    subreaper: Option<Pid>,
) -> anyhow::Result<()> {
    // Autoreaped, or gone before the top could watch: nothing to release.
    let held: Vec<(Pid, Status)> = kids
        .iter()
        .zip(
            statuses
                .iter()
                .copied()
                .chain(std::iter::repeat(Status::default())),
        )
        .filter(|(pid, _)| s.reg.pidfd(**pid).is_some())
        .map(|(&pid, st)| (pid, st))
        .collect();
    if let Some(top) = subreaper {
        for &(pid, _) in &held {
            s.reg.adopt(pid);
            let (st, t) = s.reap(pid, super::cli::ReapMethod::Wait4)?;
            s.out.child(&ChildRecord::reaped(
                pid,
                p,
                top,
                Some(gone),
                t,
                Reap::Wait4,
                st,
            ))?;
        }
        return Ok(());
    }
    let pids: Vec<Pid> = held.iter().map(|h| h.0).collect();
    let kept = wait_reaped_elsewhere(s, &pids, now_ns() + 10_000_000_000)?;
    for ((pid, seen), kept) in held.into_iter().zip(kept) {
        s.out.child(&ChildRecord::unseen(
            pid,
            p,
            Reap::Init,
            kept.unwrap_or(seen),
        ))?;
    }
    Ok(())
}

/// Waits until someone else (init) has reaped each of `pids`: its pidfd reports POLLHUP
/// (checked every 10ms: the release does not wake pidfd pollers). Gives up quietly at
/// `deadline` (an init that does not reap is not the spawner's to fix). Returns the exit
/// status the kernel kept for each pidfd, where it has one.
pub fn wait_reaped_elsewhere(
    s: &mut Session,
    pids: &[Pid],
    deadline: u64,
) -> anyhow::Result<Vec<Option<Status>>> {
    let mut fds = pids
        .iter()
        .map(|&pid| Ok(pollfd(s.pidfd(pid)?, 0)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    while now_ns() < deadline {
        process::poll_until(&mut fds, Some((now_ns() + 10_000_000).min(deadline)))?;
        if fds.iter().all(|f| f.revents & libc::POLLHUP != 0) {
            break;
        }
    }
    let kept = fds
        .iter()
        .map(|f| process::pidfd_exit_status(f.fd))
        .collect();
    for &pid in pids {
        s.reg.forget(pid);
    }
    Ok(kept)
}
