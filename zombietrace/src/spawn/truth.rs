//! Ground truth: what the spawner saw first-hand, as JSON Lines (`--json`) or short text.
//!
//! Lines, in order: one `ready`, one `child` per child once its fate is known, one `done`.
//! Every line is written and flushed on its own; nothing else goes to stdout.

use std::io::Write as _;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::exit_stamp;
use super::process::{Pid, Status};
use crate::duration::format_ns;

/// Who reaped a child, and with which call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reap {
    Wait4,
    Waitid,
    WaitidPidfd,
    IoUring,
    /// The kernel released it at exit (SIGCHLD ignored, or SA_NOCLDWAIT): never a zombie.
    Autoreap,
    /// Reparented to init (or to another subreaper above the spawner), which reaped it.
    Init,
}

impl Reap {
    fn by_spawner(self) -> bool {
        !matches!(self, Reap::Autoreap | Reap::Init)
    }

    fn name(self) -> &'static str {
        match self {
            Reap::Wait4 => "wait4",
            Reap::Waitid => "waitid",
            Reap::WaitidPidfd => "waitid(P_PIDFD)",
            Reap::IoUring => "io_uring IORING_OP_WAITID",
            Reap::Autoreap => "autoreap",
            Reap::Init => "init",
        }
    }
}

/// A reap as the reaper timed it: the true reap moment lies in `[call_ns, ns]`.
#[derive(Clone, Copy, Debug)]
pub struct Reaped {
    pub status: Status,
    /// CLOCK_MONOTONIC ns right before the reaping call.
    pub call_ns: u64,
    /// CLOCK_MONOTONIC ns right after it returned.
    pub ns: u64,
}

/// One child's fate: the body of a `child` line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChildRecord {
    pub pid: Pid,
    /// The process that forked it.
    pub ppid: Pid,
    /// The process whose wait call reaped it; null for autoreap and init.
    pub reaper_pid: Option<Pid>,
    /// CLOCK_MONOTONIC ns: the child's last clock reading before it exited (for a threaded
    /// child, its last thread's); the zombie moment is after it (and at or before `gone_ns`).
    /// Null when it has none: killed from outside, or its reading was overwritten by another
    /// child's.
    pub exiting_ns: Option<u64>,
    /// CLOCK_MONOTONIC ns when the reaper learned it was gone, read after a WNOWAIT peek (so
    /// after the kernel had finished notifying the exit): the zombie moment is at or before it.
    /// (For zombies released by their parent's end: when the reaper saw that parent gone.)
    pub gone_ns: Option<u64>,
    /// CLOCK_MONOTONIC ns right before the reaping call was made: the reap is at or after it.
    pub reap_call_ns: Option<u64>,
    /// CLOCK_MONOTONIC ns right after the reaping call returned: the reap is at or before it.
    pub reaped_ns: Option<u64>,
    /// `reaped_ns − gone_ns`.
    pub zombie_ns: Option<u64>,
    pub reap: Reap,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub core_dumped: bool,
    /// `handler`: CLOCK_MONOTONIC ns when the run of the parent's SIGCHLD handler that reaped it
    /// began (its first reading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler_entry_ns: Option<u64>,
    /// `contended`: CLOCK_MONOTONIC ns when the CPU hog on the parent's CPU began spinning, and
    /// its last reading before it stopped: the parent could not run in between.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hog_start_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hog_end_ns: Option<u64>,
}

impl ChildRecord {
    /// Reaped by one of the spawner's processes, which timed it (`r`); takes the child's own
    /// last reading out of the exit-stamp table.
    pub fn reaped(
        pid: Pid,
        ppid: Pid,
        reaper: Pid,
        gone_ns: Option<u64>,
        r: Reaped,
        reap: Reap,
    ) -> Self {
        ChildRecord {
            pid,
            ppid,
            reaper_pid: Some(reaper),
            exiting_ns: exit_stamp::take(pid),
            gone_ns,
            reap_call_ns: Some(r.call_ns),
            reaped_ns: Some(r.ns),
            zombie_ns: gone_ns.map(|g| r.ns.saturating_sub(g)),
            reap,
            exit_code: r.status.exit_code,
            signal: r.status.signal,
            core_dumped: r.status.core_dumped,
            handler_entry_ns: None,
            hog_start_ns: None,
            hog_end_ns: None,
        }
    }

    /// Reaped by the kernel or by init: no reaper of ours, no times but the child's own last
    /// reading; the status if it was seen.
    pub fn unseen(pid: Pid, ppid: Pid, reap: Reap, st: Status) -> Self {
        ChildRecord {
            pid,
            ppid,
            reaper_pid: None,
            exiting_ns: exit_stamp::take(pid),
            gone_ns: None,
            reap_call_ns: None,
            reaped_ns: None,
            zombie_ns: None,
            reap,
            exit_code: st.exit_code,
            signal: st.signal,
            core_dumped: st.core_dumped,
            handler_entry_ns: None,
            hog_start_ns: None,
            hog_end_ns: None,
        }
    }

    fn status(&self) -> Status {
        Status {
            exit_code: self.exit_code,
            signal: self.signal,
            core_dumped: self.core_dumped,
        }
    }
}

/// The moments that explain a slow reap, as the phase scenarios saw them, counted from the
/// child's last reading (the zombie moment is right after it).
fn phases_text(r: &ChildRecord) -> String {
    let Some(exiting) = r.exiting_ns else {
        return String::new();
    };
    let after = |t: u64| format_ns(t.saturating_sub(exiting));
    let mut text = String::new();
    if let Some(h) = r.handler_entry_ns {
        text.push_str(&format!(
            "; its SIGCHLD handler began {} after it exited",
            after(h)
        ));
    }
    if let (Some(start), Some(end)) = (r.hog_start_ns, r.hog_end_ns) {
        text.push_str(&format!(
            "; a CPU hog held the parent's CPU for {} (until {} after it exited)",
            format_ns(end.saturating_sub(start)),
            after(end)
        ));
    }
    match r.reap_call_ns.filter(|_| r.zombie_ns.is_none()) {
        Some(call) if call < exiting => text.push_str(&format!(
            "; the parent was already waiting (its call began {} before the exit)",
            format_ns(exiting - call)
        )),
        Some(call) => {
            text.push_str(&format!(
                "; the reaping call began {} after it exited",
                after(call)
            ));
        }
        None => {}
    }
    text
}

/// Counts and scenario extras of the `done` line.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Done {
    pub children: u64,
    /// Reaped by a wait call of one of the spawner's processes.
    pub reaped: u64,
    pub autoreaped: u64,
    pub init: u64,
    /// A stop signal cut the scenario short (for held scenarios: ended the hold early).
    pub interrupted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// wnowait: how many WNOWAIT peeks were made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peeks: Option<u64>,
    /// poll: how many wait4(WNOHANG) polls were made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polls: Option<u64>,
    /// caught-no-wait / nocldwait / handler: SIGCHLDs the parent's handler caught.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigchld: Option<u64>,
    /// storm: the parents, the children they reaped, and the achieved rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parents: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
}

#[derive(Serialize)]
struct ReadyLine<'a> {
    event: &'static str,
    scenario: &'a str,
    spawner_pid: Pid,
    parent_pid: Option<Pid>,
    children: &'a [Pid],
    #[serde(skip_serializing_if = "Option::is_none")]
    parents: Option<&'a [Pid]>,
}

#[derive(Serialize)]
struct ChildLine<'a> {
    event: &'static str,
    scenario: &'a str,
    #[serde(flatten)]
    record: &'a ChildRecord,
}

#[derive(Serialize)]
struct DoneLine<'a> {
    event: &'static str,
    scenario: &'a str,
    #[serde(flatten)]
    done: &'a Done,
}

/// Writes the ground truth and keeps the counts for the `done` line.
#[derive(Debug)]
pub struct Reporter {
    json: bool,
    scenario: &'static str,
    counts: Done,
}

impl Reporter {
    pub fn new(scenario: &'static str, json: bool) -> Self {
        Reporter {
            json,
            scenario,
            counts: Done::default(),
        }
    }

    fn line(&self, text: &str) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .context("writing the ground truth to stdout")
    }

    fn json_line(&self, value: &impl Serialize) -> anyhow::Result<()> {
        self.line(&serde_json::to_string(value)?)
    }

    /// The `ready` line; `human` describes the scenario for a person.
    pub fn ready(
        &self,
        spawner: Pid,
        parent: Option<Pid>,
        children: &[Pid],
        parents: Option<&[Pid]>,
        human: &str,
    ) -> anyhow::Result<()> {
        if self.json {
            self.json_line(&ReadyLine {
                event: "ready",
                scenario: self.scenario,
                spawner_pid: spawner,
                parent_pid: parent,
                children,
                parents,
            })
        } else {
            self.line(&format!("{}: {human}", self.scenario))
        }
    }

    pub fn child(&mut self, record: &ChildRecord) -> anyhow::Result<()> {
        self.counts.children += 1;
        match record.reap {
            Reap::Autoreap => self.counts.autoreaped += 1,
            Reap::Init => self.counts.init += 1,
            _ => self.counts.reaped += 1,
        }
        if self.json {
            return self.json_line(&ChildLine {
                event: "child",
                scenario: self.scenario,
                record,
            });
        }
        let how = if record.reap.by_spawner() {
            let reaper = record.reaper_pid.unwrap_or_default();
            match record.zombie_ns {
                Some(z) => format!(
                    "reaped by {reaper} with {} after {} as a zombie",
                    record.reap.name(),
                    format_ns(z)
                ),
                None => format!("reaped by {reaper} with {}", record.reap.name()),
            }
        } else if record.reap == Reap::Autoreap {
            "reaped by the kernel at exit (autoreap): never a zombie".to_string()
        } else {
            "reaped by init".to_string()
        };
        self.line(&format!(
            "{}: child {} (parent {}) {}; {how}{}",
            self.scenario,
            record.pid,
            record.ppid,
            record.status().describe(),
            phases_text(record)
        ))
    }

    /// The last line: the counts of the child lines plus the scenario's extras.
    pub fn done(&self, mut done: Done) -> anyhow::Result<()> {
        done.children = self.counts.children.max(done.children);
        done.reaped = self.counts.reaped.max(done.reaped);
        done.autoreaped = self.counts.autoreaped;
        done.init = self.counts.init;
        if self.json {
            return self.json_line(&DoneLine {
                event: "done",
                scenario: self.scenario,
                done: &done,
            });
        }
        let mut text = format!(
            "{}: done: {} children: {} reaped by the spawner, {} autoreaped, {} reaped by init",
            self.scenario, done.children, done.reaped, done.autoreaped, done.init
        );
        if let (Some(exits), Some(ns), Some(rate)) = (done.exits, done.duration_ns, done.rate) {
            text = format!(
                "{}: done: {} parents made {exits} exits in {}: {rate:.0} exits/s achieved",
                self.scenario,
                done.parents.unwrap_or(0),
                format_ns(ns)
            );
            if let Some(target) = done.target_rate {
                text.push_str(&format!(" (target {target:.0}/s)"));
            }
        }
        if let Some(peeks) = done.peeks {
            text.push_str(&format!("; {peeks} WNOWAIT peeks"));
        }
        if let Some(polls) = done.polls {
            text.push_str(&format!("; {polls} wait4(WNOHANG) polls"));
        }
        if let Some(n) = done.sigchld {
            text.push_str(&format!("; the parent caught {n} SIGCHLD"));
        }
        if let Some(sig) = done.signal {
            text.push_str(&format!(" (stopped by {})", crate::sys::signal::name(sig)));
        }
        self.line(&text)
    }
}
