//! The one path every kernel record takes: decode → tracker (pairs each exit with its reap) →
//! per-parent statistics and leak detection → every consumer, in order.
//!
//! - `decode.rs`: raw ring-buffer record → [`kernel_event::KernelEvent`]
//! - `tracker/`: kernel events → lifecycle [`event::Event`]s (zombie, reap)
//! - `parents.rs`: per-parent counts, zombie-time histograms, leaks (complete when made)
//! - `summary.rs`: the end-of-run summary, built in one place
//!
//! What the pipeline needs from the live system (is a pid alive, what kind of reaper is it,
//! why does a parent not reap) comes through [`Host`], so that a recording replays exactly.

pub mod decode;
pub mod event;
pub mod filter;
pub mod kernel_event;
pub mod parents;
pub mod phases;
pub mod replay;
pub mod summary;
#[cfg(test)]
pub mod test_host;
pub mod tracker;

use std::{io, sync::Arc};

use crate::{
    diagnose::Diagnosis,
    kernel::loader::Counters,
    sys::{cgroup::Cgroup, proc::ProcError},
};
use event::{Event, Lost, ReaperRole};
use parents::Parents;
use summary::{RunCounts, Summary};
use tracker::{Existing, Tracker};

/// What the pipeline asks of the live system (procfs, on a real run).
pub trait Host {
    /// What kind of reaper `pid` is: init, a pid namespace's init, or a subreaper.
    fn role(&self, pid: u32) -> ReaperRole;
    /// Whether a process with this pid exists.
    fn alive(&self, pid: u32) -> bool;
    /// Why `pid` is not reaping: the facts procfs shows now.
    fn diagnose(&self, pid: u32) -> Result<Diagnosis, ProcError>;
    /// The cgroup (v2) with this id: its path and what runs there.
    fn cgroup(&self, id: u64) -> Arc<Cgroup>;
}

/// An output of the pipeline (text, JSON, the summary; metrics, a live view, a recording).
pub trait Consumer {
    /// One lifecycle event, in the order they happened.
    fn event(&mut self, event: &Event);
    /// The end of a batch of events: a chance to hand them on. An error stops the run
    /// (`BrokenPipe`: the reader went away).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// What this consumer had to drop (e.g. lines a slow reader did not take), for the summary.
    fn dropped(&self) -> u64 {
        0
    }
    /// The periodic tick, after the pipeline's own: the state as it stands, for consumers that
    /// show state rather than events (metrics, a live view).
    fn tick(&mut self, _view: &View<'_>) {}
    /// Whether this consumer asks the run to end (a live view whose user pressed q): the loop
    /// asks after each flush, then ends the run as on SIGTERM (detach, `finish`).
    fn stop_requested(&self) -> bool {
        false
    }
    /// The run is over: the last events are in, and here is the summary.
    fn finish(&mut self, summary: &Summary) -> io::Result<()>;
}

/// The pipeline's state on a tick, as consumers may read it.
pub struct View<'a> {
    pub now_ns: u64,
    pub tracker: &'a Tracker,
    pub parents: &'a Parents,
    pub counters: Counters,
    pub counts: RunCounts,
}

/// How the run is configured, as far as the pipeline is concerned.
pub struct Settings {
    pub filter: filter::Filter,
    pub leak_after_ns: u64,
    /// Parents shown in the summary.
    pub summary_parents: usize,
}

pub struct Pipeline {
    tracker: Tracker,
    parents: Parents,
    host: Box<dyn Host>,
    consumers: Vec<Box<dyn Consumer>>,
    summary_parents: usize,
    started_ns: u64,
    /// Events made by the current step, handed to the statistics and the consumers at once.
    batch: Vec<Event>,
    counts: RunCounts,
    lost_reported: u64,
}

impl Pipeline {
    pub fn new(
        settings: Settings,
        host: Box<dyn Host>,
        consumers: Vec<Box<dyn Consumer>>,
        started_ns: u64,
    ) -> Self {
        Pipeline {
            tracker: Tracker::new(settings.filter.clone(), settings.filter.min_zombie_ns),
            parents: Parents::new(settings.leak_after_ns),
            host,
            consumers,
            summary_parents: settings.summary_parents,
            started_ns,
            batch: Vec::new(),
            counts: RunCounts::default(),
            lost_reported: 0,
        }
    }

    /// A zombie that existed before tracing started (found in procfs).
    pub fn adopt(&mut self, existing: Existing) {
        self.tracker
            .adopt(existing, self.started_ns, &mut self.batch);
        self.emit();
    }

    /// One raw record from the kernel.
    pub fn record(&mut self, bytes: &[u8]) {
        self.counts.events += 1;
        match decode::decode(bytes) {
            Ok(event) => {
                self.tracker.handle(event, &*self.host, &mut self.batch);
                self.emit();
            }
            Err(err) => {
                self.counts.decode_errors += 1;
                if self.counts.decode_errors == 1 {
                    eprintln!("zombietrace: bad record from the kernel: {err}");
                }
            }
        }
    }

    /// Periodic work at CLOCK_MONOTONIC `now_ns`: books closed on freed tasks, late zombies
    /// announced, leaks detected and diagnosed, and events the kernel lost reported.
    pub fn tick(&mut self, now_ns: u64, counters: Counters) {
        self.tracker.tick(now_ns, &*self.host, &mut self.batch);
        self.emit();
        self.parents.tick(now_ns, &*self.host, &mut self.batch);
        self.emit();
        self.check_lost(now_ns, counters);
        self.counts.lines_dropped = self.consumers.iter().map(|c| c.dropped()).sum();
        let view = View {
            now_ns,
            tracker: &self.tracker,
            parents: &self.parents,
            counters,
            counts: self.counts,
        };
        for consumer in &mut self.consumers {
            consumer.tick(&view);
        }
    }

    /// Hands what the consumers hold on (after every batch of records).
    pub fn flush(&mut self) -> io::Result<()> {
        self.consumers.iter_mut().try_for_each(|c| c.flush())
    }

    /// Whether a consumer asks the run to end.
    pub fn stop_requested(&self) -> bool {
        self.consumers.iter().any(|c| c.stop_requested())
    }

    /// Ends the run at `now_ns`: frees already seen close their books without waiting out the
    /// grace period, then every consumer gets the summary.
    pub fn finish(mut self, now_ns: u64, counters: Counters) -> io::Result<()> {
        self.tracker.tick(
            now_ns + tracker::FREE_GRACE_NS,
            &*self.host,
            &mut self.batch,
        );
        self.emit();
        self.check_lost(now_ns, counters);
        self.counts.lines_dropped = self.consumers.iter().map(|c| c.dropped()).sum();
        let summary = Summary::new(
            (self.tracker.stats(), self.tracker.outstanding()),
            &self.parents,
            counters,
            self.counts,
            self.started_ns,
            now_ns,
            self.summary_parents,
        );
        self.consumers
            .iter_mut()
            .try_for_each(|c| c.finish(&summary))
    }

    fn check_lost(&mut self, now_ns: u64, counters: Counters) {
        if counters.lost > self.lost_reported {
            self.batch.push(Event::Lost(Lost {
                ts_ns: now_ns,
                count: counters.lost - self.lost_reported,
                total: counters.lost,
            }));
            self.lost_reported = counters.lost;
            self.emit();
        }
    }

    fn emit(&mut self) {
        for event in self.batch.drain(..) {
            self.parents.observe(&event);
            for consumer in &mut self.consumers {
                consumer.event(&event);
            }
        }
    }
}
