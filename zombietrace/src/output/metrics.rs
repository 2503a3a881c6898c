//! Prometheus metrics (OpenMetrics text, `zombietrace serve`): a consumer of the event pipeline
//! that counts events as they come and, on the tick, sets the gauges from the pipeline's state.
//! Names follow Prometheus' conventions; labels are bounded: `how` and `reason` are fixed
//! sets, and per-parent series are the top `--top` parent commands by outstanding zombies, the
//! rest summed as `parent_comm="other"`. No pid is ever a label. The contract is docs/metrics.md.

use std::{
    collections::{BTreeMap, HashSet},
    sync::atomic::AtomicU64,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

use crate::{
    kernel::loader::Counters,
    output::escape::escape,
    pipeline::{
        Consumer, View,
        event::{Event, LeakReason, ReapKind},
        summary::Summary,
    },
};

/// How often the per-parent gauges are rebuilt (the counters are always current).
const REFRESH_NS: u64 = 1_000_000_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct How {
    how: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Map {
    map: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: String,
    commit: String,
    kernel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct ParentLabels {
    parent_comm: String,
    workload: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type Durations = Family<How, Histogram, fn() -> Histogram>;

/// Bucket bounds of the zombie-time histogram: 10 µs to 100 s, three a decade (1, 2.5, 5), so
/// that every bound prints as the round number it is.
pub const DURATION_BUCKETS: [f64; 22] = [
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0,
];

fn durations() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// What the per-parent gauges say of one (command, workload).
#[derive(Default)]
struct Group {
    outstanding: i64,
    oldest_ns: u64,
    leaking: i64,
}

pub struct Metrics {
    top: usize,
    zombies: Counter,
    reaps: Family<How, Counter>,
    durations: Durations,
    /// The phases of wait-based reaps: asking (calling wait late) and waking (running late).
    ask: Histogram,
    wake: Histogram,
    outstanding: Gauge,
    oldest: FloatGauge,
    parent_outstanding: Family<ParentLabels, Gauge>,
    parent_oldest: Family<ParentLabels, FloatGauge>,
    leaking: Gauge,
    parent_leaking: Family<ParentLabels, Gauge>,
    leak_episodes: Family<Reason, Counter>,
    lost: Counter,
    map_refusals: Family<Map, Counter>,
    read_failures: Counter,
    decode_errors: Counter,
    lines_dropped: Counter,
    /// What the kernel and the run had counted at the last tick (their counters only grow).
    last: (Counters, u64, u64),
    /// The per-parent series shown now, and when they were last rebuilt.
    shown: HashSet<ParentLabels>,
    refreshed_ns: u64,
}

impl Metrics {
    /// Registers every metric in a new registry; `top` parent commands get series of their own.
    pub fn new(top: usize, kernel_release: &str) -> (Metrics, Registry) {
        let mut r = Registry::with_prefix("zombietrace");
        let m = Metrics {
            top,
            zombies: Counter::default(),
            reaps: Family::default(),
            durations: Family::new_with_constructor(durations),
            ask: durations(),
            wake: durations(),
            outstanding: Gauge::default(),
            oldest: FloatGauge::default(),
            parent_outstanding: Family::default(),
            parent_oldest: Family::default(),
            leaking: Gauge::default(),
            parent_leaking: Family::default(),
            leak_episodes: Family::default(),
            lost: Counter::default(),
            map_refusals: Family::default(),
            read_failures: Counter::default(),
            decode_errors: Counter::default(),
            lines_dropped: Counter::default(),
            last: (Counters::default(), 0, 0),
            shown: HashSet::new(),
            refreshed_ns: 0,
        };
        r.register(
            "zombies",
            "Processes that became zombies",
            m.zombies.clone(),
        );
        r.register("reaps", "Zombies released, by how", m.reaps.clone());
        r.register_with_unit(
            "zombie_duration",
            "Time from exit to reap, by how",
            Unit::Seconds,
            m.durations.clone(),
        );
        r.register_with_unit(
            "reap_ask",
            "Wait-based reaps: from when the parent could reap until it called wait (asked late)",
            Unit::Seconds,
            m.ask.clone(),
        );
        r.register_with_unit(
            "reap_wake",
            "Wait-based reaps: from the later of the zombie and the wait call until it returned \
             (ran late)",
            Unit::Seconds,
            m.wake.clone(),
        );
        r.register(
            "zombies_outstanding",
            "Zombies not yet reaped",
            m.outstanding.clone(),
        );
        r.register_with_unit(
            "oldest_zombie_age",
            "Age of the oldest zombie not yet reaped (0 when none)",
            Unit::Seconds,
            m.oldest.clone(),
        );
        r.register(
            "parent_zombies_outstanding",
            "Zombies not yet reaped, by parent command (top N, the rest as other)",
            m.parent_outstanding.clone(),
        );
        r.register_with_unit(
            "parent_oldest_zombie_age",
            "Age of the oldest zombie not yet reaped, by parent command",
            Unit::Seconds,
            m.parent_oldest.clone(),
        );
        r.register(
            "leaking_parents",
            "Parents leaking zombies now",
            m.leaking.clone(),
        );
        r.register(
            "parent_leaking",
            "Parents leaking zombies now, by parent command",
            m.parent_leaking.clone(),
        );
        r.register(
            "leak_episodes",
            "Leak episodes started, by reason",
            m.leak_episodes.clone(),
        );
        r.register(
            "events_lost",
            "Events the kernel could not queue (ring buffer full)",
            m.lost.clone(),
        );
        r.register(
            "kernel_map_refusals",
            "Inserts the kernel programs' maps refused, by map",
            m.map_refusals.clone(),
        );
        r.register(
            "kernel_read_failures",
            "Kernel memory reads that failed in the programs",
            m.read_failures.clone(),
        );
        r.register(
            "decode_errors",
            "Malformed records from the kernel",
            m.decode_errors.clone(),
        );
        r.register(
            "log_lines_dropped",
            "Log lines (stderr) dropped because stderr did not keep up",
            m.lines_dropped.clone(),
        );
        // An info metric as Prometheus' text format knows it: a gauge at 1.
        let build: Family<Build, Gauge> = Family::default();
        build
            .get_or_create(&Build {
                version: env!("CARGO_PKG_VERSION").to_string(),
                commit: option_env!("ZOMBIETRACE_GIT_COMMIT")
                    .unwrap_or("unknown")
                    .to_string(),
                kernel: kernel_release.to_string(),
            })
            .set(1);
        r.register(
            "build_info",
            "The build (version, git commit) and the running kernel's release; always 1",
            build,
        );
        // Every reap kind and leak reason is a series from the start (at 0).
        for kind in ReapKind::ALL {
            let how = How { how: kind.name() };
            let _ = m.reaps.get_or_create(&how);
            let _ = m.durations.get_or_create(&how);
        }
        for reason in [LeakReason::Old, LeakReason::Growing] {
            let _ = m.leak_episodes.get_or_create(&Reason {
                reason: reason.name(),
            });
        }
        for map in ["parents", "wait_calls"] {
            let _ = m.map_refusals.get_or_create(&Map { map });
        }
        (m, r)
    }

    /// Brings a counter up to `now` (the kernel's and the run's counts only grow).
    fn advance(counter: &Counter, before: u64, now: u64) {
        if now > before {
            counter.inc_by(now - before);
        }
    }

    fn refresh_parents(&mut self, view: &View<'_>) {
        let mut groups: BTreeMap<ParentLabels, Group> = BTreeMap::new();
        let mut leaking = 0;
        for p in view.parents.live() {
            let is_leaking = p.leaking.is_some() as i64;
            leaking += is_leaking;
            if p.outstanding.is_empty() && is_leaking == 0 {
                continue;
            }
            let g = groups
                .entry(ParentLabels {
                    // What a process controls, escaped as in every output (a scrape may be read
                    // in a terminal).
                    parent_comm: escape(&p.comm).into_owned(),
                    workload: escape(
                        &p.cgroup
                            .as_ref()
                            .and_then(|c| c.short())
                            .unwrap_or_default(),
                    )
                    .into_owned(),
                })
                .or_default();
            g.outstanding += p.outstanding.len() as i64;
            g.leaking += is_leaking;
            if let Some(t) = p.oldest_ns() {
                g.oldest_ns = g.oldest_ns.max(view.now_ns.saturating_sub(t));
            }
        }
        self.leaking.set(leaking);
        // The top N by outstanding zombies (then by command, for a stable choice); the rest
        // summed under `other`.
        let mut ranked: Vec<(ParentLabels, Group)> = groups.into_iter().collect();
        ranked.sort_by(|a, b| b.1.outstanding.cmp(&a.1.outstanding).then(a.0.cmp(&b.0)));
        let mut other = Group::default();
        let mut shown = HashSet::new();
        for (i, (labels, g)) in ranked.into_iter().enumerate() {
            if i >= self.top {
                other.outstanding += g.outstanding;
                other.leaking += g.leaking;
                other.oldest_ns = other.oldest_ns.max(g.oldest_ns);
                continue;
            }
            self.set_group(&labels, &g);
            shown.insert(labels);
        }
        if other.outstanding > 0 || other.leaking > 0 {
            let labels = ParentLabels {
                parent_comm: "other".into(),
                workload: String::new(),
            };
            self.set_group(&labels, &other);
            shown.insert(labels);
        }
        for gone in self.shown.difference(&shown) {
            self.parent_outstanding.remove(gone);
            self.parent_oldest.remove(gone);
            self.parent_leaking.remove(gone);
        }
        self.shown = shown;
    }

    fn set_group(&self, labels: &ParentLabels, g: &Group) {
        self.parent_outstanding
            .get_or_create(labels)
            .set(g.outstanding);
        self.parent_oldest
            .get_or_create(labels)
            .set(g.oldest_ns as f64 / 1e9);
        self.parent_leaking.get_or_create(labels).set(g.leaking);
    }
}

impl Consumer for Metrics {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Zombie(_) => {
                self.zombies.inc();
            }
            Event::Reap(r) => {
                let how = How { how: r.kind.name() };
                self.reaps.get_or_create(&how).inc();
                self.durations
                    .get_or_create(&how)
                    .observe(r.zombie_ns as f64 / 1e9);
                if let (Some(ask), Some(wake)) = (r.phases.ask_ns, r.phases.wake_ns) {
                    self.ask.observe(ask as f64 / 1e9);
                    self.wake.observe(wake as f64 / 1e9);
                }
            }
            Event::Leak(l) => {
                self.leak_episodes
                    .get_or_create(&Reason {
                        reason: l.reason.name(),
                    })
                    .inc();
            }
            Event::LeakEnd(_) | Event::Lost(_) | Event::ParentGone(_) | Event::Adopted(_) => {}
        }
    }

    fn tick(&mut self, view: &View<'_>) {
        let (before, decode_before, dropped_before) = self.last;
        let now = view.counters;
        Self::advance(&self.lost, before.lost, now.lost);
        Self::advance(
            &self.map_refusals.get_or_create(&Map { map: "parents" }),
            before.parent_map_full,
            now.parent_map_full,
        );
        Self::advance(
            &self.map_refusals.get_or_create(&Map { map: "wait_calls" }),
            before.wait_map_full,
            now.wait_map_full,
        );
        Self::advance(&self.read_failures, before.read_failed, now.read_failed);
        Self::advance(
            &self.decode_errors,
            decode_before,
            view.counts.decode_errors,
        );
        Self::advance(
            &self.lines_dropped,
            dropped_before,
            view.counts.lines_dropped,
        );
        self.last = (now, view.counts.decode_errors, view.counts.lines_dropped);
        self.outstanding.set(view.tracker.open_count() as i64);
        self.oldest.set(
            view.tracker
                .oldest_ts()
                .map_or(0.0, |t| view.now_ns.saturating_sub(t) as f64 / 1e9),
        );
        if view.now_ns >= self.refreshed_ns + REFRESH_NS {
            self.refreshed_ns = view.now_ns;
            self.refresh_parents(view);
        }
    }

    fn finish(&mut self, _summary: &Summary) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
