//! The end-of-run summary: what was seen, how zombies were reaped, who still holds some.

use std::collections::BTreeMap;

use crate::{
    histogram::Histogram, kernel::loader::Counters, parents::Parent, record::ReapKind,
    tracker::Stats,
};

/// One parent's line in the ranking.
#[derive(Clone, Debug, PartialEq)]
pub struct ParentSummary {
    pub pid: u32,
    pub comm: String,
    pub outstanding: usize,
    pub oldest_age_ns: u64,
    pub zombies: u64,
    pub reaped: u64,
    pub reaps: BTreeMap<ReapKind, u64>,
    pub latency: Latency,
    pub leaking: bool,
    pub leaks: u64,
    pub rate_per_min: f64,
    pub exited: bool,
    pub verdict: Option<String>,
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
            leaking: p.leaking.is_some(),
            leaks: p.leaks,
            rate_per_min: p.rate_per_min(now_ns),
            exited: p.exited,
            verdict: p.verdict.clone(),
        }
    }
}

/// A zombie-time distribution, summarised (percentiles within 12.5%, max exact).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    /// `(low, high, count)` per power of two of nanoseconds.
    pub log2: Vec<(u64, u64, u64)>,
}

impl Latency {
    pub fn of(h: &Histogram) -> Self {
        Latency {
            count: h.count(),
            p50: h.quantile(0.5),
            p90: h.quantile(0.9),
            p99: h.quantile(0.99),
            max: h.max(),
            log2: h.log2_buckets(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outstanding {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub parent_comm: String,
    pub age_ns: u64,
    /// Already a zombie when tracing started: the age is a lower bound.
    pub at_least: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub ts_ns: u64,
    pub duration_ns: u64,
    pub events: u64,
    pub zombies: u64,
    pub reaps: BTreeMap<ReapKind, u64>,
    pub outstanding: Vec<Outstanding>,
    pub counters: Counters,
    pub unmatched_waits: u64,
    pub vanished: u64,
    pub decode_errors: u64,
    /// Event lines the output dropped because stdout did not keep up (every count above still
    /// includes their events).
    pub lines_dropped: u64,
    /// Parents ranked by severity (leaking first).
    pub parents: Vec<ParentSummary>,
    /// Zombie times over all parents.
    pub latency: Latency,
}

impl Summary {
    pub fn new(stats: &Stats, outstanding: Vec<Outstanding>, counters: Counters) -> Self {
        Summary {
            ts_ns: 0,
            duration_ns: 0,
            events: 0,
            zombies: stats.zombies,
            reaps: stats.reaps.clone(),
            outstanding,
            counters,
            unmatched_waits: stats.unmatched_waits,
            vanished: stats.vanished,
            decode_errors: 0,
            lines_dropped: 0,
            parents: Vec::new(),
            latency: Latency::default(),
        }
    }

    pub fn reaped(&self) -> u64 {
        self.reaps.values().sum()
    }

    pub fn reaps_of(&self, kind: ReapKind) -> u64 {
        self.reaps.get(&kind).copied().unwrap_or(0)
    }
}
