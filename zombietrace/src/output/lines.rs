//! Lines on stdout (or stderr): each event formatted as it comes, handed to the writer thread in batches;
//! when the reader does not keep up, whole batches are dropped, counted, and announced by a
//! `dropped` line once there is room again. The summary always goes out.

use std::io;

use super::{
    Format,
    sink::{Offer, Sink},
};
use crate::pipeline::{Consumer, event::Event, filter::Filter, summary::Summary};

/// Which events become lines (the summary always does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// Every event the filters show (`zombietrace`).
    All,
    /// Every event, shown or not (`--record`: a recording that `report --from` replays).
    Every,
    /// Leaks, their ends and lost events (the log of `serve`).
    Leaks,
    /// None: only the summary (`report`).
    Summary,
}

pub struct Lines {
    format: Box<dyn Format>,
    filter: Filter,
    select: Select,
    /// Where the lines go, for messages: "stdout" or "stderr".
    stream: &'static str,
    /// The writer; None once finished.
    sink: Option<Sink>,
    /// Lines formatted since the last flush, and how many.
    batch: Vec<u8>,
    lines: u64,
    /// Event lines dropped so far, and how many of them no `dropped` line has announced yet.
    dropped: u64,
    unannounced: u64,
}

impl Lines {
    pub fn new(
        format: Box<dyn Format>,
        filter: Filter,
        select: Select,
        (stream, sink): (&'static str, Sink),
    ) -> Self {
        Lines {
            format,
            filter,
            select,
            stream,
            sink: Some(sink),
            batch: Vec::new(),
            lines: 0,
            dropped: 0,
            unannounced: 0,
        }
    }
}

impl Consumer for Lines {
    fn event(&mut self, event: &Event) {
        let wanted = match self.select {
            Select::All => self.filter.shows(event),
            Select::Every => true,
            Select::Leaks => matches!(event, Event::Leak(_) | Event::LeakEnd(_) | Event::Lost(_)),
            Select::Summary => false,
        };
        if wanted {
            let before = self.batch.len();
            // Formatting into memory cannot fail.
            let _ = self.format.event(&mut self.batch, event);
            self.lines += (self.batch.len() > before) as u64;
        }
    }

    /// Offers the batch to the writer; if it cannot take it now, its lines are dropped and
    /// counted (never waited for: the ring buffer must keep being drained).
    fn flush(&mut self) -> io::Result<()> {
        let Some(sink) = &self.sink else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        let lines = std::mem::take(&mut self.lines);
        let announced = self.unannounced;
        let batch = {
            let lines = std::mem::take(&mut self.batch);
            if announced == 0 {
                lines
            } else {
                let mut out = Vec::with_capacity(lines.len() + 160);
                self.format.dropped(&mut out, announced, self.dropped)?;
                out.extend_from_slice(&lines);
                out
            }
        };
        match sink.offer(batch) {
            Offer::Queued => self.unannounced -= announced,
            Offer::Dropped => {
                if self.dropped == 0 {
                    eprintln!(
                        "zombietrace: {} is not keeping up: dropping event lines (counted and \
                         announced by `dropped` lines; the summary still counts every event)",
                        self.stream
                    );
                }
                self.dropped += lines;
                self.unannounced += lines;
            }
            Offer::Closed => {
                let kind = sink.failed().unwrap_or(io::ErrorKind::BrokenPipe);
                return Err(kind.into());
            }
        }
        Ok(())
    }

    fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The last lines, a notice of any drops not yet announced, and the summary always go out;
    /// waits until they are written. A reader that went away is not an error.
    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        let mut last = Vec::new();
        if self.unannounced > 0 {
            self.format
                .dropped(&mut last, self.unannounced, self.dropped)?;
        }
        last.append(&mut self.batch);
        self.format.summary(&mut last, summary)?;
        match self.sink.take().map(|sink| sink.finish(last)) {
            Some(Err(err)) if err.kind() != io::ErrorKind::BrokenPipe => Err(err),
            _ => Ok(()),
        }
    }
}
