//! What the view shows, as plain data: made from the pipeline's state (`View`) and the events
//! of the last interval by [`Collector`], drawn by `render.rs` and `detail.rs`. The rendering
//! tests make a [`Model`] by hand.

use std::collections::{HashMap, VecDeque};

use crate::{
    clock::WallClock,
    diagnose::{Diagnosis, label},
    histogram::Histogram,
    pipeline::{
        View,
        event::{Event, LeakReason, ReapKind, Since},
        parents::Parent,
    },
};

/// Samples of a parent's outstanding count kept for its sparkline (one per interval).
pub const HISTORY: usize = 120;
/// A parent's zombies listed in its view at most (the count says how many more).
pub const CHILDREN_SHOWN: usize = 500;

/// The header: the interval's rates, and the state now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Header {
    /// Time of day of the last refresh (`HH:MM:SS`).
    pub time: String,
    pub interval_ns: u64,
    pub exits_per_s: f64,
    pub reaps_per_s: f64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub outstanding: usize,
    pub leaking: usize,
    /// Events the kernel could not queue, since the start.
    pub lost: u64,
    /// Malformed records, and inserts the kernel's maps refused (their events are incomplete).
    pub decode_errors: u64,
    pub map_full: u64,
    /// Reads the kernel side could not make (a zombie's facts missing).
    pub read_failed: u64,
    /// Lines the recording (`--record`) dropped because its writer did not keep up.
    pub lines_dropped: u64,
}

/// How a parent stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Exited,
    Ok,
    /// It leaked, and caught up since.
    Recovered,
    Leaking,
}

/// One parent's line in the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Its place in the pipeline's ranking (0: worst).
    pub rank: usize,
    pub pid: u32,
    pub comm: String,
    /// Its unit, container or pod (else its cgroup path), when known.
    pub place: Option<String>,
    pub outstanding: usize,
    /// Age of its oldest zombie (0: none).
    pub oldest_ns: u64,
    pub rate_per_min: f64,
    pub p99_ns: u64,
    /// How it reaps, in a word: its most frequent reap kind, `+` when there are others.
    pub how: String,
    pub health: Health,
    /// The verdict in a word or two (`never waits`), or how it stands (`ok`, `exited`).
    pub label: &'static str,
    /// The verdict of its last leak, in full.
    pub verdict: Option<String>,
}

/// Everything the view of one parent shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Detail {
    pub row: Row,
    pub zombies: u64,
    pub reaped: u64,
    pub kinds: Vec<(&'static str, u64)>,
    pub p50_ns: u64,
    pub max_ns: u64,
    /// Leaking since how long, and why.
    pub leaking: Option<(u64, LeakReason)>,
    pub leaks: u64,
    /// Its zombies, oldest first: (pid, command, age).
    pub children: Vec<(u32, String, u64)>,
    /// Zombies not listed (past [`CHILDREN_SHOWN`]).
    pub more_children: usize,
    /// Its zombie times per power of two: (low, high, count).
    pub buckets: Vec<(u64, u64, u64)>,
    /// Its outstanding count, one sample per interval, oldest first.
    pub history: Vec<u64>,
    /// What procfs said when it started leaking.
    pub diagnosis: Option<Diagnosis>,
    /// The phases of its wait-based reaps, when any was timed.
    pub phases: Option<Phases>,
}

/// Why its wait-based reaps took the time they took (`pipeline/phases.rs`): asking (calling
/// wait late, the application) and waking (running late once asked, the scheduler).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phases {
    pub reaps: u64,
    pub ask_p50_ns: u64,
    pub ask_p99_ns: u64,
    pub wake_p50_ns: u64,
    pub wake_p99_ns: u64,
}

/// What is drawn.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    pub header: Header,
    pub rows: Vec<Row>,
    /// The parent open, when one is (None also when it is no longer tracked).
    pub detail: Option<Detail>,
    /// The last thing written to stderr while the view is up, when recent.
    pub message: Option<String>,
}

/// Turns events and the pipeline's state into [`Model`]s: the interval's counts, each parent's
/// history and its last diagnosis.
pub struct Collector {
    clock: WallClock,
    interval_ns: u64,
    /// This interval so far: exits, reaps, their zombie times; when it began.
    exits: u64,
    window: Histogram,
    started_ns: Option<u64>,
    /// The last complete interval.
    header: Header,
    history: HashMap<u32, VecDeque<u64>>,
    diagnoses: HashMap<u32, Diagnosis>,
}

impl Collector {
    pub fn new(interval_ns: u64, clock: WallClock) -> Self {
        Collector {
            clock,
            interval_ns,
            exits: 0,
            window: Histogram::default(),
            started_ns: None,
            header: Header {
                interval_ns,
                ..Header::default()
            },
            history: HashMap::new(),
            diagnoses: HashMap::new(),
        }
    }

    pub fn event(&mut self, event: &Event) {
        match event {
            // Zombies found in procfs at the start did not exit in this interval.
            Event::Zombie(z) if z.since != Since::TracingStart => self.exits += 1,
            Event::Reap(r) => self.window.record(r.zombie_ns),
            Event::Leak(leak) => {
                if let Some(d) = &leak.diagnosis {
                    self.diagnoses.insert(leak.pid, d.clone());
                }
            }
            _ => {}
        }
    }

    /// Whether an interval has passed since the last one ended (the first tick starts one).
    pub fn due(&self, now_ns: u64) -> bool {
        self.started_ns
            .is_none_or(|t| now_ns.saturating_sub(t) >= self.interval_ns)
    }

    /// Ends the interval at `view.now_ns`: its rates and percentiles, the state now, and one
    /// more sample of each parent's outstanding count.
    pub fn roll(&mut self, view: &View<'_>) {
        let now = view.now_ns;
        let secs = match self.started_ns {
            Some(t) if now > t => (now - t) as f64 / 1e9,
            _ => 0.0,
        };
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let time = self.clock.time_of_day(now);
        self.header = Header {
            time: time.split('.').next().unwrap_or(&time).to_string(),
            interval_ns: self.interval_ns,
            exits_per_s: per_s(self.exits),
            reaps_per_s: per_s(self.window.count()),
            p50_ns: self.window.quantile(0.5),
            p99_ns: self.window.quantile(0.99),
            outstanding: view.tracker.open_count(),
            leaking: view.parents.live().filter(|p| p.leaking.is_some()).count(),
            lost: view.counters.lost,
            decode_errors: view.counts.decode_errors,
            map_full: view.counters.parent_map_full + view.counters.wait_map_full,
            read_failed: view.counters.read_failed,
            lines_dropped: view.counts.lines_dropped,
        };
        self.exits = 0;
        self.window = Histogram::default();
        self.started_ns = Some(now);
        let ranked = view.parents.ranked(now);
        let mut seen = HashMap::with_capacity(ranked.len());
        for p in &ranked {
            if !p.exited {
                let h = self.history.entry(p.pid).or_default();
                h.push_back(p.outstanding.len() as u64);
                if h.len() > HISTORY {
                    h.pop_front();
                }
            }
            seen.insert(p.pid, ());
        }
        // Memory follows the parents the pipeline tracks.
        self.history.retain(|pid, _| seen.contains_key(pid));
        self.diagnoses.retain(|pid, _| seen.contains_key(pid));
    }

    /// The model now: the last interval's header, every parent ranked, and the view of `open`.
    pub fn model(&self, view: &View<'_>, open: Option<u32>) -> Model {
        let now = view.now_ns;
        let ranked = view.parents.ranked(now);
        let rows: Vec<Row> = ranked
            .iter()
            .enumerate()
            .map(|(rank, p)| self.row(rank, p, now))
            .collect();
        let detail = open.and_then(|pid| {
            let at = rows.iter().position(|r| r.pid == pid)?;
            Some(self.detail(ranked[at], rows[at].clone(), now))
        });
        Model {
            header: self.header.clone(),
            rows,
            detail,
            message: None,
        }
    }

    fn detail(&self, p: &Parent, row: Row, now: u64) -> Detail {
        let mut children: Vec<(u32, String, u64)> = p
            .outstanding
            .iter()
            .map(|(&pid, (comm, ts))| (pid, comm.clone(), now.saturating_sub(*ts)))
            .collect();
        children.sort_by_key(|c| (std::cmp::Reverse(c.2), c.0));
        let more_children = children.len().saturating_sub(CHILDREN_SHOWN);
        children.truncate(CHILDREN_SHOWN);
        Detail {
            row,
            zombies: p.zombies,
            reaped: p.reaped,
            kinds: kinds(p),
            p50_ns: p.latency.quantile(0.5),
            max_ns: p.latency.max(),
            leaking: p
                .leaking
                .map(|(since, reason)| (now.saturating_sub(since), reason)),
            leaks: p.leaks,
            children,
            more_children,
            buckets: p.latency.log2_buckets(),
            history: self
                .history
                .get(&p.pid)
                .map(|h| h.iter().copied().collect())
                .unwrap_or_default(),
            diagnosis: self.diagnoses.get(&p.pid).cloned(),
            phases: (p.ask.count() > 0).then(|| Phases {
                reaps: p.ask.count(),
                ask_p50_ns: p.ask.quantile(0.5),
                ask_p99_ns: p.ask.quantile(0.99),
                wake_p50_ns: p.wake.quantile(0.5),
                wake_p99_ns: p.wake.quantile(0.99),
            }),
        }
    }
}

/// A reap kind in at most 8 columns.
fn kind_name(kind: ReapKind) -> &'static str {
    match kind {
        ReapKind::Reparented => "reparent",
        kind => kind.name(),
    }
}

/// Reap kinds, most frequent first.
fn kinds(p: &Parent) -> Vec<(&'static str, u64)> {
    let mut kinds: Vec<(&'static str, u64)> =
        p.kinds.iter().map(|(k, n)| (kind_name(*k), *n)).collect();
    kinds.sort_by_key(|(name, n)| (std::cmp::Reverse(*n), *name));
    kinds
}

impl Collector {
    fn row(&self, rank: usize, p: &Parent, now: u64) -> Row {
        let kinds = kinds(p);
        let how = match kinds.as_slice() {
            [] => "-".to_string(),
            [(name, _)] => name.to_string(),
            [(name, _), ..] => format!("{name}+"),
        };
        let health = if p.leaking.is_some() {
            Health::Leaking
        } else if p.exited {
            Health::Exited
        } else if p.leaks > 0 {
            Health::Recovered
        } else {
            Health::Ok
        };
        let label = match health {
            Health::Leaking => match self.diagnoses.get(&p.pid) {
                Some(d) => label(d),
                // procfs could not be read when it started leaking.
                None => "unknown",
            },
            Health::Exited => "exited",
            Health::Recovered => "recovered",
            Health::Ok => "ok",
        };
        Row {
            rank,
            pid: p.pid,
            comm: p.comm.clone(),
            place: p.cgroup.as_ref().and_then(|c| c.short()),
            outstanding: p.outstanding.len(),
            oldest_ns: p.oldest_ns().map_or(0, |t| now.saturating_sub(t)),
            rate_per_min: p.rate_per_min(now),
            p99_ns: p.latency.quantile(0.99),
            how,
            health,
            label,
            verdict: p.verdict.clone(),
        }
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
