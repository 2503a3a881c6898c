//! What the soak measured: its JSON record, its table, and the least-squares slope of the
//! collector's VmRSS.

use serde_json::{Value, json};

use super::{
    report::{int, mib, opt},
    soak::Plan,
    soakcheck::Checker,
    tracer::Stopped,
};

pub struct Soak {
    pub plan: Plan,
    /// Processes the workload made and reaped (children and parents), over its own window.
    pub records: u64,
    pub load_secs: f64,
    pub parents: u64,
    pub wraps: u64,
    /// The workload's CPU (it and everything it forked), seconds.
    pub load_cpu_secs: f64,
    /// (seconds since the load started, VmRSS KiB).
    pub rss: Vec<(f64, u64)>,
    pub hwm_kib: u64,
    /// The collector's CPU while the load ran, and the bench's own (the checker), seconds.
    pub tracer_cpu_secs: f64,
    pub checker_cpu_secs: f64,
    /// 1-minute load average, sampled once a minute and at the end.
    pub loadavg: Vec<f64>,
    pub stopped: Stopped,
    pub check: Checker,
}

/// Least-squares slope of `y` over `x`.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

impl Soak {
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.load_secs.max(1e-9)
    }

    /// VmRSS slope in KiB per minute over the samples from `from` (a fraction of the run) on.
    pub fn rss_slope(&self, from: f64) -> f64 {
        let start = self.rss.last().map_or(0.0, |l| l.0) * from;
        let points: Vec<(f64, f64)> = self
            .rss
            .iter()
            .filter(|(t, _)| *t >= start)
            .map(|&(t, kib)| (t / 60.0, kib as f64))
            .collect();
        slope(&points)
    }

    pub fn rss_at(&self, first: bool) -> u64 {
        let sample = if first {
            self.rss.first()
        } else {
            self.rss.last()
        };
        sample.map_or(0, |s| s.1)
    }

    pub fn rss_peak(&self) -> u64 {
        self.rss.iter().map(|s| s.1).max().unwrap_or(0)
    }

    /// Lost in the kernel (the summary's count, else the last `lost` line's total).
    pub fn lost(&self) -> Option<u64> {
        let summary = self.check.summary.as_ref()?;
        Some(summary["lost"].as_u64()?.max(self.check.lost))
    }

    pub fn dropped(&self) -> u64 {
        let summary = self.check.summary.as_ref();
        let dropped = summary.and_then(|s| s["lines_dropped"].as_u64());
        dropped.unwrap_or(0).max(self.check.dropped)
    }

    pub fn to_json(&self) -> Value {
        let s = self.check.summary.as_ref();
        let field = |k: &str| s.map_or(Value::Null, |s| s[k].clone());
        json!({
            "plan": {
                "secs": self.plan.secs, "rate": self.plan.rate, "slots": self.plan.slots,
                "batch": self.plan.batch, "rss_sample_secs": self.plan.sample.as_secs_f64(),
            },
            "processes": self.records,
            "load_secs": self.load_secs,
            "exits_per_sec": self.rate(),
            "parents": self.parents,
            "pid_wraps": self.wraps,
            "load_cpu_share_of_one_core": self.load_cpu_secs / self.load_secs.max(1e-9),
            "check": self.check.to_json(),
            "exact": self.check.exact(),
            "lost": self.lost(),
            "lines_dropped": self.dropped(),
            "summary": {
                "events": field("events"), "zombies": field("zombies"), "reaped": field("reaped"),
                "parent_map_full": field("parent_map_full"), "wait_map_full": field("wait_map_full"),
                "read_failed": field("read_failed"), "vanished": field("vanished"),
                "unmatched_waits": field("unmatched_waits"), "decode_errors": field("decode_errors"),
                "outstanding": s.and_then(|s| s["outstanding"].as_array()).map(Vec::len),
            },
            "rss_kib_start": self.rss_at(true),
            "rss_kib_end": self.rss_at(false),
            "rss_kib_peak": self.rss_peak(),
            "vmhwm_kib": self.hwm_kib,
            "rss_slope_kib_per_min": self.rss_slope(0.0),
            "rss_slope_kib_per_min_second_half": self.rss_slope(0.5),
            "rss_samples": self.rss,
            "tracer_cpu_share_of_one_core": self.tracer_cpu_secs / self.load_secs.max(1e-9),
            "checker_cpu_share_of_one_core": self.checker_cpu_secs / self.load_secs.max(1e-9),
            "loadavg_per_minute": self.loadavg,
            "tracer_cpu_total_secs": self.stopped.cpu_secs,
            "tracer_max_rss_kib": self.stopped.max_rss_kib,
        })
    }
}

/// +1.2, -0.3, 0.0 (no sign on what rounds to zero).
pub fn signed(x: f64) -> String {
    if x.abs() < 0.05 {
        "0.0".into()
    } else {
        format!("{x:+.1}")
    }
}

pub fn print_soak(s: &Soak) {
    let c = &s.check;
    println!();
    println!(
        "Soak — zombietrace --json | checker, {:.0} min: {} parents at a time, {} children each, \
         {} exits/s scheduled",
        s.plan.secs / 60.0,
        s.plan.slots,
        s.plan.batch,
        int(u64::from(s.plan.rate))
    );
    println!(
        "  load: {} processes in {:.0} s = {} exits/s; {} parents; pids wrapped {} times ({} \
         reuses of {} pids); workload {:.0}% of a core",
        int(s.records),
        s.load_secs,
        int(s.rate() as u64),
        int(s.parents),
        s.wraps,
        int(c.reused_pids),
        int(c.distinct_pids),
        s.load_cpu_secs / s.load_secs.max(1e-9) * 100.0
    );
    println!(
        "  paired: {} of {} agree; mismatched {}, reap missing {}, zombie line missing {}, \
         unexpected {} → {}",
        int(c.matched),
        int(c.records),
        int(c.mismatched),
        int(c.missing_reaps),
        int(c.missing_zombies),
        int(c.unexpected_reaps),
        if c.exact() { "EXACT" } else { "NOT exact" }
    );
    for (reason, n) in &c.reasons {
        println!("    {reason}: {}", int(*n));
    }
    for example in c.examples.iter().take(3) {
        println!("    e.g. {example}");
    }
    println!(
        "  lost (kernel): {}; lines dropped: {}; fork failures {}",
        opt(s.lost()),
        int(s.dropped()),
        int(c.fork_failures)
    );
    println!(
        "  collector VmRSS (every {:.0} s): {} at start, {} at end, peak {} (VmHWM {}, start-up \
         included); slope {} KiB/min (second half {}); CPU {:.1}% of a core; checker {:.1}%; \
         load average {}",
        s.plan.sample.as_secs_f64(),
        mib(s.rss_at(true)),
        mib(s.rss_at(false)),
        mib(s.rss_peak()),
        mib(s.hwm_kib),
        signed(s.rss_slope(0.0)),
        signed(s.rss_slope(0.5)),
        s.tracer_cpu_secs / s.load_secs.max(1e-9) * 100.0,
        s.checker_cpu_secs / s.load_secs.max(1e-9) * 100.0,
        s.loadavg
            .iter()
            .map(|l| format!("{l:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn slope_is_least_squares() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
        assert!((super::slope(&line) - 3.0).abs() < 1e-9);
        let flat = [(0.0, 5.0), (1.0, 6.0), (2.0, 5.0), (3.0, 6.0)];
        assert!((super::slope(&flat) - 0.2).abs() < 1e-9);
        assert_eq!(super::slope(&[(1.0, 1.0)]), 0.0);
        assert_eq!(super::signed(-8e-27), "0.0");
        assert_eq!(super::signed(2.26), "+2.3");
        assert_eq!(super::signed(-0.5), "-0.5");
    }
}
