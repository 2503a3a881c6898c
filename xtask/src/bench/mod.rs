//! `cargo xtask bench`: zombietrace's cost against exitsnoop and bpftrace (issue 6).

use anyhow::{Result, bail};

pub fn run() -> Result<()> {
    bail!("bench is not built yet")
}
