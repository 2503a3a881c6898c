//! Interleaved A/B throughput runs: for each pair, the load alone, then the same load under a
//! collector (their arithmetic is in `pairs.rs`).

use std::{path::PathBuf, time::Duration};

use anyhow::Result;
use serde_json::{Value, json};

use super::{
    pairs::{Pair, Series, Traced},
    parse,
    peers::Tools,
    spread::Spread,
    tracer::{self, Tracer},
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
