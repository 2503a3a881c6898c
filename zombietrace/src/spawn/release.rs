//! The top's side of a hold: watching the held zombies, waiting for their parent to end
//! (relaying its messages, ending it on a stop signal), then seeing the released zombies
//! reaped: by the top itself as subreaper (wait4), or by init (pidfd POLLHUP).

use anyhow::bail;

use super::channel::{Msg, MsgReader};
use super::cli::ReapMethod;
use super::process::{self, Pid, Status, now_ns, pollfd};
use super::session::{Session, Wake};
use super::truth::{ChildRecord, Reap};

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
    // Once the pipe is at EOF it would poll ready forever: stop watching it (fd -1), or this
    // loop spins (and, at real-time priority, starves the very parent it waits for).
    let mut reader_closed = false;
    let at = loop {
        let reader_fd = if reader_closed { -1 } else { reader.fd() };
        let mut fds = [pollfd(pfd, libc::POLLIN), pollfd(reader_fd, libc::POLLIN)];
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
                let hangup = libc::POLLHUP | libc::POLLERR;
                if fds[1].revents & libc::POLLIN == 0 && fds[1].revents & hangup != 0 {
                    reader_closed = true;
                }
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
    s.reap(p, ReapMethod::Wait4)?;
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
            let r = s.reap(pid, ReapMethod::Wait4)?;
            s.out.child(&ChildRecord::reaped(
                pid,
                p,
                top,
                Some(gone),
                r,
                Reap::Wait4,
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
    let fds = pids
        .iter()
        .map(|&pid| Ok(pollfd(s.pidfd(pid)?, 0)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut reaped = vec![false; pids.len()];
    while now_ns() < deadline {
        // A reaped child's pidfd stays in POLLHUP: poll only the others (fd -1 is skipped).
        let mut live: Vec<libc::pollfd> = fds
            .iter()
            .zip(&reaped)
            .map(|(f, &r)| pollfd(if r { -1 } else { f.fd }, 0))
            .collect();
        process::poll_until(&mut live, Some((now_ns() + 10_000_000).min(deadline)))?;
        for ((f, &pid), r) in live.iter().zip(pids).zip(reaped.iter_mut()) {
            *r = *r || f.revents & libc::POLLHUP != 0 || process::pid_gone(pid);
        }
        if reaped.iter().all(|&r| r) {
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
