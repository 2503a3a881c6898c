//! Command-line interface: what the user types. `config.rs` turns it into a resolved `Config`.

use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::duration::parse_duration;

#[derive(Debug, Parser)]
#[command(name = "zombietrace", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reproduce a zombie case on purpose (no root needed for most scenarios).
    Spawn(crate::spawn::SpawnArgs),
}

#[allow(dead_code)]
fn _duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}
