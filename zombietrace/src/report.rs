//! `zombietrace report --from FILE`: the report of a recording, without root or eBPF.

use std::{io::Write as _, path::Path, process::ExitCode};

use anyhow::{Context as _, Result};

use crate::{
    cli::TraceArgs,
    clock::WallClock,
    output::{Format, json::Json, text::Text},
    pipeline::replay::replay,
};

/// Parents a report ranks (as `report --for` does).
pub const REPORT_PARENTS: usize = 50;

pub fn from_recording(path: &Path, args: &TraceArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the recording {}", path.display()))?;
    let leak_after_ns = args.leak_after.as_nanos() as u64;
    let (summary, note) = replay(&text, leak_after_ns, REPORT_PARENTS)
        .with_context(|| format!("replaying {}", path.display()))?;
    if let Some(note) = note {
        eprintln!("zombietrace: {note}");
    }
    let mut format: Box<dyn Format> = if args.json {
        Box::new(Json)
    } else {
        Box::new(Text::new(WallClock::now()))
    };
    let mut out = Vec::new();
    format.summary(&mut out, &summary)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
