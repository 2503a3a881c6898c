//! A tracing run: load the probes, follow the ring buffer until told to stop, print the summary.

use std::{io, os::fd::AsRawFd, process::ExitCode, time::Duration};

use anyhow::{Context as _, Result};
use aya::maps::{MapData, RingBuf};
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
    time::{MissedTickBehavior, interval, sleep},
};

use crate::{
    clock::{WallClock, monotonic_ns},
    config::Config,
    decode::decode,
    diagnose,
    kernel::loader::{Counters, Probes},
    output::{
        Output,
        json::Json,
        sink::{Offer, Sink, queue_limit},
        text::Text,
    },
    parents::Parents,
    procscan,
    record::{Record, Since},
    summary::{Latency, Outstanding, ParentSummary, Summary},
    tracker::Tracker,
};

/// How often the ring buffer is drained when the kernel does not wake us (it wakes us early
/// only when the buffer fills up), and the books are closed on freed tasks.
const POLL: Duration = Duration::from_millis(50);

struct Run {
    config: Config,
    tracker: Tracker,
    parents: Parents,
    output: Box<dyn Output>,
    sink: Sink,
    records: Vec<Record>,
    /// How many of `records` the per-parent accounting has seen.
    observed: usize,
    events: u64,
    decode_errors: u64,
    lost_reported: u64,
    /// Event lines dropped because stdout did not keep up, and how many of them no `dropped`
    /// line has announced yet.
    lines_dropped: u64,
    drops_unannounced: u64,
}

pub fn run(config: Config) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    runtime.block_on(trace(config))
}

async fn trace(config: Config) -> Result<ExitCode> {
    let snapshot = procscan::snapshot();
    let (mut probes, ring) = Probes::load(config.settings(), &snapshot.parents)?;
    let started = monotonic_ns();
    let clock = WallClock::now();
    let output: Box<dyn Output> = if config.json {
        Box::new(Json)
    } else {
        Box::new(Text::new(clock))
    };
    let mut run = Run {
        parents: Parents::new(config.leak_after_ns),
        tracker: Tracker::new(
            config.filter.clone(),
            config.filter.min_zombie_ns,
            Box::new(procscan::reaper_role),
        ),
        config,
        output,
        sink: Sink::spawn(io::stdout(), queue_limit()).context("starting the output thread")?,
        records: Vec::new(),
        observed: 0,
        events: 0,
        decode_errors: 0,
        lost_reported: 0,
        lines_dropped: 0,
        drops_unannounced: 0,
    };
    eprintln!(
        "zombietrace: tracing, {} probes attached; Ctrl-C to stop",
        probes.attached
    );
    for existing in snapshot.zombies {
        run.tracker.adopt(existing, started, &mut run.records);
    }
    // SAFETY: RingFd owns the map's fd, which stays open and unchanged until it is dropped
    // together with the AsyncFd.
    let mut ring = unsafe { AsyncFd::register(RingFd(ring)) }
        .map_err(|e| e.into_parts().1)
        .context("watching the ring buffer")?;
    // A shell starts background jobs with SIGINT ignored, and tokio leaves an ignored signal
    // ignored: restore the default first, so `kill -INT` stops the trace like Ctrl-C does.
    // SAFETY: resetting a disposition before any handler for it exists.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut ticker = interval(POLL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline = run.config.duration;
    let stop = async {
        match deadline {
            Some(d) => sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let mut broken_pipe = false;
    loop {
        tokio::select! {
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = &mut stop => break,
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                run.drain(&mut guard.get_inner_mut().0);
                guard.clear_ready();
            }
            _ = ticker.tick() => {
                run.drain(&mut ring.get_mut().0);
                let now = monotonic_ns();
                run.tracker.tick(now, &mut run.records);
                run.observe_parents(now);
                run.check_lost(probes.counters()?);
                probes.flush_logs();
            }
        }
        if let Err(kind) = run.flush() {
            if kind == io::ErrorKind::BrokenPipe {
                broken_pipe = true;
                break;
            }
            return Err(io::Error::from(kind)).context("writing to stdout");
        }
    }
    // Detach first, so a fork storm cannot keep the final drain going.
    probes.detach();
    if broken_pipe {
        return Ok(ExitCode::SUCCESS);
    }
    run.drain(&mut ring.get_mut().0);
    let now = monotonic_ns();
    // Frees already seen close their books now, without waiting out the grace period.
    run.tracker
        .tick(now + crate::tracker::FREE_GRACE_NS, &mut run.records);
    run.observe_pending();
    let counters = probes.counters()?;
    run.check_lost(counters);
    let summary = run.summary(counters, started, now);
    // The last lines, a notice of any drops not yet announced, and the summary always go out.
    let mut last = Vec::new();
    run.format(&mut last)?;
    run.output.summary(&mut last, &summary)?;
    match run.sink.finish(last) {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => {
            Err(err).context("writing to stdout")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

impl Run {
    fn drain(&mut self, ring: &mut RingBuf<MapData>) {
        while let Some(item) = ring.next() {
            self.events += 1;
            match decode(&item) {
                Ok(event) => self.tracker.handle(event, &mut self.records),
                Err(err) => {
                    self.decode_errors += 1;
                    if self.decode_errors == 1 {
                        eprintln!("zombietrace: bad record from the kernel: {err}");
                    }
                }
            }
        }
    }

    fn check_lost(&mut self, counters: Counters) {
        if counters.lost > self.lost_reported {
            self.records.push(Record::Lost {
                count: counters.lost - self.lost_reported,
                total: counters.lost,
            });
            self.lost_reported = counters.lost;
        }
    }

    /// Counts the records the per-parent accounting has not seen yet.
    fn observe_pending(&mut self) {
        for record in &self.records[self.observed..] {
            self.parents.observe(record);
        }
        self.observed = self.records.len();
    }

    /// Leak detection; a parent that starts leaking is diagnosed from procfs right away.
    fn observe_parents(&mut self, now: u64) {
        self.observe_pending();
        let first_new = self.records.len();
        self.parents.tick(now, &procscan::alive, &mut self.records);
        for record in &mut self.records[first_new..] {
            if let Record::Leak(leak) = record
                && let Ok(diagnosis) = diagnose::diagnose(leak.pid)
            {
                let verdict = diagnose::verdict(&diagnosis, leak.outstanding, leak.oldest_age_ns);
                // Name it as it is now (it may have exec'd since its children died).
                leak.comm = diagnosis.comm.clone();
                self.parents
                    .set_verdict(leak.pid, &diagnosis.comm, verdict.clone());
                leak.verdict = Some(verdict);
                leak.diagnosis = Some(diagnosis);
            }
        }
        self.observed = self.records.len();
    }

    /// Formats a `dropped` notice for drops not yet announced, then the new records' lines.
    /// Returns how many event lines it wrote and how many drops its notice announced.
    fn format(&mut self, batch: &mut Vec<u8>) -> io::Result<(u64, u64)> {
        self.observe_pending();
        self.observed = 0;
        let announced = self.drops_unannounced;
        if announced > 0 {
            let notice = Record::Dropped {
                count: announced,
                total: self.lines_dropped,
            };
            self.output.record(batch, &notice)?;
        }
        let mut lines = 0;
        for record in self.records.drain(..) {
            if !self.config.report && self.config.filter.shows(&record) {
                self.output.record(batch, &record)?;
                lines += 1;
            }
        }
        Ok((lines, announced))
    }

    /// Hands the new records' lines to the output thread; if it cannot take them now, they
    /// are dropped and counted (never waited for: the ring buffer must keep being drained).
    /// Fails only when the writer stopped, with the kind of its error.
    fn flush(&mut self) -> Result<(), io::ErrorKind> {
        let mut batch = Vec::new();
        let (lines, announced) = self.format(&mut batch).map_err(|e| e.kind())?;
        match self.sink.offer(batch) {
            Offer::Queued => self.drops_unannounced -= announced,
            Offer::Dropped => {
                if self.lines_dropped == 0 {
                    eprintln!(
                        "zombietrace: stdout is not keeping up: dropping event lines (counted \
                         and announced by `dropped` lines; the summary still counts every event)"
                    );
                }
                self.lines_dropped += lines;
                self.drops_unannounced += lines;
            }
            Offer::Closed => {
                return Err(self.sink.failed().unwrap_or(io::ErrorKind::BrokenPipe));
            }
        }
        Ok(())
    }

    fn summary(&self, counters: Counters, started: u64, now: u64) -> Summary {
        let outstanding = self
            .tracker
            .outstanding()
            .into_iter()
            .map(|z| Outstanding {
                pid: z.pid,
                ppid: z.ppid,
                comm: z.comm.clone(),
                parent_comm: z.parent_comm.clone(),
                age_ns: now.saturating_sub(z.ts_ns),
                at_least: z.since == Since::TracingStart,
            })
            .collect();
        let mut summary = Summary::new(self.tracker.stats(), outstanding, counters);
        let shown = if self.config.report { 50 } else { 10 };
        summary.parents = self
            .parents
            .ranked(now)
            .into_iter()
            .filter(|p| p.zombies > 0)
            .take(shown)
            .map(|p| ParentSummary::new(p, now))
            .collect();
        summary.latency = Latency::of(self.parents.histogram());
        summary.ts_ns = now;
        summary.duration_ns = now - started;
        summary.events = self.events;
        summary.decode_errors = self.decode_errors;
        summary.lines_dropped = self.lines_dropped;
        summary
    }
}

/// The ring buffer, as something tokio can poll.
struct RingFd(RingBuf<MapData>);

impl AsRawFd for RingFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}
