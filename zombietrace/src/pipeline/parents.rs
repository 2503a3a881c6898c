//! Per-parent accounting, live from the lifecycle records: zombies outstanding, the oldest one's
//! age, reaps by kind, the zombie-time distribution, and leak detection. Memory is bounded by the
//! live parents and the outstanding zombies, not by how long it runs.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
};

use super::{
    Host,
    event::{Event, Leak, LeakEnd, LeakReason, OldZombie, ParentGone, ReapKind},
};
use crate::{diagnose, histogram::Histogram, sys::cgroup::Cgroup};

/// How often the outstanding counts are sampled to tell a growing backlog.
const SAMPLE_EVERY_NS: u64 = 1_000_000_000;
/// A count that rose at each of this many samples in a row is "growing".
const GROWING_SAMPLES: usize = 3;
/// Exited parents kept for the final report once they have nothing outstanding: those that
/// leaked first, then the slowest reapers (p99 zombie time), then the busiest.
const EXITED_KEPT: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParentKey {
    pub pid: u32,
    /// Start time (CLOCK_MONOTONIC ns); 0 when unknown (zombies found in procfs).
    pub start_ns: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Parent {
    pub pid: u32,
    pub comm: String,
    /// Unreaped zombies: child pid → (comm, when it became a zombie).
    pub outstanding: BTreeMap<u32, (String, u64)>,
    pub zombies: u64,
    pub reaped: u64,
    pub kinds: BTreeMap<ReapKind, u64>,
    /// How long its children stayed zombies, and the phases of its wait-based reaps.
    pub latency: Histogram,
    pub ask: Histogram,
    pub wake: Histogram,
    /// When its SIGCHLD handler began, from the zombie moment (reaps where it ran one): for the
    /// verdict only.
    pub handler: Histogram,
    /// Since when it is leaking, and why.
    pub leaking: Option<(u64, LeakReason)>,
    /// Leak episodes so far.
    pub leaks: u64,
    pub verdict: Option<String>,
    pub exited: bool,
    /// Its cgroup, as its zombies' records said.
    pub cgroup: Option<Arc<Cgroup>>,
    samples: VecDeque<usize>,
}

impl Parent {
    pub fn oldest_ns(&self) -> Option<u64> {
        self.outstanding.values().map(|(_, ts)| *ts).min()
    }

    /// Unreaped zombies accumulated per minute, over the age of the oldest.
    pub fn rate_per_min(&self, now_ns: u64) -> f64 {
        match self.oldest_ns() {
            Some(oldest) if now_ns > oldest => {
                self.outstanding.len() as f64 * 60e9 / (now_ns - oldest) as f64
            }
            _ => 0.0,
        }
    }

    fn growing(&self) -> bool {
        self.samples.len() > GROWING_SAMPLES
            && self
                .samples
                .iter()
                .zip(self.samples.iter().skip(1))
                .all(|(a, b)| b > a)
    }

    /// Ranking key: leaking first, then more zombies, then older, then slower reaps.
    fn severity(&self, now_ns: u64) -> (bool, usize, u64, u64) {
        (
            self.leaking.is_some(),
            self.outstanding.len(),
            self.oldest_ns().map_or(0, |t| now_ns.saturating_sub(t)),
            self.latency.quantile(0.99),
        )
    }
}

pub struct Parents {
    leak_after_ns: u64,
    parents: BTreeMap<ParentKey, Parent>,
    /// Which parent each outstanding zombie counts against (its parent when it died, even if
    /// it is later handed to a new one).
    owner: HashMap<u32, ParentKey>,
    exited: Vec<Parent>,
    all: Histogram,
    ask: Histogram,
    wake: Histogram,
    last_sample_ns: u64,
}

impl Parents {
    pub fn new(leak_after_ns: u64) -> Self {
        Parents {
            leak_after_ns,
            parents: BTreeMap::new(),
            owner: HashMap::new(),
            exited: Vec::new(),
            all: Histogram::default(),
            ask: Histogram::default(),
            wake: Histogram::default(),
            last_sample_ns: 0,
        }
    }

    /// Zombie times over every parent.
    pub fn histogram(&self) -> &Histogram {
        &self.all
    }

    /// The phases of every wait-based reap: (ask, wake).
    pub fn phases(&self) -> (&Histogram, &Histogram) {
        (&self.ask, &self.wake)
    }

    /// Counts a lifecycle event.
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::Zombie(z) => {
                let key = ParentKey {
                    pid: z.ppid,
                    start_ns: z.parent_start_ns.unwrap_or(0),
                };
                let parent = self.parents.entry(key).or_insert_with(|| Parent {
                    pid: z.ppid,
                    comm: z.parent_comm.clone(),
                    ..Default::default()
                });
                if parent.cgroup.is_none() {
                    parent.cgroup.clone_from(&z.parent_cgroup);
                }
                parent.zombies += 1;
                parent.outstanding.insert(z.pid, (z.comm.clone(), z.ts_ns));
                self.owner.insert(z.pid, key);
                // A parent that is itself now a zombie has exited.
                if let Some(start) = z.start_ns {
                    let me = ParentKey {
                        pid: z.pid,
                        start_ns: start,
                    };
                    if let Some(p) = self.parents.get_mut(&me) {
                        p.exited = true;
                    }
                }
            }
            Event::Reap(r) => {
                self.all.record(r.zombie_ns);
                if let (Some(ask), Some(wake)) = (r.phases.ask_ns, r.phases.wake_ns) {
                    self.ask.record(ask);
                    self.wake.record(wake);
                }
                let Some(key) = self.owner.remove(&r.zombie.pid) else {
                    return;
                };
                if let Some(parent) = self.parents.get_mut(&key) {
                    parent.outstanding.remove(&r.zombie.pid);
                    parent.reaped += 1;
                    *parent.kinds.entry(r.kind).or_default() += 1;
                    parent.latency.record(r.zombie_ns);
                    if let (Some(ask), Some(wake)) = (r.phases.ask_ns, r.phases.wake_ns) {
                        parent.ask.record(ask);
                        parent.wake.record(wake);
                    }
                    if let Some(handler) = r.phases.handler_ns {
                        parent.handler.record(handler);
                    }
                }
            }
            _ => {}
        }
    }

    /// Leak detection at CLOCK_MONOTONIC `now_ns`: `leak` when a parent holds a zombie older
    /// than the threshold or its backlog keeps growing, `leak_end` when it recovers or exits.
    /// `host` diagnoses a parent that starts leaking (its leak is complete when made), and tells
    /// whether a parent with nothing outstanding still exists (else it is forgotten, keeping
    /// memory bounded).
    pub fn tick(&mut self, now_ns: u64, host: &dyn Host, out: &mut Vec<Event>) {
        let sample = now_ns >= self.last_sample_ns + SAMPLE_EVERY_NS;
        if sample {
            self.last_sample_ns = now_ns;
        }
        let mut forget = Vec::new();
        for (key, p) in self.parents.iter_mut() {
            if sample {
                p.samples.push_back(p.outstanding.len());
                if p.samples.len() > GROWING_SAMPLES + 1 {
                    p.samples.pop_front();
                }
            }
            let old = p
                .oldest_ns()
                .is_some_and(|t| now_ns.saturating_sub(t) >= self.leak_after_ns);
            let reason = if old {
                Some(LeakReason::Old)
            } else if p.growing() {
                Some(LeakReason::Growing)
            } else {
                None
            };
            if let (None, Some(reason)) = (p.leaking, reason)
                && !p.exited
            {
                p.leaking = Some((now_ns, reason));
                p.leaks += 1;
                out.push(Event::Leak(Box::new(leak(
                    p,
                    key.start_ns,
                    reason,
                    now_ns,
                    host,
                ))));
            } else if let Some((since, _)) = p.leaking
                && (p.exited || reason.is_none())
            {
                p.leaking = None;
                out.push(Event::LeakEnd(LeakEnd {
                    ts_ns: now_ns,
                    pid: p.pid,
                    start_ns: key.start_ns,
                    comm: p.comm.clone(),
                    outstanding: p.outstanding.len(),
                    leaked_for_ns: now_ns.saturating_sub(since),
                    exited: p.exited,
                }));
            }
            if p.outstanding.is_empty()
                && p.leaking.is_none()
                && (p.exited || (sample && !host.alive(p.pid)))
            {
                forget.push(*key);
            }
        }
        for key in forget {
            if let Some(gone) = self.forget(key, now_ns) {
                out.push(Event::ParentGone(gone));
            }
        }
    }

    /// Forgets a parent with nothing outstanding that has exited (or is no longer alive): one
    /// that had zombies is kept among the exited for the report (what was kept is told, so
    /// that a recording replays to the same report).
    fn forget(&mut self, key: ParentKey, now_ns: u64) -> Option<ParentGone> {
        let mut p = self.parents.remove(&key)?;
        if p.zombies == 0 {
            return None;
        }
        let gone = ParentGone {
            ts_ns: now_ns,
            pid: p.pid,
            start_ns: key.start_ns,
            comm: p.comm.clone(),
        };
        // Gone either way: it can only have exited.
        p.exited = true;
        self.exited.push(p);
        self.exited.sort_by_cached_key(|p| {
            std::cmp::Reverse((p.leaks > 0, p.latency.quantile(0.99), p.zombies))
        });
        self.exited.truncate(EXITED_KEPT);
        Some(gone)
    }

    /// Takes an event as a recording tells it: lifecycle events are counted as `observe`
    /// does, and the decisions `tick` made live (leaks, their ends, parents forgotten) are
    /// taken as made, so that a recording gives the report the live run gave.
    pub fn replay(&mut self, event: &Event) {
        match event {
            Event::Leak(l) => {
                let key = ParentKey {
                    pid: l.pid,
                    start_ns: l.start_ns,
                };
                if let Some(p) = self.parents.get_mut(&key) {
                    p.leaking = Some((l.ts_ns, l.reason));
                    p.leaks += 1;
                    p.comm.clone_from(&l.comm);
                    p.verdict.clone_from(&l.verdict);
                }
            }
            Event::LeakEnd(e) => {
                let key = ParentKey {
                    pid: e.pid,
                    start_ns: e.start_ns,
                };
                if let Some(p) = self.parents.get_mut(&key) {
                    p.leaking = None;
                }
            }
            Event::ParentGone(g) => {
                let key = ParentKey {
                    pid: g.pid,
                    start_ns: g.start_ns,
                };
                self.forget(key, g.ts_ns);
            }
            other => self.observe(other),
        }
    }

    /// The parents alive (or holding zombies) now, in no particular order.
    pub fn live(&self) -> impl Iterator<Item = &Parent> {
        self.parents.values()
    }

    /// Parents ranked by severity: live ones, and the exited ones kept (see `EXITED_KEPT`).
    pub fn ranked(&self, now_ns: u64) -> Vec<&Parent> {
        let mut all: Vec<&Parent> = self.parents.values().chain(&self.exited).collect();
        all.sort_by_key(|p| (std::cmp::Reverse(p.severity(now_ns)), p.pid));
        all
    }

    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.parents.len()
    }
}

/// The leak event for `p` (started at `start_ns`), diagnosed now; `p` takes the name it has
/// now and the verdict.
fn leak(p: &mut Parent, start_ns: u64, reason: LeakReason, now_ns: u64, host: &dyn Host) -> Leak {
    let mut oldest: Vec<OldZombie> = p
        .outstanding
        .iter()
        .map(|(&pid, (comm, ts))| OldZombie {
            pid,
            comm: comm.clone(),
            age_ns: now_ns.saturating_sub(*ts),
        })
        .collect();
    oldest.sort_by_key(|o| (std::cmp::Reverse(o.age_ns), o.pid));
    let oldest_age_ns = oldest.first().map_or(0, |o| o.age_ns);
    oldest.truncate(5);
    let diagnosis = match host.diagnose(p.pid) {
        Ok(d) => {
            // Named as it is now (it may have exec'd since its children died).
            p.comm = d.comm.clone();
            p.verdict = Some(diagnose::verdict(&d, p.outstanding.len(), oldest_age_ns));
            Some(d)
        }
        Err(err) => {
            p.verdict = Some(format!("unknown: {err}"));
            None
        }
    };
    Leak {
        ts_ns: now_ns,
        pid: p.pid,
        start_ns,
        comm: p.comm.clone(),
        reason,
        outstanding: p.outstanding.len(),
        oldest_age_ns,
        oldest,
        rate_per_min: p.rate_per_min(now_ns),
        verdict: p.verdict.clone(),
        diagnosis,
        cgroup: p.cgroup.clone(),
    }
}

#[cfg(test)]
#[path = "parents_tests.rs"]
mod tests;
