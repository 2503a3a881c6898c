//! Held scenarios: a parent process (a child of the top) makes children and does not reap
//! them (`never`, `caught-no-wait`, `blocked`), or lets the kernel reap them (`ignore`,
//! `nocldwait`), and holds until --hold ends or it is told to stop. The top watches, and
//! when the parent is gone, reaps the released zombies (--subreaper) or sees init reap them.

use std::os::fd::{AsRawFd as _, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::channel::{Msg, MsgWriter};
use super::cleanup;
use super::cli::{AutoArgs, HeldArgs, human};
use super::fate::Fate;
use super::process::{self, now_ns, pollfd};
use super::release::{release_zombies, wait_parent, watch_zombies};
use super::session::{Recv, Session};
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
                cleanup::set_blocked(libc::SIGCHLD, true);
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
    // A pidfd is readable once its process has exited (POLLHUP once it is reaped comes only
    // with Linux 6.9+): wait for that, then, for autoreaped children, for the pid to be gone.
    let events = libc::POLLIN;
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
    if kind.autoreaps() {
        for &pid in &kids {
            // The kernel releases it within its own exit, right after the pidfd turned readable.
            while !process::pid_gone(pid) {
                if now_ns() >= deadline {
                    bail!("child {pid} of {me} was not released by the kernel within 60s");
                }
                std::thread::sleep(Duration::from_micros(200));
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
