//! `threaded-leader`: each child's main thread exits first (raw `SYS_exit` of that thread
//! only) while another thread lives on for --delay. The process is reapable only once its
//! last thread is gone: the top's pidfd poll turns readable then, and it reaps with wait4.

use std::os::fd::RawFd;

use anyhow::bail;

use super::cli::{ReapMethod, ThreadedArgs, human};
use super::direct::reap_each_after;
use super::fate::Fate;
use super::process::{self, Pid, now_ns, pollfd};
use super::session::Session;
use super::truth::{Done, Reap};

/// In the child: touch memory, start the survivor thread, end the main thread alone.
fn child(fate: Fate, delay_ns: u64, lifeline: RawFd) -> anyhow::Result<()> {
    fate.touch();
    // Unnamed, so the thread keeps the process's comm (tracers filter by it).
    let survivor = std::thread::Builder::new().spawn(move || {
        // Live on for --delay (or until the spawner is gone), then end this last thread.
        let _ = process::wait_readable(&[lifeline], Some(now_ns() + delay_ns));
        // The process becomes a zombie when this thread ends, not when the leader did.
        super::exit_stamp::stamp();
        if let Some(sig) = fate.kill_with {
            super::fate::raise_default(sig);
        }
        // SAFETY: ends only this thread; being the last one, it ends the process. It gives
        // the leader's code too: which thread's code the wait status carries differs
        // between kernels (6.18 reports the last thread's).
        unsafe { libc::syscall(libc::SYS_exit, fate.exit_code) };
    });
    if survivor.is_err() {
        bail!("could not start the survivor thread");
    }
    // SAFETY: ends only the main thread (not exit_group); the survivor keeps the process alive.
    unsafe { libc::syscall(libc::SYS_exit, fate.exit_code) };
    unreachable!("SYS_exit returned")
}

pub fn run(s: &mut Session, a: &ThreadedArgs) -> anyhow::Result<Done> {
    let (fate, delay, life, top) = (
        a.fate.fate(),
        a.delay.as_nanos() as u64,
        s.lifeline.read_fd(),
        s.top,
    );
    let mut kids = Vec::new();
    for _ in 0..a.children {
        kids.push(s.fork(true, None, move || child(fate, delay, life))?);
    }
    // Ready once every leader thread is a zombie while its group lives on.
    let deadline = now_ns() + 10_000_000_000;
    for &pid in &kids {
        loop {
            let leader = process::proc_stat(pid, Some(pid)).map(|st| st.state);
            if matches!(leader, Some('Z') | Some('X')) {
                break;
            }
            if now_ns() > deadline {
                bail!("the main thread of {pid} did not exit within 10s");
            }
            if !s.sleep_until(now_ns() + 1_000_000)? {
                return Ok(stopped(s, &kids));
            }
        }
        check_not_reapable(s, pid)?;
    }
    s.out.ready(
        top,
        Some(top),
        &kids,
        None,
        &format!(
            "{} children {kids:?}: each main thread has exited, another thread lives {} more; \
             the spawner {top} reaps each with wait4 {} after its pidfd turns readable",
            kids.len(),
            human(a.delay),
            human(a.reap_delay)
        ),
    )?;
    let sig = reap_each_after(
        s,
        &kids,
        a.reap_delay.as_nanos() as u64,
        Reap::Wait4,
        |s, pid| s.reap(pid, ReapMethod::Wait4),
    )?;
    Ok(Done {
        interrupted: sig.is_some(),
        signal: sig,
        ..Done::default()
    })
}

/// While another thread lives, the group is not reapable: no pidfd readiness, and a
/// WNOHANG|WNOWAIT wait finds nothing. (Skipped if the survivor already ended.)
fn check_not_reapable(s: &Session, pid: Pid) -> anyhow::Result<()> {
    let threads = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = threads();
    let mut fds = [pollfd(s.pidfd(pid)?, libc::POLLIN)];
    process::poll_until(&mut fds, Some(now_ns()))?;
    let peek = process::waitid(
        libc::P_PID,
        pid as u32,
        libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
    )?;
    let alive = before >= 2 && threads() >= 2;
    if alive && (fds[0].revents != 0 || peek.is_some()) {
        bail!("child {pid} looked reapable while its other thread was alive");
    }
    Ok(())
}

fn stopped(s: &mut Session, kids: &[Pid]) -> Done {
    for &pid in kids {
        s.reg.kill(pid, libc::SIGKILL);
    }
    s.reg.shutdown();
    Done {
        interrupted: true,
        signal: s.stopped(),
        ..Done::default()
    }
}
