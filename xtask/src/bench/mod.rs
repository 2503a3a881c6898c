//! `cargo xtask bench`: zombietrace's cost against exitsnoop and bpftrace.
//!
//! As root: installs the peers if missing, builds the release binary, then measures
//! - throughput, interleaved A B A B … A (untraced, traced, untraced …; each traced run against
//!   the mean of the untraced runs either side): the bench's own fork
//!   loop pinned to CPU 0, two such loops unpinned (both CPUs loaded), and `spawn storm` pinned,
//!   under each zombietrace output mode, exitsnoop and bpftrace;
//! - the collector's CPU at 10,000 exits/s;
//! - a 100,000-exit burst with a slow stdout reader (are the aggregates still exact?);
//! - 20,000 zombies outstanding at once (peak RSS, CPU, time to the summary);
//! - `stress-ng --vfork 2` (events lost);
//! - only when asked (`--only soak`): the soak, 30 minutes (`--quick`: 3, `--soak-minutes N`) at
//!   ~10,000 exits/s with parents that come and go and pids wrapping around pid_max: every exit
//!   paired with the right reap, nothing lost, the collector's RSS slope.
//!
//! Prints a table per case, the targets met or missed and the default mode's ratio against the
//! untraced fork throughput; writes everything to
//! `target/bench/<timestamp>.json` and `target/bench/latest.json`.

mod measure;
mod pairs;
mod parse;
mod peers;
mod report;
mod scenarios;
mod scrape;
mod soak;
mod soakcheck;
mod soakreport;
mod spread;
mod targets;
mod tracer;
mod workload;

use std::{fs, time::Duration, time::Instant};

use anyhow::{Result, bail};
use serde_json::json;

use crate::cmd::{self, root};
use measure::{Ctx, Workload};
use report::Results;
use tracer::Tracer;

/// How much of everything: the default run (~10 minutes) or `--quick` (~2 minutes).
struct Plan {
    run: Duration,
    /// (workload, A/B pairs, collectors)
    throughput: Vec<(Workload, usize, Vec<Tracer>)>,
    cost_run: Duration,
    cost_tracers: Vec<Tracer>,
    burst_per_parent: u64,
    scale_tracers: Vec<Tracer>,
    scale_spawners: usize,
    stress_secs: u64,
    soak: soak::Plan,
}

const ALL: [Tracer; 8] = [
    Tracer::ZtText,
    Tracer::ZtNull,
    Tracer::ZtJson,
    Tracer::ZtReport,
    Tracer::ZtMinZombie,
    Tracer::ZtServe,
    Tracer::Exitsnoop,
    Tracer::BpftracePrint,
];

impl Plan {
    fn new(quick: bool, soak_minutes: Option<f64>) -> Plan {
        let soak = soak::Plan::new(soak_minutes.unwrap_or(if quick { 3.0 } else { 30.0 }) * 60.0);
        if quick {
            let some = vec![
                Tracer::ZtText,
                Tracer::ZtJson,
                Tracer::ZtReport,
                Tracer::ZtServe,
                Tracer::Exitsnoop,
                Tracer::BpftracePrint,
            ];
            return Plan {
                run: Duration::from_secs(1),
                throughput: vec![
                    (Workload::PinnedLoop, 2, ALL.to_vec()),
                    (Workload::LoadedLoops, 2, some.clone()),
                    (Workload::Storm, 1, some),
                ],
                cost_run: Duration::from_secs(4),
                cost_tracers: vec![Tracer::ZtJson, Tracer::ZtReport, Tracer::ZtReportProbe],
                burst_per_parent: 50_000,
                scale_tracers: vec![Tracer::ZtJson],
                scale_spawners: 20,
                stress_secs: 10,
                soak,
            };
        }
        let mut pinned = ALL.to_vec();
        pinned.push(Tracer::BpftraceCount);
        Plan {
            run: Duration::from_secs(2),
            throughput: vec![
                (Workload::PinnedLoop, 5, pinned),
                (Workload::LoadedLoops, 5, ALL.to_vec()),
                (Workload::Storm, 5, ALL.to_vec()),
            ],
            cost_run: Duration::from_secs(10),
            cost_tracers: vec![
                Tracer::ZtText,
                Tracer::ZtJson,
                Tracer::ZtReport,
                Tracer::ZtReportProbe,
            ],
            burst_per_parent: 50_000,
            scale_tracers: vec![Tracer::ZtJson, Tracer::ZtReport],
            scale_spawners: 20,
            stress_secs: 30,
            soak,
        }
    }
}

/// Wall time of each case, for the JSON record.
struct Laps {
    last: Instant,
    secs: serde_json::Map<String, serde_json::Value>,
}

impl Laps {
    fn lap(&mut self, what: &str) {
        let now = Instant::now();
        self.secs
            .insert(what.into(), json!((now - self.last).as_secs_f64()));
        self.last = now;
    }
}

/// The cases `--only` may name. The soak runs only when named: it takes 30 minutes.
const CASES: [&str; 8] = [
    "loop_pinned",
    "loop_2cpu",
    "storm_pinned",
    "cost_10k",
    "burst",
    "scale",
    "stress",
    "soak",
];

pub fn run(
    quick: bool,
    only: &[String],
    soak_minutes: Option<f64>,
    rounds: Option<usize>,
) -> Result<()> {
    if let Some(bad) = only.iter().find(|c| !CASES.contains(&c.as_str())) {
        bail!("no bench case `{bad}`: choose from {}", CASES.join(", "));
    }
    if soak_minutes.is_some_and(|m| m.is_nan() || m <= 0.0) {
        bail!("--soak-minutes must be more than 0");
    }
    if rounds == Some(0) {
        bail!("--rounds must be at least 1");
    }
    let named = |case: &str| only.iter().any(|c| c == case);
    let wants = |case: &str| (case != "soak" && only.is_empty()) || named(case);
    if !cmd::is_root() {
        bail!("the bench loads eBPF programs (zombietrace, exitsnoop, bpftrace): run it as root");
    }
    let began = Instant::now();
    let stamp = report::timestamp();
    let machine = peers::machine();
    let busy = machine["loadavg_at_start"]
        .as_str()
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    if busy > 1.0 {
        eprintln!(
            "xtask bench: load average {busy:.1} before the bench: others are using the CPUs, \
             expect noisy ratios (compare pairs side by side, not absolute rates)"
        );
    }
    let others = peers::other_bpf_holders();
    let others_note = others.as_array().filter(|a| !a.is_empty()).map(|a| {
        let list: Vec<String> = a
            .iter()
            .map(|o| format!("{} ({})", o["pid"], o["cmdline"].as_str().unwrap_or("")))
            .collect();
        format!(
            "other processes hold eBPF programs: {}; if they trace exits, the \"untraced\" runs \
             are not untraced (ratios then understate every collector's cost)",
            list.join(", ")
        )
    });
    if let Some(note) = &others_note {
        eprintln!("xtask bench: WARNING: {note}");
    }
    let dir = root().join("target/bench");
    let tmp = dir.join("tmp");
    fs::create_dir_all(&tmp)?;
    let tools = peers::ensure(&dir)?;
    let ctx = Ctx { tools, tmp };
    let mut plan = Plan::new(quick, soak_minutes);
    if let Some(rounds) = rounds {
        for (_, pairs, _) in &mut plan.throughput {
            *pairs = rounds;
        }
    }
    let mut r = Results::default();
    let note = |r: &mut Results, what: &str, err: anyhow::Error| {
        eprintln!("xtask bench: {what} failed: {err:#}");
        r.errors.push(format!("{what}: {err:#}"));
    };
    let mut laps = Laps {
        last: Instant::now(),
        secs: serde_json::Map::new(),
    };
    laps.lap("setup");

    for (workload, pairs, tracers) in &plan.throughput {
        if !wants(workload.key()) {
            continue;
        }
        match measure::throughput(&ctx, *workload, tracers, *pairs, plan.run) {
            Ok(t) => {
                report::print_throughput(&t, *pairs);
                r.throughput.push(t);
            }
            Err(err) => note(&mut r, workload.key(), err),
        }
        laps.lap(workload.key());
    }
    if wants("cost_10k") {
        match scenarios::cost(&ctx, &plan.cost_tracers, plan.cost_run) {
            Ok(c) => {
                report::print_cost(&c);
                r.cost = c;
            }
            Err(err) => note(&mut r, "cost at 10,000 exits/s", err),
        }
        laps.lap("cost_10k");
    }
    if wants("burst") {
        match scenarios::burst(&ctx, plan.burst_per_parent) {
            Ok(b) => {
                report::print_burst(&b);
                r.burst = Some(b);
            }
            Err(err) => note(&mut r, "burst", err),
        }
        laps.lap("burst");
    }
    if wants("scale") {
        for &tracer in &plan.scale_tracers {
            match scenarios::scale(&ctx, tracer, plan.scale_spawners, 1000) {
                Ok(s) => r.scale.push(s),
                Err(err) => note(&mut r, &format!("scale ({})", tracer.name()), err),
            }
        }
        if !r.scale.is_empty() {
            report::print_scale(&r.scale);
        }
        laps.lap("scale");
    }
    if wants("stress") {
        match scenarios::stress(&ctx, plan.stress_secs) {
            Ok(s) => {
                report::print_stress(&s);
                r.stress = Some(s);
            }
            Err(err) => note(&mut r, "stress-ng", err),
        }
        laps.lap("stress");
    }
    if wants("soak") {
        match soak::soak(&ctx, plan.soak) {
            Ok(s) => {
                soakreport::print_soak(&s);
                r.soak = Some(s);
            }
            Err(err) => note(&mut r, "soak", err),
        }
        laps.lap("soak");
    }

    let targets = targets::targets(&r);
    targets::print_targets(&targets);
    targets::print_default_mode(&r);
    if let Some(note) = &others_note {
        println!();
        println!("WARNING: {note}");
    }
    let head = json!({
        "timestamp": stamp,
        "quick": quick,
        "rounds": rounds,
        "only": only,
        "elapsed_secs": began.elapsed().as_secs_f64(),
        "loadavg_at_end": fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "sections_secs": laps.secs,
        "machine": machine,
        "other_bpf_holders_at_start": others,
        "other_bpf_holders_at_end": peers::other_bpf_holders(),
        "versions": ctx.tools.versions,
        "run_secs": plan.run.as_secs_f64(),
    });
    let path = report::write_json(&dir, &stamp, head, &r)?;
    println!();
    println!(
        "bench: {:.0} s; JSON in {} (and target/bench/latest.json); the collectors' last outputs \
         are in target/bench/tmp/",
        began.elapsed().as_secs_f64(),
        path.display()
    );
    if !r.errors.is_empty() {
        bail!(
            "{} bench case(s) failed: {}",
            r.errors.len(),
            r.errors.join("; ")
        );
    }
    Ok(())
}
