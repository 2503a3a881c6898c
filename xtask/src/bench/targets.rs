//! The targets, judged from what the bench measured: met or missed.

use serde_json::{Value, json};

use super::{
    report::{Results, int, mib, opt},
    tracer::Tracer,
};

pub struct Target {
    pub what: String,
    pub measured: String,
    pub goal: String,
    pub met: bool,
}

impl Target {
    pub fn to_json(&self) -> Value {
        json!({"target": self.what, "measured": self.measured, "goal": self.goal, "met": self.met})
    }
}

pub fn targets(r: &Results) -> Vec<Target> {
    let mut out = Vec::new();
    for t in &r.throughput {
        for s in &t.series {
            let (goal, min) = if s.tracer.writes_every_event() && s.tracer != Tracer::ZtNull {
                ("≥ 0.90 (aim 0.93)", 0.90)
            } else if s.tracer.aggregates() {
                ("≥ 0.97", 0.97)
            } else {
                continue;
            };
            // The steady ratio where the load reports windows (see `Pair::steady_ratio`).
            let (by, ratio) = match s.steady_ratio() {
                Some(steady) => ("steady ", steady),
                None => ("", s.ratio()),
            };
            out.push(Target {
                what: format!("{} — {}", s.tracer.name(), t.workload.key()),
                measured: format!("{by}{:.3} ({})", ratio.median, ratio.range()),
                goal: goal.into(),
                met: ratio.median >= min,
            });
        }
    }
    if let Some(s) = &r.stress {
        let lost = s.traced.lost();
        out.push(Target {
            what: format!("lost events, stress-ng --vfork 2 for {} s", s.secs),
            measured: opt(lost),
            goal: "0".into(),
            met: lost == Some(0),
        });
    }
    if let Some(b) = &r.burst {
        let s = b.seen.summary.as_ref();
        out.push(Target {
            what: format!("aggregates exact, {} exits, slow reader", int(b.load.exits)),
            measured: format!(
                "{}/{} reaped, lost {}",
                opt(s.and_then(|s| s.load_reaped)),
                int(b.load.exits),
                opt(s.map(|s| s.lost))
            ),
            goal: "exact".into(),
            met: b.exact(),
        });
    }
    for s in &r.scale {
        out.push(Target {
            what: format!(
                "peak RSS, {} zombies outstanding — {}",
                int(s.made),
                s.tracer.name()
            ),
            measured: mib(s.stopped.max_rss_kib),
            goal: "≤ 64 MiB".into(),
            met: s.made > 0 && s.stopped.max_rss_kib <= 64 * 1024,
        });
    }
    if let Some(s) = &r.soak {
        let c = &s.check;
        let minutes = s.plan.secs / 60.0;
        out.push(Target {
            what: format!("soak {minutes:.0} min: every exit paired with its own reap"),
            measured: format!(
                "{}/{} ({} wrong, {} missing)",
                int(c.matched),
                int(c.records),
                int(c.mismatched),
                int(c.missing_reaps + c.unexpected_reaps + c.missing_zombies)
            ),
            goal: "all".into(),
            met: c.exact(),
        });
        out.push(Target {
            what: format!("soak {minutes:.0} min: lost events, dropped lines"),
            measured: format!("{}, {}", opt(s.lost()), int(s.dropped())),
            goal: "0, 0".into(),
            met: s.lost() == Some(0) && s.dropped() == 0,
        });
        out.push(Target {
            what: format!("soak {minutes:.0} min: exits/s sustained"),
            measured: int(s.rate() as u64),
            goal: "≥ 9,500".into(),
            met: s.rate() >= 9_500.0,
        });
        let slope = s.rss_slope(0.5);
        out.push(Target {
            what: format!("soak {minutes:.0} min: collector VmRSS slope, second half"),
            measured: format!("{} KiB/min", super::soakreport::signed(slope)),
            goal: "≤ 16 KiB/min".into(),
            met: slope <= 16.0,
        });
    }
    for (tracer, t) in &r.cost {
        out.push(Target {
            what: format!("CPU at 10,000 exits/s — {}", tracer.name()),
            measured: format!(
                "{:.1}% ({:.1}% at {}/s)",
                t.cpu_share_at_10k() * 100.0,
                t.cpu_share() * 100.0,
                int(t.load.rate as u64)
            ),
            goal: "≤ 10% of a core".into(),
            met: t.cpu_share_at_10k() <= 0.10,
        });
    }
    out
}

/// The default mode (`zombietrace`, text to a file) against the untraced fork throughput, per
/// workload: what a user who just runs it pays.
pub fn default_mode(r: &Results) -> Vec<Value> {
    r.throughput
        .iter()
        .filter_map(|t| {
            let s = t.series.iter().find(|s| s.tracer == Tracer::ZtText)?;
            Some(json!({
                "workload": t.workload.key(),
                "ratio": s.ratio().to_json(),
                "steady_ratio": s.steady_ratio().map(|r| r.to_json()),
                "untraced_per_s": s.untraced_rate().median,
                "traced_per_s": s.traced_rate().median,
                "pairs": s.pairs.len(),
            }))
        })
        .collect()
}

pub fn print_default_mode(r: &Results) {
    println!();
    println!(
        "Default mode (`{}`) against untraced fork throughput (traced / untraced, median of \
         the pairs):",
        Tracer::ZtText.name()
    );
    let mut any = false;
    for t in &r.throughput {
        let Some(s) = t.series.iter().find(|s| s.tracer == Tracer::ZtText) else {
            continue;
        };
        let ratio = s.ratio();
        let steady = s
            .steady_ratio()
            .map(|r| format!(", steady {:.3} ({})", r.median, r.range()))
            .unwrap_or_default();
        println!(
            "  {:<55} {:.3} ({:.3}–{:.3}{steady}; {} pairs): {}/s untraced, {}/s traced",
            t.workload.name(),
            ratio.median,
            ratio.min,
            ratio.max,
            s.pairs.len(),
            int(s.untraced_rate().median as u64),
            int(s.traced_rate().median as u64)
        );
        any = true;
    }
    if !any {
        println!("  not measured (no throughput case ran it)");
    }
}

pub fn print_targets(targets: &[Target]) {
    println!();
    println!("Targets");
    println!("{:<62} {:>26} {:>18}  result", "target", "measured", "goal");
    for t in targets {
        println!(
            "{:<62} {:>26} {:>18}  {}",
            t.what,
            t.measured,
            t.goal,
            if t.met { "met" } else { "MISSED" }
        );
    }
}
