//! The terminal while the view is up: raw mode and the alternate screen, entered once and left
//! on every way out — `q`, Ctrl-C, SIGTERM/SIGINT (the loop ends the run and calls `finish`),
//! an error (the consumer is dropped), a panic (the hook below) — and the keys.
//!
//! Keys are read by a thread of their own (crossterm's blocking `poll`/`read`, 100 ms at a
//! time so that it can be told to stop) and handed over a channel, which the consumer drains
//! on each tick of the loop (every 50 ms): the loop's `select!` stays as it is, and a key is
//! seen within a tick. The thread starts with the view, after privileges were dropped.

use std::{
    io::{self, BufWriter, Stdout},
    sync::{
        Arc, Once,
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, TryRecvError, channel},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use crossterm::{
    cursor::{Hide, Show},
    event::{self, Event},
    execute,
    terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode},
};
use ratatui::backend::CrosstermBackend;

use super::stderr;

/// Whether the terminal is in raw mode on the alternate screen (for the panic hook).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Frames are written whole: one buffer, flushed by ratatui at the end of each frame, so that a
/// terminal (or ssh) never shows half of one.
pub type Backend = CrosstermBackend<BufWriter<Stdout>>;

/// Larger than a full 80×24 frame with its colours, or most of a big screen's.
const FRAME_BUFFER: usize = 64 * 1024;

/// The terminal, taken over; given back when dropped.
pub struct Term {
    pub terminal: ratatui::Terminal<Backend>,
    keys: Keys,
    pub stderr: Option<stderr::Capture>,
}

impl Term {
    /// Raw mode, the alternate screen, stderr kept off it, and the key reader.
    pub fn enter() -> io::Result<Term> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // The message goes to the real stderr, on the normal screen.
                leave();
                stderr::release_now();
                previous(info);
            }));
        });
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let term = (|| {
            execute!(io::stdout(), EnterAlternateScreen, Hide)?;
            let backend =
                CrosstermBackend::new(BufWriter::with_capacity(FRAME_BUFFER, io::stdout()));
            let mut terminal = ratatui::Terminal::new(backend)?;
            terminal.clear()?;
            let stderr = stderr::Capture::start()?;
            Ok(Term {
                terminal,
                keys: Keys::spawn()?,
                stderr,
            })
        })();
        if term.is_err() {
            leave();
            stderr::release_now();
        }
        term
    }

    /// Keys (and resizes) pressed since the last call; an error if they can no longer be read.
    pub fn events(&mut self) -> io::Result<Vec<Event>> {
        self.keys.drain()
    }

    /// Gives the terminal back: the keys thread stopped, the screen and modes as they were,
    /// stderr back in place; returns what was written to stderr meanwhile.
    pub fn restore(mut self) -> Vec<String> {
        self.keys.stop();
        leave();
        self.stderr.take().map(|c| c.release()).unwrap_or_default()
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        self.keys.stop();
        leave();
        if let Some(capture) = self.stderr.take() {
            stderr::replay(&capture.release());
        }
    }
}

/// Leaves raw mode and the alternate screen, shows the cursor (once; then a no-op).
fn leave() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
}

struct Keys {
    events: Receiver<io::Result<Event>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Keys {
    fn spawn() -> io::Result<Keys> {
        let (tx, events) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::Builder::new()
            .name("zombietrace-keys".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    let event = match event::poll(Duration::from_millis(100)) {
                        Ok(false) => continue,
                        Ok(true) => event::read(),
                        Err(err) => Err(err),
                    };
                    let failed = event.is_err();
                    if tx.send(event).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Keys {
            events,
            stop,
            thread: Some(thread),
        })
    }

    fn drain(&mut self) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(event) => out.push(event?),
                Err(TryRecvError::Empty) => return Ok(out),
                Err(TryRecvError::Disconnected) if self.thread.is_some() => {
                    return Err(io::Error::other("the keyboard reader stopped"));
                }
                Err(TryRecvError::Disconnected) => return Ok(out),
            }
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
