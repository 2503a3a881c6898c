//! `exec-leak`: a parent forks children, then execs a program that never waits — the shell
//! idiom `sh -c 'sleep 1 & exec sleep 30'`. Its children stay zombies until `sleep` ends.

use std::ffi::CString;
use std::os::fd::{AsRawFd as _, RawFd};

use anyhow::{Context as _, bail};

use super::channel::{Msg, MsgWriter};
use super::cleanup;
use super::cli::{ExecLeakArgs, seconds_arg};
use super::fate::Fate;
use super::process::{self, now_ns, pollfd};
use super::release::{release_zombies, wait_parent, watch_zombies};
use super::session::{Recv, Session, Wake};
use super::truth::Done;

/// The parent: fork the children, tell the top their pids, exec `sleep`.
fn parent(
    n: u32,
    fate: Fate,
    delay_ns: u64,
    hold: &str,
    report: MsgWriter,
    lifeline: RawFd,
) -> anyhow::Result<()> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let mut pids = Vec::new();
    for _ in 0..n {
        let pid = process::fork()?;
        if pid == 0 {
            cleanup::reset_in_child();
            process::close_raw(report.0);
            let start = now_ns();
            if delay_ns > 0
                && process::wait_readable(&[lifeline], Some(start + delay_ns))?.is_some()
            {
                // SAFETY: the spawner is gone; end quietly.
                unsafe { libc::_exit(0) };
            }
            fate.die();
        }
        pids.push(pid);
    }
    report.send(&Msg::Forked { parent: me, pids })?;
    let prog = CString::new("sleep")?;
    let arg = CString::new(hold)?;
    let argv = [prog.as_ptr(), arg.as_ptr(), std::ptr::null()];
    // SAFETY: argv is a null-terminated array of valid C strings. The report pipe and the
    // lifeline are close-on-exec, so `sleep` holds neither.
    unsafe { libc::execvp(prog.as_ptr(), argv.as_ptr()) };
    Err(std::io::Error::last_os_error()).context("exec sleep")
}

pub fn run(s: &mut Session, a: &ExecLeakArgs) -> anyhow::Result<Done> {
    let (mut reader, write) = s.report_pipe()?;
    let report = MsgWriter(write.as_raw_fd());
    let (life, read_end) = (s.lifeline.read_fd(), reader.fd());
    let (n, fate, delay) = (a.children, a.fate.fate(), a.delay.as_nanos() as u64);
    let hold = seconds_arg(a.hold);
    let shown = hold.clone();
    let p = s.fork(true, Some(report), move || {
        process::close_raw(read_end);
        parent(n, fate, delay, &hold, report, life)
    })?;
    drop(write);
    let hold_end = now_ns() + a.hold.as_nanos() as u64;
    // Pids first, then EOF: the report pipe closes when the exec succeeds.
    let mut kids = Vec::new();
    let deadline = now_ns() + 10_000_000_000;
    loop {
        match s.recv(&mut reader, Some(deadline), true)? {
            Recv::Msg(Msg::Forked { pids, .. }) => {
                for &pid in &pids {
                    s.reg.track_other(pid);
                }
                kids = pids;
            }
            Recv::Msg(other) => bail!("unexpected message {other:?}"),
            Recv::Eof => break,
            Recv::Timeout => bail!("parent {p} did not exec sleep within 10s"),
            Recv::Stop => return stopped_early(s, p, &kids),
        }
    }
    if kids.is_empty() {
        bail!("parent {p} ended without forking");
    }
    // Wait until every child is a zombie under `sleep`.
    for &pid in &kids {
        let Some(fd) = s.reg.pidfd(pid) else { continue };
        let mut fds = [pollfd(fd, libc::POLLIN)];
        match s.poll(&mut fds, Some(now_ns() + delay + 10_000_000_000), true)? {
            Wake::Stop => return stopped_early(s, p, &kids),
            Wake::Timeout => bail!("child {pid} did not exit within --delay + 10s"),
            Wake::Events => {}
        }
    }
    let statuses = watch_zombies(s, &kids);
    let exe = std::fs::read_link(format!("/proc/{p}/exe"))
        .map(|e| e.display().to_string())
        .unwrap_or_default();
    if !exe.is_empty() && !exe.ends_with("sleep") {
        bail!("parent {p} runs {exe}, not sleep");
    }
    let release = if a.subreaper {
        format!("the spawner {} (subreaper)", s.top)
    } else {
        "init".to_string()
    };
    s.out.ready(
        s.top,
        Some(p),
        &kids,
        None,
        &format!(
            "parent {p} forked {} children {kids:?}, then exec'd `sleep {shown}` ({exe}), which never waits; \
             when it ends (or on SIGTERM/SIGINT) its zombies go to {release}",
            kids.len(),
        ),
    )?;
    let released = wait_parent(s, p, &mut reader, hold_end)?;
    let top = s.top;
    release_zombies(
        s,
        p,
        &kids,
        &statuses,
        released.at,
        a.subreaper.then_some(top),
    )?;
    Ok(Done {
        interrupted: released.stopped.is_some(),
        signal: released.stopped,
        ..Done::default()
    })
}

/// Told to stop before the hold began: end the parent (releasing whatever it made).
fn stopped_early(s: &mut Session, p: libc::pid_t, kids: &[libc::pid_t]) -> anyhow::Result<Done> {
    for &pid in kids {
        s.reg.kill(pid, libc::SIGKILL);
    }
    s.reg.kill(p, libc::SIGKILL);
    s.reap(p, super::cli::ReapMethod::Wait4)?;
    let sig = s.stopped();
    Ok(Done {
        interrupted: true,
        signal: sig,
        ..Done::default()
    })
}
