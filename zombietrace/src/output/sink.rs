//! The way out to stdout: a writer thread behind a bounded queue.
//!
//! The event loop formats lines and hands them over in batches; it never waits for stdout. When
//! the reader falls so far behind that the queue holds `limit` bytes, further batches are dropped
//! whole and their lines counted, so the ring buffer keeps being drained and every aggregate
//! (summary, per-parent counts, histograms) stays exact. The final summary is always queued, and
//! `finish` waits until it is written.

use std::{
    collections::VecDeque,
    io::{self, Write},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::{self, JoinHandle},
};

/// Bytes of formatted lines the queue may hold before batches are dropped: about 30,000 text
/// lines or 15,000 JSON lines, several seconds of a reader that keeps up with the machine's
/// fastest exit rate.
pub const QUEUE_LIMIT: usize = 8 << 20;

/// The queue's limit: `QUEUE_LIMIT`, or `ZOMBIETRACE_OUTPUT_QUEUE_BYTES` (for tests, which
/// then need not make thousands of exits to fill it).
pub fn queue_limit() -> usize {
    std::env::var("ZOMBIETRACE_OUTPUT_QUEUE_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(QUEUE_LIMIT)
}

/// What became of a batch handed to [`Sink::offer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The queue was full: the batch's lines were dropped.
    Dropped,
    /// The writer has stopped: the reader went away (broken pipe) or a write failed.
    Closed,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Vec<u8>>,
    bytes: usize,
    /// No more batches will come: write what is queued, then stop.
    closing: bool,
    /// The writer stopped on this error (it drops everything after).
    failed: Option<io::ErrorKind>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a batch is queued or the sink is closing.
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent queue: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Sink {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<io::Result<()>>>,
    limit: usize,
}

impl Sink {
    /// Starts the writer thread on `out` (stdout in a run; anything in tests).
    pub fn spawn<W: Write + Send + 'static>(out: W, limit: usize) -> io::Result<Sink> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
        });
        let theirs = shared.clone();
        let writer = thread::Builder::new()
            .name("zombietrace-out".into())
            .spawn(move || write_loop(&theirs, out))?;
        Ok(Sink {
            shared,
            writer: Some(writer),
            limit,
        })
    }

    /// Queues a batch of formatted lines unless the queue is full (then it is dropped) or the
    /// writer has stopped. Never blocks on the reader. A batch larger than the limit still goes
    /// out when nothing else is pending.
    pub fn offer(&self, bytes: Vec<u8>) -> Offer {
        if bytes.is_empty() {
            return Offer::Queued;
        }
        let mut state = self.shared.lock();
        if state.failed.is_some() {
            return Offer::Closed;
        }
        if state.bytes > 0 && state.bytes + bytes.len() > self.limit {
            return Offer::Dropped;
        }
        state.bytes += bytes.len();
        state.queue.push_back(bytes);
        drop(state);
        self.shared.ready.notify_one();
        Offer::Queued
    }

    /// The error the writer stopped on, if it did.
    pub fn failed(&self) -> Option<io::ErrorKind> {
        self.shared.lock().failed
    }

    /// Queues `last` whatever the queue holds, waits until everything queued is written, and
    /// returns the writer's outcome.
    pub fn finish(mut self, last: Vec<u8>) -> io::Result<()> {
        {
            let mut state = self.shared.lock();
            if !last.is_empty() {
                state.bytes += last.len();
                state.queue.push_back(last);
            }
            state.closing = true;
        }
        self.shared.ready.notify_one();
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the output thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Sink {
    /// Dropped without `finish` (an error path): let the writer stop without waiting for it.
    fn drop(&mut self) {
        if self.writer.is_some() {
            let mut state = self.shared.lock();
            state.closing = true;
            state.queue.clear();
            drop(state);
            self.shared.ready.notify_one();
        }
    }
}

fn write_loop<W: Write>(shared: &Shared, mut out: W) -> io::Result<()> {
    loop {
        let bytes = {
            let mut state = shared.lock();
            loop {
                if let Some(bytes) = state.queue.pop_front() {
                    break bytes;
                }
                if state.closing {
                    return Ok(());
                }
                state = shared.ready.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        let written = out.write_all(&bytes).and_then(|()| out.flush());
        let mut state = shared.lock();
        state.bytes -= bytes.len();
        if let Err(err) = written {
            state.failed = Some(err.kind());
            state.queue.clear();
            state.bytes = 0;
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A writer that blocks until the test lets each write through.
    struct Gate {
        open: mpsc::Receiver<()>,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.open
                .recv()
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn batch(text: &str) -> Vec<u8> {
        text.as_bytes().to_vec()
    }

    #[test]
    fn a_stuck_reader_makes_batches_drop_and_the_last_one_still_arrives() {
        let (open, gate) = mpsc::channel();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink::spawn(
            Gate {
                open: gate,
                got: got.clone(),
            },
            8,
        )
        .unwrap();
        // The first batch may be taken by the writer (blocked in write) or still queued; either
        // way it counts against the limit until it is written.
        assert_eq!(sink.offer(batch("a b c\n")), Offer::Queued);
        assert_eq!(sink.offer(batch("d e f\n")), Offer::Dropped);
        assert_eq!(sink.offer(batch("")), Offer::Queued);
        for _ in 0..2 {
            open.send(()).unwrap();
        }
        drop(open); // later writes fail: but the summary goes in before that
        let result = sink.finish(b"summary\n".to_vec());
        assert_eq!(
            String::from_utf8_lossy(&got.lock().unwrap()),
            "a b c\nsummary\n"
        );
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn an_oversized_batch_into_an_empty_queue_is_written() {
        let got = Arc::new(Mutex::new(Vec::new()));
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::spawn(Shared(got.clone()), 4).unwrap();
        assert_eq!(sink.offer(batch("longer than four\n")), Offer::Queued);
        sink.finish(Vec::new()).unwrap();
        assert_eq!(got.lock().unwrap().len(), 17);
    }

    #[test]
    fn a_broken_pipe_closes_the_sink() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::spawn(Broken, 1 << 20).unwrap();
        assert_eq!(sink.offer(batch("x\n")), Offer::Queued);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while sink.failed().is_none() && std::time::Instant::now() < deadline {
            thread::yield_now();
        }
        assert_eq!(sink.failed(), Some(io::ErrorKind::BrokenPipe));
        assert_eq!(sink.offer(batch("y\n")), Offer::Closed);
        let err = sink.finish(b"summary\n".to_vec()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
