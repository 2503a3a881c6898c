//! `poll`: a parent that never blocks in wait but polls with wait4(WNOHANG) every --poll
//! interval (a main loop that checks on its children between other work). Its children exit at
//! once; it polls first one interval after forking them, so each one waits as a zombie for up to
//! an interval until the poll that reaps it: the *ask* phase, the time the parent took to call
//! wait. Ground truth: when that poll's call began (`reap_call_ns`), and the child's last reading
//! before it exited (`exiting_ns`).

use anyhow::Context as _;

use super::cli::{PollArgs, ReapMethod, human};
use super::process::{self, Pid, now_ns};
use super::session::Session;
use super::truth::{ChildRecord, Done, Reap, Reaped};

pub fn run(s: &mut Session, a: &PollArgs) -> anyhow::Result<Done> {
    let kids = s.fork_fated(a.children, a.fate.fate())?;
    let top = s.top;
    s.out.ready(
        top,
        Some(top),
        &kids,
        None,
        &format!(
            "spawner {top} forked {} children {kids:?} that exit at once; it polls each with \
             wait4(WNOHANG) every {}, the first time {} after forking",
            kids.len(),
            human(a.poll),
            human(a.poll)
        ),
    )?;
    let every = a.poll.as_nanos() as u64;
    let mut pending: Vec<Pid> = kids.clone();
    let mut polls = 0u64;
    let mut next = now_ns() + every;
    while !pending.is_empty() {
        if !s.sleep_until(next)? {
            break;
        }
        // A poll that came late does not make the next ones come early.
        next = (next + every).max(now_ns());
        let mut still = Vec::with_capacity(pending.len());
        for pid in pending {
            let call_ns = now_ns();
            let got = process::wait4(pid, libc::WNOHANG)
                .with_context(|| format!("wait4({pid}, WNOHANG)"))?;
            let ns = now_ns();
            polls += 1;
            match got {
                Some((_, status)) => {
                    s.reg.forget(pid);
                    let r = Reaped {
                        status,
                        call_ns,
                        ns,
                    };
                    s.out
                        .child(&ChildRecord::reaped(pid, top, top, None, r, Reap::Wait4))?;
                }
                None => still.push(pid),
            }
        }
        pending = still;
    }
    let sig = s.stopped();
    if sig.is_some() {
        for &pid in &pending {
            s.reg.kill(pid, libc::SIGKILL);
            let r = s.reap(pid, ReapMethod::Wait4)?;
            s.out
                .child(&ChildRecord::reaped(pid, top, top, None, r, Reap::Wait4))?;
        }
    }
    Ok(Done {
        interrupted: sig.is_some(),
        signal: sig,
        polls: Some(polls),
        ..Done::default()
    })
}
