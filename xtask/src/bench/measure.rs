//! Interleaved A/B throughput runs: for each pair, the load alone, then the same load under a
//! collector; the ratio traced/untraced per pair, its median and spread. For zombietrace also
//! what it saw against what the load made, what it lost, its CPU and its peak RSS.

use std::{path::PathBuf, time::Duration};

use anyhow::Result;
use serde_json::{Value, json};

use super::spread::Spread;
use super::{
    parse::{self, Seen},
    peers::Tools,
    tracer::{self, Stopped, Tracer},
    workload::{self, LOOP_COMM, Load, Loops, Stop},
};

/// Quiet time after each collector exits.
const SETTLE: Duration = Duration::from_millis(400);

/// What the bench has in hand for every run.
pub struct Ctx {
    pub tools: Tools,
    /// Scratch directory for the collectors' output files.
    pub tmp: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// The bench's own loop, one process pinned to CPU 0.
    PinnedLoop,
    /// Two of the bench's loops, unpinned: both CPUs busy.
    LoadedLoops,
    /// `zombietrace spawn storm --parents 1`, pinned to CPU 0.
    Storm,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::PinnedLoop => "fork loop, 1 process pinned to CPU 0",
            Workload::LoadedLoops => "fork loops, 2 processes unpinned (both CPUs loaded)",
            Workload::Storm => "spawn storm --parents 1, pinned to CPU 0",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Workload::PinnedLoop => "loop_pinned",
            Workload::LoadedLoops => "loop_2cpu",
            Workload::Storm => "storm_pinned",
        }
    }

    /// The command name of the load's children (bpftrace's lines carry only that).
    fn comm(self) -> &'static str {
        match self {
            Workload::Storm => "zombietrace",
            _ => LOOP_COMM,
        }
    }

    /// Runs the load; the loop processes are handed back alive (see [`Loops`]).
    fn run(self, ctx: &Ctx, run: Duration) -> Result<(Load, Option<Loops>)> {
        let loops = |procs, pinned| -> Result<(Load, Option<Loops>)> {
            let mut loops =
                workload::spawn_loops(&ctx.tools.forkloop, procs, pinned, Stop::For(run))?;
            Ok((loops.go()?, Some(loops)))
        };
        match self {
            Workload::PinnedLoop => loops(1, true),
            Workload::LoadedLoops => loops(2, false),
            Workload::Storm => Ok((
                workload::run_storm(&ctx.tools.zombietrace, 1, run, None, Some(0))?,
                None,
            )),
        }
    }
}

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

/// Runs `load` under `tracer`, started and attached first. Processes the load hands back are
/// let go only once the tracer has written its summary.
pub fn traced(
    ctx: &Ctx,
    tracer: Tracer,
    comm: &str,
    load: impl FnOnce() -> Result<(Load, Option<Loops>)>,
) -> Result<Traced> {
    let running = tracer::start(&ctx.tools, tracer, &ctx.tmp)?;
    let startup_secs = running.startup.as_secs_f64();
    let cpu_before = running.cpu_ns();
    let (load, held) = match load() {
        Ok(load) => load,
        Err(err) => {
            let _ = running.stop(Duration::from_secs(30));
            return Err(err);
        }
    };
    let cpu_after = running.cpu_ns();
    let (_, hwm_kib) = running.rss_kib();
    let bpf_run_ns = running.bpf_run_ns();
    let output = running.output.clone();
    let stopped = running.stop(Duration::from_secs(120))?;
    drop(held);
    // A collector's teardown (detaching, freeing maps, RCU) goes on after it exited: let it
    // finish before the next (untraced) run.
    std::thread::sleep(SETTLE);
    let seen = output
        .map(|path| parse::read(&path, tracer, &load.parents, comm))
        .unwrap_or_default();
    Ok(Traced {
        load,
        seen,
        stopped,
        cpu_load_secs: cpu_after.saturating_sub(cpu_before) as f64 / 1e9,
        hwm_kib,
        startup_secs,
        bpf_run_ns,
    })
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

pub struct Throughput {
    pub workload: Workload,
    pub run: Duration,
    pub series: Vec<Series>,
}

impl Throughput {
    /// The A/A noise of this case: the median gap between the two untraced runs around each
    /// traced one, by mean rate and by steady rate.
    pub fn untraced_noise(&self) -> (f64, Option<f64>) {
        let gaps: Vec<(f64, Option<f64>)> = self
            .series
            .iter()
            .flat_map(|s| s.pairs.iter().map(Pair::untraced_gap))
            .collect();
        let mean = Spread::of(&gaps.iter().map(|g| g.0).collect::<Vec<_>>()).median;
        let steady: Option<Vec<f64>> = gaps.iter().map(|g| g.1).collect();
        (mean, steady.map(|v| Spread::of(&v).median))
    }

    pub fn to_json(&self) -> Value {
        let (noise, steady_noise) = self.untraced_noise();
        json!({
            "workload": self.workload.key(),
            "name": self.workload.name(),
            "run_secs": self.run.as_secs_f64(),
            "untraced_gap_median": noise,
            "untraced_steady_gap_median": steady_noise,
            "series": self.series.iter().map(Series::to_json).collect::<Vec<_>>(),
        })
    }
}

/// `pairs` rounds of A B A B … A: each collector's traced run sits between two untraced runs
/// (the one after it is also the next collector's run before), and its ratio is taken against
/// their mean, so slow drift of a noisy machine falls on both sides of each ratio.
pub fn throughput(
    ctx: &Ctx,
    workload: Workload,
    tracers: &[Tracer],
    pairs: usize,
    run: Duration,
) -> Result<Throughput> {
    let mut series: Vec<Series> = tracers
        .iter()
        .map(|&tracer| Series {
            tracer,
            pairs: Vec::new(),
        })
        .collect();
    for round in 0..pairs {
        let (mut untraced, _) = workload.run(ctx, run)?;
        for s in &mut series {
            let traced = traced(ctx, s.tracer, workload.comm(), || workload.run(ctx, run))?;
            let (untraced_after, _) = workload.run(ctx, run)?;
            let pair = Pair {
                untraced,
                traced,
                untraced_after,
            };
            let steady = pair
                .steady_ratio()
                .map(|r| format!("  steady ×{r:.3}"))
                .unwrap_or_default();
            eprintln!(
                "xtask bench: {} [{}/{pairs}] {:<28} {:>8.0} → {:>8.0} → {:>8.0} exits/s  ×{:.3}{steady}",
                workload.key(),
                round + 1,
                s.tracer.name(),
                pair.untraced.rate,
                pair.traced.load.rate,
                pair.untraced_after.rate,
                pair.ratio(),
            );
            untraced = pair.untraced_after.clone();
            s.pairs.push(pair);
        }
    }
    Ok(Throughput {
        workload,
        run,
        series,
    })
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
