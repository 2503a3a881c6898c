//! The end-of-run summary: what was seen, how zombies were reaped, who still holds some.

use std::collections::BTreeMap;

use crate::{kernel::loader::Counters, record::ReapKind, tracker::Stats};

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

#[derive(Clone, Debug, PartialEq, Eq)]
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
        }
    }

    pub fn reaped(&self) -> u64 {
        self.reaps.values().sum()
    }

    pub fn reaps_of(&self, kind: ReapKind) -> u64 {
        self.reaps.get(&kind).copied().unwrap_or(0)
    }
}
