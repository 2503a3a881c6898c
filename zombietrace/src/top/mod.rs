//! `zombietrace top`: a live view of who is leaking zombies, in the terminal. One more
//! [`Consumer`] of the event pipeline: it counts the events of each interval, and on the
//! loop's tick (every 50 ms) reads the keys, refreshes its model from the pipeline's [`View`]
//! once an interval has passed (or at once when a parent is opened), and draws.
//!
//! - `model.rs`: what is shown, as data (`Collector` makes it from events and the `View`)
//! - `app.rs`: what the person chose (sort, filter, selection, the parent open) and the keys
//! - `render.rs`: the main screen (header, table, keys, help); `detail.rs`: a parent's view
//! - `terminal.rs`: raw mode, the alternate screen, the panic hook, the key reader thread
//! - `stderr.rs`: stderr kept off the view while it is up, written out after
//!
//! The terminal is taken at the first tick (after the "tracing" lines went to the normal
//! screen) and given back in `finish` (q, Ctrl-C, SIGTERM, SIGINT), when dropped (an error),
//! and by the panic hook. Then the summary is printed as text on stdout, as every run does —
//! unless the person quit with `q`, which leaves quietly as top does.

mod app;
mod cells;
mod detail;
mod help;
mod model;
mod render;
mod stderr;
mod table;
mod terminal;
mod theme;

#[cfg(test)]
mod render_fixture;
#[cfg(test)]
mod render_tests;

use std::{
    io::{self, Write as _},
    time::Duration,
};

use crossterm::event::Event as Input;

use crate::{
    clock::WallClock,
    output::{Format as _, text::Text},
    pipeline::{Consumer, View, event::Event, summary::Summary},
};
use app::{App, Effect, Quit};
use model::{Collector, Model};
use terminal::Term;
use theme::Theme;

/// The shortest `--interval`.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

pub struct Top {
    collector: Collector,
    clock: WallClock,
    app: App,
    model: Model,
    theme: Theme,
    /// The terminal while the view is up (from the first tick to `finish`).
    term: Option<Term>,
    /// The view was given up (finished, or the terminal failed): it is not taken again.
    done: bool,
    /// What failed on the terminal, for the loop (`flush`) to end the run with.
    failed: Option<io::Error>,
}

impl Top {
    pub fn new(interval: Duration, clock: WallClock) -> io::Result<Top> {
        Ok(Top {
            collector: Collector::new(interval.as_nanos() as u64, clock),
            clock,
            app: App::default(),
            model: Model::default(),
            theme: Theme::from_env(),
            term: None,
            done: false,
            failed: None,
        })
    }

    /// One tick with the terminal up: keys, fresh data when due, a frame when anything changed.
    fn update(&mut self, view: &View<'_>) -> io::Result<()> {
        let Some(term) = self.term.as_mut() else {
            return Ok(());
        };
        let mut redraw = false;
        let mut refresh = false;
        for input in term.events()? {
            match input {
                Input::Key(key) => match self.app.key(key, &self.model.rows) {
                    Effect::None => {}
                    Effect::Redraw => redraw = true,
                    Effect::Refresh => refresh = true,
                },
                Input::Resize(..) => redraw = true,
                _ => {}
            }
        }
        if self.app.quit.is_some() {
            return Ok(());
        }
        if self.collector.due(view.now_ns) {
            self.collector.roll(view);
            refresh |= !self.app.paused;
        }
        if refresh {
            self.model = self.collector.model(view, self.app.open());
            redraw = true;
        }
        let message = term.stderr.as_ref().and_then(|c| c.latest());
        if message != self.model.message {
            self.model.message = message;
            redraw = true;
        }
        if redraw {
            let (model, app, theme) = (&self.model, &mut self.app, self.theme);
            term.terminal
                .draw(|frame| render::draw(frame, model, app, theme))?;
        }
        Ok(())
    }
}

impl Consumer for Top {
    fn event(&mut self, event: &Event) {
        self.collector.event(event);
    }

    /// Errors of the terminal end the run (the view cannot be seen or left otherwise).
    fn flush(&mut self) -> io::Result<()> {
        match self.failed.take() {
            Some(err) => Err(io::Error::new(err.kind(), format!("the terminal: {err}"))),
            None => Ok(()),
        }
    }

    fn tick(&mut self, view: &View<'_>) {
        if self.term.is_none() && !self.done {
            match Term::enter() {
                Ok(term) => self.term = Some(term),
                Err(err) => {
                    self.done = true;
                    self.failed = Some(err);
                    return;
                }
            }
        }
        if let Err(err) = self.update(view) {
            self.done = true;
            self.term = None; // gives the terminal back
            self.failed = Some(err);
        }
    }

    fn stop_requested(&self) -> bool {
        self.app.quit.is_some() || self.failed.is_some()
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.done = true;
        if let Some(term) = self.term.take() {
            stderr::replay(&term.restore());
        }
        if self.app.quit == Some(Quit::Key) {
            return Ok(());
        }
        let mut out = Vec::new();
        Text::new(self.clock).summary(&mut out, summary)?;
        match io::stdout().lock().write_all(&out) {
            Err(err) if err.kind() != io::ErrorKind::BrokenPipe => Err(err),
            _ => Ok(()),
        }
    }
}
