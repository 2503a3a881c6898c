//! zombietrace: every process exit, how long it stays a zombie, and who reaps it.
//!
//! The house, in the order data flows:
//! - `kernel/`: privileges, tracefs, BTF offsets; loads and attaches the probes
//!   (`zombietrace-ebpf`), which write `zombietrace-common` records to a ring buffer
//! - `pipeline/`: decode → tracker (pairs exit with reap) → per-parent statistics and leaks →
//!   consumers; `trace.rs` runs it: load → loop → shutdown
//! - `output/`: the consumers (text, JSON Lines, the summary) and the writer thread
//! - `top/`: `zombietrace top`, the live terminal view (one more consumer)
//! - `diagnose/`: why a parent is not reaping, from procfs; `ps/`: the `ps` command
//! - `sys/`: one reader or decoder per fact (procfs files, wait statuses, signal names)
//! - `spawn/`: the spawner, which makes each zombie case on purpose

pub mod cli;
pub mod clock;
pub mod config;
pub mod diagnose;
pub mod duration;
pub mod generate;
pub mod histogram;
pub mod kernel;
pub mod output;
pub mod pipeline;
pub mod ps;
pub mod report;
pub mod serve;
pub mod spawn;
pub mod sys;
pub mod top;
pub mod trace;

#[cfg(test)]
mod parse_props_tests;
