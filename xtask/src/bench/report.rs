//! Tables on stdout, the targets met or missed, and the JSON record under target/bench/.

use std::{
    fs,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use super::{
    measure::Throughput,
    pairs::Traced,
    scenarios::{Burst, Scale, Stress},
    soakreport::Soak,
    targets::{Target, default_mode, targets},
    tracer::Tracer,
};

/// Everything one bench run measured.
#[derive(Default)]
pub struct Results {
    pub throughput: Vec<Throughput>,
    pub cost: Vec<(Tracer, Traced)>,
    pub burst: Option<Burst>,
    pub scale: Vec<Scale>,
    pub stress: Option<Stress>,
    pub soak: Option<Soak>,
    /// Sections that failed, with why.
    pub errors: Vec<String>,
}

/// 12,345
pub fn int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn opt(n: Option<u64>) -> String {
    n.map_or("-".into(), int)
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn print_throughput(t: &Throughput, pairs: usize) {
    println!();
    println!(
        "Throughput — {} — {pairs} rounds of {:.1} s runs, untraced/traced/untraced \
         (ratio = traced / mean of the untraced runs either side)",
        t.workload.name(),
        t.run.as_secs_f64()
    );
    println!(
        "{:<28} {:>10} {:>10} {:>7} {:>13} {:>7} {:>13} {:>9} {:>9} {:>6} {:>6} {:>9}",
        "collector",
        "untraced/s",
        "traced/s",
        "ratio",
        "min–max",
        "steady",
        "min–max",
        "exits",
        "seen",
        "lost",
        "cpu",
        "max RSS"
    );
    for s in &t.series {
        let r = s.ratio();
        let a = s.accounting();
        // For exitsnoop and bpftrace: the exit lines of the load's children.
        let seen = if s.tracer.is_zombietrace() {
            match (a.seen, a.seen_whole_machine) {
                (Some(n), _) => int(n),
                (None, Some(all)) => format!("{}*", int(all)),
                (None, None) => "-".into(),
            }
        } else if s.tracer == Tracer::BpftraceCount {
            "(all)".into()
        } else {
            int(s.pairs.iter().map(|p| p.traced.seen.exits).sum())
        };
        let (steady, steady_range) = match s.steady_ratio() {
            Some(r) => (format!("{:.3}", r.median), r.range()),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<28} {:>10} {:>10} {:>7.3} {:>13} {:>7} {:>13} {:>9} {:>9} {:>6} {:>5.1}% {:>9}",
            s.tracer.name(),
            int(s.untraced_rate().median as u64),
            int(s.traced_rate().median as u64),
            r.median,
            r.range(),
            steady,
            steady_range,
            int(a.expected),
            seen,
            opt(a.lost),
            s.cpu_share().median * 100.0,
            mib(s.max_rss_kib()),
        );
    }
    println!(
        "  exits: made by the load in the traced runs; seen: zombietrace's reaps of them (per-event \
         lines, or the summary's per-parent counts; *: the summary's reaped for the whole machine, \
         as --min-zombie keeps no per-parent counts), the peers' exit lines; lost: the summary's; \
         cpu: the collector's CPU while the load ran, share of one core (median)"
    );
    let (noise, steady_noise) = t.untraced_noise();
    match steady_noise {
        Some(steady) => println!(
            "  ratio: of the runs' mean rates; steady: of their steady rates (each run's fastest \
             tenth of 100 ms windows: other work on the machine only slows the loop, in bursts, \
             while a tracer's cost is in every window), which the targets judge. Noise (A/A: the \
             untraced runs around each traced one, median gap): {:.1}% by mean rate, {:.1}% by \
             steady rate",
            noise * 100.0,
            steady * 100.0
        ),
        None => println!(
            "  Noise (A/A: the untraced runs around each traced one, median gap): {:.1}%",
            noise * 100.0
        ),
    }
}

pub fn print_cost(cost: &[(Tracer, Traced)]) {
    println!();
    println!("Collector cost — spawn storm --rate 10000 --parents 2 (unpinned)");
    println!(
        "{:<28} {:>9} {:>10} {:>9} {:>9} {:>10} {:>9} {:>9} {:>6} {:>9} {:>11}",
        "collector",
        "exits/s",
        "cpu (load)",
        "% core",
        "@10k/s",
        "cpu total",
        "exits",
        "seen",
        "lost",
        "max RSS",
        "kernel/exit"
    );
    for (tracer, t) in cost {
        println!(
            "{:<28} {:>9} {:>9.2}s {:>8.1}% {:>8.1}% {:>9.2}s {:>9} {:>9} {:>6} {:>9} {:>11}",
            tracer.name(),
            int(t.load.rate as u64),
            t.cpu_load_secs,
            t.cpu_share() * 100.0,
            t.cpu_share_at_10k() * 100.0,
            t.stopped.cpu_secs,
            int(t.load.exits),
            opt(t.seen_reaps(*tracer)),
            opt(t.lost()),
            mib(t.stopped.max_rss_kib),
            t.bpf_ns_per_exit()
                .map_or("-".into(), |ns| format!("{ns:.0} ns")),
        );
    }
    println!(
        "  cpu (load): the collector's CPU while the storm ran; @10k/s: the same per 10,000 exits \
         (its share of a core at exactly 10,000 exits/s, if the storm fell short); kernel/exit: \
         its eBPF programs' run time per exit (kernel.bpf_stats_enabled), billed to the traced \
         processes, not to the collector"
    );
}

pub fn print_burst(b: &Burst) {
    let s = b.seen.summary.as_ref();
    println!();
    println!(
        "Burst — {} exits by 2 parents as fast as they go, zombietrace --json | reader taking 4 KiB \
         every 10 ms",
        int(b.load.exits)
    );
    println!(
        "  load: {:.1} s, {} exits/s",
        b.load.secs,
        int(b.load.rate as u64)
    );
    println!(
        "  summary, the 2 parents: {} zombies, {} reaped (expected {} each) → aggregates {}",
        opt(s.and_then(|s| s.load_zombies)),
        opt(s.and_then(|s| s.load_reaped)),
        int(b.load.exits),
        if b.exact() { "EXACT" } else { "NOT exact" }
    );
    println!(
        "  per-event lines of them: {} zombie, {} reap; lost (kernel): {}; summary events {}",
        int(b.seen.exits),
        int(b.seen.reaps),
        opt(s.map(|s| s.lost)),
        opt(s.map(|s| s.events)),
    );
    println!(
        "  reader: {} during the load, {} in all; collector CPU {:.2} s during the load, {:.2} s \
         total, max RSS {}, SIGINT → exit {:.2} s",
        int(b.slow_bytes),
        int(b.bytes),
        b.cpu_load_secs,
        b.stopped.cpu_secs,
        mib(b.stopped.max_rss_kib),
        b.stopped.stop_secs
    );
}

pub fn print_scale(scale: &[Scale]) {
    println!();
    println!(
        "Scale — spawners × spawn never --children N --subreaper, all held at once, then SIGTERM"
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>10} {:>9} {:>8} {:>7} {:>7} {:>12}",
        "collector",
        "zombies",
        "seen",
        "reaped",
        "RSS held",
        "max RSS",
        "cpu",
        "make",
        "reap",
        "reap→summary"
    );
    for s in scale {
        let seen = match s.tracer {
            Tracer::ZtReport | Tracer::ZtReportProbe => {
                s.seen.summary.as_ref().and_then(|x| x.load_zombies)
            }
            _ => Some(s.seen.exits),
        };
        let reaped = match s.tracer {
            Tracer::ZtReport | Tracer::ZtReportProbe => {
                s.seen.summary.as_ref().and_then(|x| x.load_reaped)
            }
            _ => Some(s.seen.reaps),
        };
        println!(
            "{:<28} {:>9} {:>9} {:>9} {:>10} {:>9} {:>7.2}s {:>6.1}s {:>6.1}s {:>11.2}s",
            s.tracer.name(),
            int(s.made),
            opt(seen),
            opt(reaped),
            mib(s.rss_held_kib.0),
            mib(s.stopped.max_rss_kib),
            s.stopped.cpu_secs,
            s.make_secs,
            s.reap_secs,
            s.last_reap_to_summary_secs,
        );
    }
    println!(
        "  seen/reaped: zombietrace's zombie and reap lines for the spawners' children (report: the \
         summary's per-parent counts); reap→summary: last spawner gone → SIGINT → summary written"
    );
}

pub fn print_stress(s: &Stress) {
    let sum = s.traced.seen.summary.as_ref();
    println!();
    println!(
        "stress-ng --vfork 2 --timeout {}s under zombietrace --json > file",
        s.secs
    );
    println!(
        "  bogo ops {}; zombietrace: {} events, {} zombies, {} reaped, lost {}; collector {:.1}% of \
         a core, max RSS {}",
        int(s.bogo_ops),
        opt(sum.map(|x| x.events)),
        opt(sum.map(|x| x.zombies)),
        opt(sum.map(|x| x.reaped)),
        opt(sum.map(|x| x.lost)),
        s.traced.cpu_share() * 100.0,
        mib(s.traced.stopped.max_rss_kib),
    );
}

/// UTC `YYYYmmddTHHMMSSZ` (days to civil date: Howard Hinnant's algorithm).
pub fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Writes `target/bench/<stamp>.json` and `target/bench/latest.json`.
pub fn write_json(dir: &Path, stamp: &str, head: Value, r: &Results) -> Result<PathBuf> {
    let mut doc = head;
    doc["throughput"] = r.throughput.iter().map(Throughput::to_json).collect();
    doc["cost_10k"] = r
        .cost
        .iter()
        .map(|(tracer, t)| {
            let mut v = t.to_json(*tracer);
            v["tracer"] = json!(tracer.key());
            v
        })
        .collect();
    doc["burst"] = r.burst.as_ref().map_or(Value::Null, Burst::to_json);
    doc["scale"] = r.scale.iter().map(Scale::to_json).collect();
    doc["stress"] = r.stress.as_ref().map_or(Value::Null, Stress::to_json);
    doc["soak"] = r.soak.as_ref().map_or(Value::Null, Soak::to_json);
    doc["targets"] = targets(r).iter().map(Target::to_json).collect();
    doc["default_mode"] = json!(default_mode(r));
    doc["errors"] = json!(r.errors);
    let text = serde_json::to_string_pretty(&doc)?;
    let path = dir.join(format!("{stamp}.json"));
    fs::write(&path, &text).with_context(|| format!("writing {path:?}"))?;
    fs::write(dir.join("latest.json"), &text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_thousands() {
        assert_eq!(super::int(0), "0");
        assert_eq!(super::int(999), "999");
        assert_eq!(super::int(1000), "1,000");
        assert_eq!(super::int(1_234_567), "1,234,567");
    }

    #[test]
    fn timestamp_is_compact_utc() {
        let t = super::timestamp();
        assert_eq!(t.len(), 16);
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
