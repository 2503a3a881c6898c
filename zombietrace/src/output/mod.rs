//! The outputs, each a [`Consumer`](crate::pipeline::Consumer) of the one event pipeline:
//! lines for a terminal or a program (`lines.rs`: aligned text or JSON Lines, written by their
//! own thread so that a slow reader never stalls tracing) and the summary at the end.
//!
//! To add an output: implement `Consumer` in a file of its own and add it in [`consumers`].

pub mod escape;
pub mod exposition;
pub mod json;
pub mod lines;
pub mod metrics;
pub mod sink;
pub mod text;

#[cfg(test)]
#[path = "props_tests.rs"]
pub mod props_tests;

use std::io::{self, Write};

use prometheus_client::registry::Registry;

use crate::{
    clock::WallClock,
    config::{Config, Mode},
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

/// What a run's configuration asks for: its consumers, and for `serve` the metrics registry
/// the HTTP server exposes.
pub struct Outputs {
    pub consumers: Vec<Box<dyn Consumer>>,
    pub registry: Option<Registry>,
}

/// The consumers a run's configuration asks for, writing lines to `out` (stdout, in a run; for
/// `serve`, stderr).
pub fn consumers(
    config: &Config,
    clock: WallClock,
    (stream, out): (&'static str, impl Write + Send + 'static),
    kernel_release: &str,
) -> io::Result<Outputs> {
    // The writer thread, for the outputs that write lines.
    let sink = move || io::Result::Ok((stream, sink::Sink::spawn(out, sink::queue_limit())?));
    let filter = config.filter.clone();
    let mut outputs = match &config.mode {
        Mode::Live | Mode::Report => {
            let format: Box<dyn Format> = if config.json {
                Box::new(json::Json)
            } else {
                Box::new(text::Text::new(clock))
            };
            let select = if config.mode == Mode::Live {
                lines::Select::All
            } else {
                lines::Select::Summary
            };
            Outputs {
                consumers: vec![Box::new(lines::Lines::new(format, filter, select, sink()?))],
                registry: None,
            }
        }
        Mode::Serve { top, .. } => {
            let (metrics, registry) = metrics::Metrics::new(*top, kernel_release);
            let log =
                lines::Lines::new(Box::new(json::Json), filter, lines::Select::Leaks, sink()?);
            Outputs {
                consumers: vec![Box::new(metrics), Box::new(log)],
                registry: Some(registry),
            }
        }
        // Draws on the terminal itself; the summary, after it, is text on stdout.
        Mode::Top { interval } => Outputs {
            consumers: vec![Box::new(crate::top::Top::new(*interval, clock)?)],
            registry: None,
        },
    };
    if let Some(path) = &config.record {
        let file = std::fs::File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let recorder = lines::Lines::new(
            Box::new(json::Json),
            config.filter.clone(),
            lines::Select::Every,
            (
                "the recording",
                sink::Sink::spawn(io::BufWriter::new(file), sink::queue_limit())?,
            ),
        );
        outputs.consumers.push(Box::new(recorder));
    }
    Ok(outputs)
}
