//! Outputs: aligned text for people, JSON Lines for programs.

pub mod json;
pub mod sink;
pub mod text;

use std::io::{self, Write};

use crate::{record::Record, summary::Summary};

pub trait Output {
    fn record(&mut self, out: &mut dyn Write, record: &Record) -> io::Result<()>;
    fn summary(&mut self, out: &mut dyn Write, summary: &Summary) -> io::Result<()>;
}
