//! Scenarios where the spawner's top process is the parent and reaps its own children:
//! `delayed` and `wnowait`, plus the "reap each one some time after it is gone" loop that
//! `threaded-leader` and `io-uring` share.

use anyhow::Context as _;

use super::cli::{DelayedArgs, ReapMethod, WnowaitArgs, human};
use super::process::{self, Pid, now_ns, pollfd};
use super::session::{Session, Wake};
use super::truth::{ChildRecord, Done, Reap, Reaped};

struct Watched {
    pid: Pid,
    gone: Option<u64>,
    reaped: bool,
}

/// Watches each child's pidfd; when it becomes readable (the child is a zombie) notes
/// CLOCK_MONOTONIC right after that (`Session::seen_gone`), and `delay_ns` later reaps it with `reap`
/// (which returns the status and the times right before and right after the reaping call).
/// On a stop signal, kills what is still alive and reaps everything at once.
/// Returns the stop signal, if one cut it short.
pub fn reap_each_after(
    s: &mut Session,
    kids: &[Pid],
    delay_ns: u64,
    how: Reap,
    mut reap: impl FnMut(&mut Session, Pid) -> anyhow::Result<Reaped>,
) -> anyhow::Result<Option<i32>> {
    let mut watched: Vec<Watched> = kids
        .iter()
        .map(|&pid| Watched {
            pid,
            gone: None,
            reaped: false,
        })
        .collect();
    let top = s.top;
    let stopped = loop {
        let now = now_ns();
        for w in watched.iter_mut().filter(|w| !w.reaped) {
            if let Some(gone) = w.gone.filter(|&g| now >= g + delay_ns) {
                let r = reap(s, w.pid)?;
                w.reaped = true;
                s.out
                    .child(&ChildRecord::reaped(w.pid, top, top, Some(gone), r, how))?;
            }
        }
        if watched.iter().all(|w| w.reaped) {
            break false;
        }
        let alive: Vec<usize> = (0..watched.len())
            .filter(|&i| watched[i].gone.is_none())
            .collect();
        let mut fds = alive
            .iter()
            .map(|&i| Ok(pollfd(s.pidfd(watched[i].pid)?, libc::POLLIN)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let deadline = watched
            .iter()
            .filter(|w| !w.reaped)
            .filter_map(|w| w.gone)
            .map(|g| g + delay_ns)
            .min();
        match s.poll(&mut fds, deadline, true)? {
            Wake::Stop => break true,
            Wake::Timeout => {}
            Wake::Events => {
                for (fd, &i) in fds.iter().zip(&alive) {
                    if fd.revents != 0 {
                        watched[i].gone = Some(s.seen_gone(watched[i].pid)?);
                    }
                }
            }
        }
    };
    if stopped {
        for w in watched.iter().filter(|w| !w.reaped) {
            if w.gone.is_none() {
                s.reg.kill(w.pid, libc::SIGKILL);
            }
            let r = reap(s, w.pid)?;
            s.out
                .child(&ChildRecord::reaped(w.pid, top, top, w.gone, r, how))?;
        }
    }
    Ok(s.stopped().filter(|_| stopped))
}

pub fn delayed(s: &mut Session, a: &DelayedArgs) -> anyhow::Result<Done> {
    let kids = s.fork_fated(a.children, a.fate.fate())?;
    s.out.ready(
        s.top,
        Some(s.top),
        &kids,
        None,
        &format!(
            "spawner {} forked {} children {kids:?} that exit at once; each is reaped with {} {} after it is seen gone",
            s.top,
            kids.len(),
            a.reap.call(),
            human(a.delay)
        ),
    )?;
    let method = a.reap;
    let sig = reap_each_after(
        s,
        &kids,
        a.delay.as_nanos() as u64,
        method.reap(),
        |s, pid| s.reap(pid, method),
    )?;
    Ok(Done {
        interrupted: sig.is_some(),
        signal: sig,
        ..Done::default()
    })
}

pub fn wnowait(s: &mut Session, a: &WnowaitArgs) -> anyhow::Result<Done> {
    let kids = s.fork_fated(a.children, a.fate.fate())?;
    s.out.ready(
        s.top,
        Some(s.top),
        &kids,
        None,
        &format!(
            "spawner {} forked {} children {kids:?}; it peeks with waitid(WNOWAIT) every {} and reaps each with waitid {} after it first saw it gone",
            s.top,
            kids.len(),
            human(a.peek_every),
            human(a.delay)
        ),
    )?;
    let delay = a.delay.as_nanos() as u64;
    let every = a.peek_every.as_nanos() as u64;
    let top = s.top;
    let mut watched: Vec<Watched> = kids
        .iter()
        .map(|&pid| Watched {
            pid,
            gone: None,
            reaped: false,
        })
        .collect();
    let mut peeks = 0u64;
    let mut next = now_ns();
    while watched.iter().any(|w| !w.reaped) {
        if !s.sleep_until(next)? {
            break;
        }
        next += every;
        for w in watched.iter_mut().filter(|w| !w.reaped) {
            let seen = process::waitid(
                libc::P_PID,
                w.pid as u32,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
            .with_context(|| format!("waitid(WNOWAIT) on {}", w.pid))?;
            peeks += 1;
            let t = now_ns();
            if seen.is_some() && w.gone.is_none() {
                w.gone = Some(t);
            }
            if let Some(gone) = w.gone.filter(|&g| t >= g + delay) {
                let r = s.reap(w.pid, ReapMethod::Waitid)?;
                w.reaped = true;
                s.out.child(&ChildRecord::reaped(
                    w.pid,
                    top,
                    top,
                    Some(gone),
                    r,
                    Reap::Waitid,
                ))?;
            }
        }
    }
    let sig = s.stopped();
    if sig.is_some() {
        for w in watched.iter().filter(|w| !w.reaped) {
            if w.gone.is_none() {
                s.reg.kill(w.pid, libc::SIGKILL);
            }
            let r = s.reap(w.pid, ReapMethod::Waitid)?;
            s.out.child(&ChildRecord::reaped(
                w.pid,
                top,
                top,
                w.gone,
                r,
                Reap::Waitid,
            ))?;
        }
    }
    Ok(Done {
        interrupted: sig.is_some(),
        signal: sig,
        peeks: Some(peeks),
        ..Done::default()
    })
}
