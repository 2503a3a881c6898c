//! What the A/B throughput runs give: one traced run ([`Traced`]), a traced run between two
//! untraced ones ([`Pair`]: the ratio traced/untraced, by mean and by steady rate), a collector's
//! pairs on one load ([`Series`]: median and spread; for zombietrace also what it saw against
//! what the load made, what it lost, its CPU and its peak RSS).

use serde_json::{Value, json};

use super::{
    parse::Seen,
    spread::Spread,
    tracer::{Stopped, Tracer},
    workload::Load,
};

/// One traced run: the load, what the collector saw and what it cost.
#[derive(Clone, Debug, Default)]
pub struct Traced {
    pub load: Load,
    pub seen: Seen,
    pub stopped: Stopped,
    /// The collector's CPU while the load ran (all threads, schedstat), seconds.
    pub cpu_load_secs: f64,
    /// VmHWM right after the load, KiB.
    pub hwm_kib: u64,
    pub startup_secs: f64,
    /// Run time of its kernel programs (when kernel.bpf_stats_enabled), ns.
    pub bpf_run_ns: Option<u64>,
}

impl Traced {
    /// Exits made by the load vs reaps of them zombietrace reported.
    pub fn seen_reaps(&self, tracer: Tracer) -> Option<u64> {
        self.seen.load_reaps(tracer)
    }

    pub fn lost(&self) -> Option<u64> {
        self.seen.summary.as_ref().map(|s| s.lost)
    }

    /// The collector's CPU while the load ran, as a share of one core.
    pub fn cpu_share(&self) -> f64 {
        self.cpu_load_secs / self.load.secs.max(1e-9)
    }

    /// Its kernel programs' run time per exit of the load (they run in the traced processes,
    /// billed to them, not to the collector).
    pub fn bpf_ns_per_exit(&self) -> Option<f64> {
        Some(self.bpf_run_ns? as f64 / self.load.exits.max(1) as f64)
    }

    /// The collector's CPU per 10,000 exits of the load: its share of one core at 10,000
    /// exits/s, whatever rate the load reached (linear).
    pub fn cpu_share_at_10k(&self) -> f64 {
        self.cpu_load_secs * 10_000.0 / self.load.exits.max(1) as f64
    }

    pub fn to_json(&self, tracer: Tracer) -> Value {
        json!({
            "load": self.load.to_json(),
            "expected": self.load.exits,
            "seen_reaps": self.seen_reaps(tracer),
            "summary_reaped_whole_machine": self.seen.machine_reaped(),
            "seen_exit_lines": self.seen.exits,
            "output_lines": self.seen.lines,
            "lost": self.lost(),
            "summary_events": self.seen.summary.as_ref().map(|s| s.events),
            "summary_outstanding": self.seen.summary.as_ref().map(|s| s.outstanding),
            "cpu_during_load_secs": self.cpu_load_secs,
            "cpu_share_of_one_core": self.cpu_share(),
            "cpu_share_at_10k_exits_per_sec": self.cpu_share_at_10k(),
            "kernel_programs_ns": self.bpf_run_ns,
            "kernel_programs_ns_per_exit": self.bpf_ns_per_exit(),
            "cpu_total_secs": self.stopped.cpu_secs,
            "max_rss_kib": self.stopped.max_rss_kib,
            "vmhwm_kib": self.hwm_kib,
            "startup_secs": self.startup_secs,
            "stop_secs": self.stopped.stop_secs,
        })
    }
}

/// A traced run between two untraced runs of the same load.
pub struct Pair {
    pub untraced: Load,
    pub traced: Traced,
    /// The untraced run right after the traced one (also the next pair's `untraced`).
    pub untraced_after: Load,
}

impl Pair {
    /// Traced rate over the mean of the untraced rates on both sides: a machine whose speed
    /// drifts during the pair moves both sides alike, so the drift cancels (to first order).
    pub fn ratio(&self) -> f64 {
        self.traced.load.rate / self.untraced_rate().max(1e-9)
    }

    pub fn untraced_rate(&self) -> f64 {
        (self.untraced.rate + self.untraced_after.rate) / 2.0
    }

    /// The same ratio over the loads' steady rates (their fast 100 ms windows: see
    /// [`workload::steady_rate`]), when the load reports windows.
    pub fn steady_ratio(&self) -> Option<f64> {
        let before = self.untraced.steady_rate?;
        let after = self.untraced_after.steady_rate?;
        Some(self.traced.load.steady_rate? / ((before + after) / 2.0).max(1e-9))
    }

    /// How far apart the two untraced runs are, |after / before − 1|: the noise an A/A
    /// comparison shows, by mean rate and (when there are windows) by steady rate.
    pub fn untraced_gap(&self) -> (f64, Option<f64>) {
        let gap = |before: f64, after: f64| (after / before.max(1e-9) - 1.0).abs();
        let steady = self
            .untraced
            .steady_rate
            .zip(self.untraced_after.steady_rate)
            .map(|(b, a)| gap(b, a));
        (gap(self.untraced.rate, self.untraced_after.rate), steady)
    }
}

/// Exits the load made in the traced runs vs what zombietrace reported.
pub struct Accounting {
    pub expected: u64,
    /// Reaps of the load's children (per-event lines, or per-parent counts).
    pub seen: Option<u64>,
    /// The summaries' `reaped`, every process on the machine.
    pub seen_whole_machine: Option<u64>,
    pub lost: Option<u64>,
}

/// A collector's pairs on one workload.
pub struct Series {
    pub tracer: Tracer,
    pub pairs: Vec<Pair>,
}

impl Series {
    pub fn ratios(&self) -> Vec<f64> {
        self.pairs.iter().map(Pair::ratio).collect()
    }

    pub fn ratio(&self) -> Spread {
        Spread::of(&self.ratios())
    }

    /// Every pair's steady ratio, when every pair has one.
    pub fn steady_ratios(&self) -> Option<Vec<f64>> {
        self.pairs.iter().map(Pair::steady_ratio).collect()
    }

    pub fn steady_ratio(&self) -> Option<Spread> {
        Some(Spread::of(&self.steady_ratios()?))
    }

    pub fn untraced_rate(&self) -> Spread {
        Spread::of(
            &self
                .pairs
                .iter()
                .map(Pair::untraced_rate)
                .collect::<Vec<_>>(),
        )
    }

    pub fn traced_rate(&self) -> Spread {
        Spread::of(
            &self
                .pairs
                .iter()
                .map(|p| p.traced.load.rate)
                .collect::<Vec<_>>(),
        )
    }

    /// Sums over the pairs, when zombietrace tells them.
    pub fn accounting(&self) -> Accounting {
        let sum = |f: &dyn Fn(&Traced) -> Option<u64>| -> Option<u64> {
            self.pairs.iter().map(|p| f(&p.traced)).sum()
        };
        Accounting {
            expected: self.pairs.iter().map(|p| p.traced.load.exits).sum(),
            seen: sum(&|t| t.seen_reaps(self.tracer)),
            seen_whole_machine: sum(&|t| t.seen.machine_reaped()),
            lost: sum(&|t| t.lost()),
        }
    }

    pub fn cpu_share(&self) -> Spread {
        Spread::of(
            &self
                .pairs
                .iter()
                .map(|p| p.traced.cpu_share())
                .collect::<Vec<_>>(),
        )
    }

    pub fn max_rss_kib(&self) -> u64 {
        self.pairs
            .iter()
            .map(|p| p.traced.stopped.max_rss_kib)
            .max()
            .unwrap_or(0)
    }

    pub fn to_json(&self) -> Value {
        let a = self.accounting();
        json!({
            "tracer": self.tracer.key(),
            "name": self.tracer.name(),
            "ratio": self.ratio().to_json(),
            "ratios": self.ratios(),
            "steady_ratio": self.steady_ratio().map(Spread::to_json),
            "steady_ratios": self.steady_ratios(),
            "untraced_rate": self.untraced_rate().to_json(),
            "traced_rate": self.traced_rate().to_json(),
            "expected": a.expected,
            "seen_reaps": a.seen,
            "summary_reaped_whole_machine": a.seen_whole_machine,
            "lost": a.lost,
            "cpu_share_of_one_core": self.cpu_share().to_json(),
            "max_rss_kib": self.max_rss_kib(),
            "pairs": self.pairs.iter().map(|p| json!({
                "untraced": p.untraced.to_json(),
                "traced": p.traced.to_json(self.tracer),
                "untraced_after": p.untraced_after.to_json(),
                "ratio": p.ratio(),
                "steady_ratio": p.steady_ratio(),
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Load, Pair, Traced};

    fn load(rate: f64) -> Load {
        Load {
            rate,
            ..Load::default()
        }
    }

    #[test]
    fn ratio_is_against_the_untraced_runs_on_both_sides() {
        let pair = Pair {
            untraced: load(90.0),
            traced: Traced {
                load: load(95.0),
                ..Traced::default()
            },
            untraced_after: load(110.0),
        };
        assert_eq!(pair.untraced_rate(), 100.0);
        assert_eq!(pair.ratio(), 0.95);
        assert_eq!(pair.steady_ratio(), None);
        assert_eq!(pair.untraced_gap(), (110.0 / 90.0 - 1.0, None));
    }

    #[test]
    fn steady_ratio_is_over_the_steady_rates_on_both_sides() {
        let steady = |rate: f64, steady: f64| Load {
            rate,
            steady_rate: Some(steady),
            ..Load::default()
        };
        let pair = Pair {
            untraced: steady(80.0, 100.0),
            traced: Traced {
                load: steady(90.0, 98.0),
                ..Traced::default()
            },
            untraced_after: steady(95.0, 100.0),
        };
        assert_eq!(pair.steady_ratio(), Some(0.98));
        assert_eq!(pair.untraced_gap().1, Some(0.0));
    }
}
