//! The end-of-run summary: what was seen, how zombies were reaped, who still holds some. Built
//! in one place, [`Summary::new`], from the tracker's and the statistics' final state.

use std::{collections::BTreeMap, sync::Arc};

use serde::Serialize;

use super::{
    event::{ReapKind, Since, Zombie},
    parents::{Parent, Parents},
    phases::slow_reaper,
    tracker::Stats,
};
use crate::{histogram::Histogram, kernel::loader::Counters, sys::cgroup::Cgroup};

/// One parent's line in the ranking.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParentSummary {
    pub pid: u32,
    pub comm: String,
    pub outstanding: usize,
    pub oldest_age_ns: u64,
    pub zombies: u64,
    pub reaped: u64,
    pub reaps: BTreeMap<ReapKind, u64>,
    pub latency: Latency,
    /// The phases of its wait-based reaps: asking (calling wait late), waking (running late).
    pub ask: Latency,
    pub wake: Latency,
    pub leaking: bool,
    pub leaks: u64,
    pub rate_per_min: f64,
    pub exited: bool,
    pub verdict: Option<String>,
    /// Its cgroup (unit, container, pod), when known.
    pub cgroup: Option<Arc<Cgroup>>,
}

impl ParentSummary {
    pub fn new(p: &Parent, now_ns: u64) -> Self {
        ParentSummary {
            pid: p.pid,
            comm: p.comm.clone(),
            outstanding: p.outstanding.len(),
            oldest_age_ns: p.oldest_ns().map_or(0, |t| now_ns.saturating_sub(t)),
            zombies: p.zombies,
            reaped: p.reaped,
            reaps: p.kinds.clone(),
            latency: Latency::of(&p.latency),
            ask: Latency::of(&p.ask),
            wake: Latency::of(&p.wake),
            leaking: p.leaking.is_some(),
            leaks: p.leaks,
            rate_per_min: p.rate_per_min(now_ns),
            exited: p.exited,
            // Why it leaks, if it did; else, if its reaps are slow, which phase is to blame.
            verdict: p.verdict.clone().or_else(|| {
                slow_reaper(
                    &Latency::of(&p.latency),
                    &Latency::of(&p.ask),
                    &Latency::of(&p.wake),
                    &Latency::of(&p.handler),
                )
                .map(|why| format!("{} (pid {}) {why}", p.comm, p.pid))
            }),
            cgroup: p.cgroup.clone(),
        }
    }
}

/// One power of two of nanoseconds in a log2 histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub low: u64,
    pub high: u64,
    pub count: u64,
}

/// A zombie-time distribution, summarised (percentiles within 12.5%, max exact).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub count: u64,
    #[serde(rename = "p50_ns")]
    pub p50: u64,
    #[serde(rename = "p90_ns")]
    pub p90: u64,
    #[serde(rename = "p99_ns")]
    pub p99: u64,
    #[serde(rename = "max_ns")]
    pub max: u64,
    #[serde(rename = "log2_ns")]
    pub log2: Vec<Bucket>,
}

impl Latency {
    pub fn of(h: &Histogram) -> Self {
        Latency {
            count: h.count(),
            p50: h.quantile(0.5),
            p90: h.quantile(0.9),
            p99: h.quantile(0.99),
            max: h.max(),
            log2: h
                .log2_buckets()
                .into_iter()
                .map(|(low, high, count)| Bucket { low, high, count })
                .collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outstanding {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub parent_comm: String,
    pub age_ns: u64,
    /// Already a zombie when tracing started: the age is a lower bound.
    pub at_least: bool,
}

/// What the run itself counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RunCounts {
    /// Records read from the kernel.
    pub events: u64,
    pub decode_errors: u64,
    /// Event lines the outputs dropped because their reader did not keep up (every count of
    /// the summary still includes their events).
    pub lines_dropped: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub ts_ns: u64,
    pub duration_ns: u64,
    #[serde(flatten)]
    pub counts: RunCounts,
    pub zombies: u64,
    pub reaped: u64,
    pub reaps: BTreeMap<ReapKind, u64>,
    pub outstanding: Vec<Outstanding>,
    #[serde(flatten)]
    pub counters: Counters,
    /// Wait returns that named no zombie tracked (filtered out, or exited before tracing).
    pub unmatched_waits: u64,
    /// Zombies whose release was never seen (a newer process took their pid): events lost.
    pub vanished: u64,
    /// Parents ranked by severity (leaking first).
    pub parents: Vec<ParentSummary>,
    /// Zombie times over all parents, and the phases of every wait-based reap.
    pub latency: Latency,
    pub ask: Latency,
    pub wake: Latency,
}

impl Summary {
    /// The summary at `now_ns` of a run that started at `started_ns`, ranking at most
    /// `shown_parents` parents: the tracker's counts and the zombies still open (oldest
    /// first), and the per-parent statistics.
    pub fn new(
        (stats, outstanding): (&Stats, Vec<&Zombie>),
        parents: &Parents,
        counters: Counters,
        counts: RunCounts,
        started_ns: u64,
        now_ns: u64,
        shown_parents: usize,
    ) -> Self {
        let outstanding = outstanding
            .into_iter()
            .map(|z| Outstanding {
                pid: z.pid,
                ppid: z.ppid,
                comm: z.comm.clone(),
                parent_comm: z.parent_comm.clone(),
                age_ns: now_ns.saturating_sub(z.ts_ns),
                at_least: z.since == Since::TracingStart,
            })
            .collect();
        Summary {
            ts_ns: now_ns,
            duration_ns: now_ns.saturating_sub(started_ns),
            counts,
            zombies: stats.zombies,
            reaped: stats.reaps.values().sum(),
            reaps: stats.reaps.clone(),
            outstanding,
            counters,
            unmatched_waits: stats.unmatched_waits,
            vanished: stats.vanished,
            parents: parents
                .ranked(now_ns)
                .into_iter()
                .filter(|p| p.zombies > 0)
                .take(shown_parents)
                .map(|p| ParentSummary::new(p, now_ns))
                .collect(),
            latency: Latency::of(parents.histogram()),
            ask: Latency::of(parents.phases().0),
            wake: Latency::of(parents.phases().1),
        }
    }

    pub fn reaps_of(&self, kind: ReapKind) -> u64 {
        self.reaps.get(&kind).copied().unwrap_or(0)
    }
}
