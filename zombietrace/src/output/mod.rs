//! The outputs, each a [`Consumer`](crate::pipeline::Consumer) of the one event pipeline:
//! lines for a terminal or a program (`lines.rs`: aligned text or JSON Lines, written by their
//! own thread so that a slow reader never stalls tracing) and the summary at the end.
//!
//! To add an output: implement `Consumer` in a file of its own and add it in [`consumers`].

pub mod escape;
pub mod json;
pub mod lines;
pub mod sink;
pub mod text;

#[cfg(test)]
#[path = "props_tests.rs"]
pub mod props_tests;

use std::io::{self, Write};

use crate::{
    clock::WallClock,
    config::Config,
    pipeline::{Consumer, event::Event, summary::Summary},
};

/// How events and the summary look as lines.
pub trait Format {
    fn event(&mut self, out: &mut dyn Write, event: &Event) -> io::Result<()>;
    /// A notice that `count` event lines were dropped (`total` so far) because the reader did
    /// not keep up.
    fn dropped(&mut self, out: &mut dyn Write, count: u64, total: u64) -> io::Result<()>;
    fn summary(&mut self, out: &mut dyn Write, summary: &Summary) -> io::Result<()>;
}

/// The consumers a run's configuration asks for, writing to `out` (stdout, in a run).
pub fn consumers(
    config: &Config,
    clock: WallClock,
    out: impl Write + Send + 'static,
) -> io::Result<Vec<Box<dyn Consumer>>> {
    let format: Box<dyn Format> = if config.json {
        Box::new(json::Json)
    } else {
        Box::new(text::Text::new(clock))
    };
    let lines = lines::Lines::new(
        format,
        config.filter.clone(),
        !config.report,
        sink::Sink::spawn(out, sink::queue_limit())?,
    );
    Ok(vec![Box::new(lines)])
}
