//! `orphan`: the parent exits before its children; they exit --delay later and are reaped by
//! init, or by the top as child subreaper (wait4, --reap-delay after it saw them gone).

use std::os::fd::{AsRawFd as _, RawFd};

use anyhow::{Context as _, bail};

use super::channel::{Msg, MsgWriter};
use super::cleanup;
use super::cli::{OrphanArgs, ReapMethod, human};
use super::fate::Fate;
use super::process::{self, Pid, Status, now_ns, pollfd};
use super::session::{Recv, Session, Wake};
use super::truth::{ChildRecord, Done, Reap};

/// The parent: fork the children, report them, wait for the top's go-ahead, exit.
/// Each child waits for the parent to die (EOF on a pipe only the parent holds), then
/// `delay_ns`, then ends. All of them leave early if the top dies (lifeline).
fn parent(
    n: u32,
    fate: Fate,
    delay_ns: u64,
    report: MsgWriter,
    ack: RawFd,
    lifeline: RawFd,
) -> anyhow::Result<()> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let (death_read, death_write) = process::pipe(false)?;
    let (death_r, death_w) = (death_read.as_raw_fd(), death_write.as_raw_fd());
    let mut pids = Vec::new();
    for _ in 0..n {
        let pid = process::fork()?;
        if pid == 0 {
            cleanup::reset_in_child();
            process::close_raw(death_w);
            process::close_raw(report.0);
            process::close_raw(ack);
            // Until the parent is gone...
            if process::wait_readable(&[death_r, lifeline], None)? != Some(0) {
                // SAFETY: the spawner is gone; end quietly.
                unsafe { libc::_exit(0) };
            }
            // ...then --delay more.
            if process::wait_readable(&[lifeline], Some(now_ns() + delay_ns))?.is_some() {
                // SAFETY: as above.
                unsafe { libc::_exit(0) };
            }
            fate.die();
        }
        pids.push(pid);
    }
    report.send(&Msg::Forked { parent: me, pids })?;
    process::wait_readable(&[ack, lifeline], Some(now_ns() + 10_000_000_000))?;
    Ok(()) // exiting orphans the children
}

pub fn run(s: &mut Session, a: &OrphanArgs) -> anyhow::Result<Done> {
    let (mut reader, write) = s.report_pipe()?;
    let (ack_read, ack_write) = process::pipe(false)?;
    let report = MsgWriter(write.as_raw_fd());
    let (life, read_end, ack_r, ack_w) = (
        s.lifeline.read_fd(),
        reader.fd(),
        ack_read.as_raw_fd(),
        ack_write.as_raw_fd(),
    );
    let (n, fate, delay) = (a.children, a.fate.fate(), a.delay.as_nanos() as u64);
    let p = s.fork(true, Some(report), move || {
        process::close_raw(read_end);
        process::close_raw(ack_w);
        parent(n, fate, delay, report, ack_r, life)
    })?;
    drop(write);
    drop(ack_read);
    let kids = match s.recv(&mut reader, Some(now_ns() + 10_000_000_000), true)? {
        Recv::Msg(Msg::Forked { pids, .. }) => pids,
        Recv::Msg(other) => bail!("unexpected message {other:?}"),
        Recv::Eof | Recv::Timeout => bail!("parent {p} did not report its children"),
        Recv::Stop => {
            s.reg.kill(p, libc::SIGKILL);
            s.reap(p, ReapMethod::Wait4)?;
            return Ok(Done {
                interrupted: true,
                signal: s.stopped(),
                ..Done::default()
            });
        }
    };
    // They are alive (waiting for the parent to die), so these pidfds name them for sure.
    for &pid in &kids {
        s.reg
            .track_other(pid)
            .with_context(|| format!("child {pid} vanished before its parent exited"))?;
    }
    let (subreaper, top) = (a.subreaper, s.top);
    let to = if subreaper {
        format!("the spawner {top} (subreaper)")
    } else {
        "init".to_string()
    };
    s.out.ready(
        top,
        Some(p),
        &kids,
        None,
        &format!(
            "parent {p} exits now, orphaning {} children {kids:?}; they exit {} later and go to {to}",
            kids.len(),
            human(a.delay)
        ),
    )?;
    process::write_all(ack_write.as_raw_fd(), b"x")?;
    drop(ack_write);
    let pfd = s.pidfd(p)?;
    let mut fds = [pollfd(pfd, libc::POLLIN)];
    if let Wake::Stop = s.poll(&mut fds, Some(now_ns() + 10_000_000_000), true)? {
        return stop(s, p, &kids);
    }
    s.reap(p, ReapMethod::Wait4)?;
    if subreaper {
        for &pid in &kids {
            s.reg.adopt(pid);
        }
    }
    // Each child: gone (its pidfd readable), then reaped: by the top, --reap-delay later
    // (subreaper), or by init, seen as POLLHUP on its pidfd (checked every 10ms: the release
    // does not wake pidfd pollers).
    let reap_delay = a.reap_delay.as_nanos() as u64;
    let n = kids.len();
    let mut gone: Vec<Option<u64>> = vec![None; n];
    let mut seen: Vec<Status> = vec![Status::default(); n];
    let mut done = vec![false; n];
    let limit = now_ns() + delay + reap_delay + 60_000_000_000;
    while done.iter().any(|d| !d) {
        let now = now_ns();
        for i in 0..n {
            if !subreaper || done[i] {
                continue;
            }
            if let Some(g) = gone[i].filter(|&g| now >= g + reap_delay) {
                let r = s.reap(kids[i], ReapMethod::Wait4)?;
                let rec = ChildRecord::reaped(kids[i], p, top, Some(g), r, Reap::Wait4);
                s.out.child(&rec)?;
                done[i] = true;
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        let open: Vec<usize> = (0..n)
            .filter(|&i| !done[i] && (gone[i].is_none() || !subreaper))
            .collect();
        let mut fds = open
            .iter()
            .map(|&i| {
                let events = if gone[i].is_none() { libc::POLLIN } else { 0 };
                Ok(pollfd(s.pidfd(kids[i])?, events))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut deadline = limit;
        for i in (0..n).filter(|&i| !done[i]) {
            match gone[i] {
                Some(g) if subreaper => deadline = deadline.min(g + reap_delay),
                Some(_) => deadline = deadline.min(now + 10_000_000),
                None => {}
            }
        }
        match s.poll(&mut fds, Some(deadline), true)? {
            Wake::Stop => return stop(s, p, &kids),
            Wake::Timeout if now_ns() >= limit => bail!("orphans did not exit in time"),
            Wake::Timeout => {}
            Wake::Events => {
                let t = now_ns();
                for (fd, &i) in fds.iter().zip(&open) {
                    if fd.revents != 0 && gone[i].is_none() {
                        // As subreaper the top is its parent: confirm the whole notification.
                        gone[i] = Some(if subreaper { s.seen_gone(kids[i])? } else { t });
                        seen[i] = process::proc_stat(kids[i], None)
                            .filter(|st| st.state == 'Z')
                            .and_then(|st| st.exit_status)
                            .map_or(Status::default(), Status::from_wait);
                    }
                    if !subreaper && fd.revents & libc::POLLHUP != 0 {
                        let st = process::pidfd_exit_status(fd.fd).unwrap_or(seen[i]);
                        s.reg.forget(kids[i]);
                        s.out
                            .child(&ChildRecord::unseen(kids[i], p, Reap::Init, st))?;
                        done[i] = true;
                    }
                }
            }
        }
        // Before Linux 6.9 a reap shows no POLLHUP: look for the pid being gone instead.
        for (fd, &i) in fds.iter().zip(&open) {
            if !subreaper && !done[i] && gone[i].is_some() && process::pid_gone(kids[i]) {
                let st = process::pidfd_exit_status(fd.fd).unwrap_or(seen[i]);
                s.reg.forget(kids[i]);
                s.out
                    .child(&ChildRecord::unseen(kids[i], p, Reap::Init, st))?;
                done[i] = true;
            }
        }
    }
    Ok(Done::default())
}

/// Told to stop: the registry kills and reaps whatever is left of the orphans.
fn stop(s: &mut Session, p: Pid, kids: &[Pid]) -> anyhow::Result<Done> {
    for &pid in kids.iter().chain([&p]) {
        s.reg.kill(pid, libc::SIGKILL);
    }
    let _ = s.reap(p, ReapMethod::Wait4);
    s.reg.shutdown();
    Ok(Done {
        interrupted: true,
        signal: s.stopped(),
        ..Done::default()
    })
}
