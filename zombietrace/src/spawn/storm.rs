//! `storm`: a load generator. --parents parallel parent processes each loop
//! fork → child exits → (--delay) → reap, as fast as they can or at --rate exits/s in total,
//! for --duration. The loop stays tight: no per-child output unless --per-child.

use std::os::fd::{AsRawFd as _, RawFd};

use anyhow::bail;

use super::channel::{Msg, MsgWriter};
use super::cleanup;
use super::cli::{ReapMethod, StormArgs, StormReap, human};
use super::fate::Fate;
use super::process::{self, Pid, now_ns, pollfd};
use super::session::{Session, Wake};
use super::truth::{ChildRecord, Done, Reap, Reaped};

#[derive(Clone, Copy)]
struct Plan {
    index: u32,
    parents: u32,
    duration_ns: u64,
    /// Per parent, between forks; 0 = as fast as possible.
    interval_ns: u64,
    delay_ns: u64,
    reap: StormReap,
    per_child: bool,
    fate: Fate,
}

fn parent(plan: Plan, go: RawFd, report: MsgWriter, lifeline: RawFd) -> anyhow::Result<()> {
    let _stop = cleanup::install_stop()?;
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    // Start together: the top closes the go pipe.
    if process::wait_readable(&[go, lifeline], None)? != Some(0) {
        return Ok(());
    }
    let start = now_ns();
    let end = start + plan.duration_ns;
    // Spread the parents' forks evenly over the interval.
    let mut next = start + plan.interval_ns * u64::from(plan.index) / u64::from(plan.parents);
    let mut exits = 0u64;
    loop {
        let now = now_ns();
        if now >= end || cleanup::stop_signal().is_some() {
            break;
        }
        if plan.interval_ns > 0 {
            if next > now && (!process::sleep_until(next.min(end)) || next >= end) {
                continue; // a signal, or the storm ends before the next fork
            }
            next += plan.interval_ns;
        }
        let pid = process::fork()?;
        if pid == 0 {
            plan.fate.die();
        }
        if plan.delay_ns > 0 {
            let until = now_ns() + plan.delay_ns;
            while !process::sleep_until(until) {}
        }
        let call_ns = now_ns();
        let reaped = match plan.reap {
            StormReap::Wait4 => process::wait4(pid, 0)?,
            StormReap::Waitid => process::waitid(libc::P_PID, pid as u32, libc::WEXITED)?,
        };
        let t = now_ns();
        let Some((_, status)) = reaped else {
            bail!("reaping {pid} found nothing")
        };
        exits += 1;
        if plan.per_child {
            let how = if plan.reap == StormReap::Wait4 {
                Reap::Wait4
            } else {
                Reap::Waitid
            };
            let r = Reaped {
                status,
                call_ns,
                ns: t,
            };
            report.send(&Msg::Child(ChildRecord::reaped(pid, me, me, None, r, how)))?;
        }
    }
    report.send(&Msg::Storm {
        parent: me,
        exits,
        start_ns: start,
        end_ns: now_ns(),
    })?;
    Ok(())
}

pub fn run(s: &mut Session, a: &StormArgs) -> anyhow::Result<Done> {
    let (mut reader, write) = s.report_pipe()?;
    let (go_read, go_write) = process::pipe(false)?;
    let report = MsgWriter(write.as_raw_fd());
    let (life, read_end, go_r, go_w) = (
        s.lifeline.read_fd(),
        reader.fd(),
        go_read.as_raw_fd(),
        go_write.as_raw_fd(),
    );
    let interval_ns = a
        .rate
        .map_or(0, |r| (f64::from(a.parents) * 1e9 / r) as u64);
    let mut parents = Vec::new();
    for index in 0..a.parents {
        let plan = Plan {
            index,
            parents: a.parents,
            duration_ns: a.duration.as_nanos() as u64,
            interval_ns,
            delay_ns: a.delay.as_nanos() as u64,
            reap: a.reap,
            per_child: a.per_child,
            fate: a.fate.fate(),
        };
        parents.push(s.fork(true, Some(report), move || {
            process::close_raw(read_end);
            process::close_raw(go_w);
            parent(plan, go_r, report, life)
        })?);
    }
    drop(write);
    drop(go_read);
    let top = s.top;
    let pace = a.rate.map_or("as fast as they can".to_string(), |r| {
        format!("at {r} exits/s in total")
    });
    s.out.ready(
        top,
        None,
        &[],
        Some(&parents),
        &format!(
            "{} parents {parents:?} fork, let exit and reap ({}) {pace} for {}",
            parents.len(),
            if a.reap == StormReap::Wait4 {
                "wait4"
            } else {
                "waitid"
            },
            human(a.duration)
        ),
    )?;
    drop(go_write); // go
    let mut exits = 0u64;
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut reported = 0;
    let mut stopped = None;
    let mut kill_at =
        now_ns() + a.duration.as_nanos() as u64 + a.delay.as_nanos() as u64 + 10_000_000_000;
    let mut live: Vec<Pid> = parents.clone();
    while !live.is_empty() || !reader.eof {
        let mut fds: Vec<libc::pollfd> = vec![pollfd(reader.fd(), libc::POLLIN)];
        for &p in &live {
            fds.push(pollfd(s.pidfd(p)?, libc::POLLIN));
        }
        match s.poll(&mut fds, Some(kill_at), stopped.is_none())? {
            Wake::Stop => {
                stopped = s.stopped();
                for &p in &live {
                    s.reg.kill(p, libc::SIGTERM);
                }
                kill_at = now_ns() + 2_000_000_000;
            }
            Wake::Timeout => {
                for &p in &live {
                    s.reg.kill(p, libc::SIGKILL);
                }
                kill_at = u64::MAX / 2;
            }
            Wake::Events => {
                if fds[0].revents != 0 {
                    reader.fill()?;
                    while let Some(msg) = reader.next()? {
                        match msg {
                            Msg::Child(rec) => s.out.child(&rec)?,
                            Msg::Storm {
                                exits: n,
                                start_ns,
                                end_ns,
                                ..
                            } => {
                                exits += n;
                                first = first.min(start_ns);
                                last = last.max(end_ns);
                                reported += 1;
                            }
                            other => bail!("unexpected message {other:?}"),
                        }
                    }
                }
                let gone: Vec<Pid> = live
                    .iter()
                    .zip(&fds[1..])
                    .filter(|(_, f)| f.revents != 0)
                    .map(|(&p, _)| p)
                    .collect();
                for p in gone {
                    s.reap(p, ReapMethod::Wait4)?;
                    live.retain(|&q| q != p);
                }
            }
        }
    }
    if reported < parents.len() && stopped.is_none() {
        bail!(
            "{} of {} storm parents ended without reporting",
            parents.len() - reported,
            parents.len()
        );
    }
    let duration_ns = last.saturating_sub(first);
    let rate = if duration_ns > 0 {
        exits as f64 * 1e9 / duration_ns as f64
    } else {
        0.0
    };
    Ok(Done {
        children: exits,
        reaped: exits,
        interrupted: stopped.is_some(),
        signal: stopped,
        parents: Some(u64::from(a.parents)),
        exits: Some(exits),
        duration_ns: Some(duration_ns),
        rate: Some(rate),
        target_rate: a.rate,
        ..Done::default()
    })
}
