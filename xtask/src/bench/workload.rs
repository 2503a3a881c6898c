//! The loads: the bench's own minimal fork → `_exit(0)` → `waitpid` loop (forkloop.rs, pinned
//! or not), the spawner's `storm`, and timing helpers shared by the other files.

use std::{
    fs,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

/// The command name the loop processes (and so their children) carry: easy to count.
pub const LOOP_COMM: &str = "ztbench-loop";

/// How long a loop runs: for a time, or until each process made this many exits.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    For(Duration),
    Count(u64),
}

/// What a load did, from its own counts.
#[derive(Clone, Debug, Default)]
pub struct Load {
    /// Exits made and reaped by the load.
    pub exits: u64,
    /// Exits per second over the load's own window (the sum over its processes).
    pub rate: f64,
    pub secs: f64,
    /// The processes that forked and reaped (the parents of the exits).
    pub parents: Vec<u32>,
    /// CLOCK_MONOTONIC window, comparable with zombietrace's `ts_ns`.
    pub start_ns: u64,
    pub end_ns: u64,
    /// The rate the load sustained in its fast windows (see [`steady_rate`]), summed over its
    /// processes; `None` for a load that does not report windows (the storm) or ran too short.
    pub steady_rate: Option<f64>,
}

impl Load {
    pub fn to_json(&self) -> Value {
        json!({
            "exits": self.exits,
            "rate": self.rate,
            "secs": self.secs,
            "parents": self.parents,
            "steady_rate": self.steady_rate,
        })
    }
}

/// The fewest 100 ms windows a steady rate is taken over.
const MIN_WINDOWS: usize = 5;

/// A loop's steady rate: the 90th percentile (nearest rank) of its 100 ms windows' rates.
/// On a shared machine other work only ever slows the loop down, in bursts that cover some
/// windows and not others, while a tracer's cost is paid on every fork of every window (its
/// kernel programs run in the loop's own system calls; its reader drains every 50 ms, twice per
/// window). So the fast windows carry the tracer's cost and shed most of the interference.
/// `None` with fewer than [`MIN_WINDOWS`] windows.
pub fn steady_rate(windows: &[f64]) -> Option<f64> {
    if windows.len() < MIN_WINDOWS {
        return None;
    }
    let mut sorted = windows.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (sorted.len() * 9).div_ceil(10); // 1-based nearest rank
    Some(sorted[rank - 1])
}

pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Pins the calling process (and what it forks from now on) to one CPU.
pub fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Compiles one of the bench's own programs (`source`, a file of its own: forkloop.rs,
/// soakload.rs) with `rustc -O` into `dir/name`.
pub fn build_program(dir: &Path, name: &str, source: &str) -> Result<PathBuf> {
    let src = dir.join(format!("{name}.rs"));
    let bin = dir.join(name);
    fs::write(&src, source)?;
    crate::cmd::run(
        Command::new("rustc")
            .args([
                "--edition",
                "2024",
                "-C",
                "opt-level=3",
                "-C",
                "panic=abort",
                "-o",
            ])
            .arg(&bin)
            .arg(&src),
    )?;
    Ok(bin)
}

/// Loop processes, started and waiting for [`Loops::go`]; once done they stay alive (live
/// parents for the tracer's per-parent counts) until dropped.
pub struct Loops {
    children: Vec<Child>,
}

/// Starts `procs` loop processes (pinned to CPUs 0, 1, … when `pinned`), ready to go.
pub fn spawn_loops(forkloop: &Path, procs: usize, pinned: bool, stop: Stop) -> Result<Loops> {
    let mut loops = Loops {
        children: Vec::new(),
    };
    let how = match stop {
        Stop::For(d) => format!("{}", d.as_secs_f64()),
        Stop::Count(n) => format!("x{n}"),
    };
    for i in 0..procs {
        let cpu = if pinned { i.to_string() } else { "-".into() };
        let child = Command::new(forkloop)
            .args([&cpu, &how])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {forkloop:?}"))?;
        loops.children.push(child);
    }
    Ok(loops)
}

impl Loops {
    /// Starts them all and waits until each has reported its count.
    pub fn go(&mut self) -> Result<Load> {
        for child in &mut self.children {
            child.stdin.as_mut().expect("piped").write_all(b"g")?;
        }
        let mut load = Load {
            start_ns: u64::MAX,
            steady_rate: Some(0.0),
            ..Load::default()
        };
        for child in &mut self.children {
            let mut line = String::new();
            BufReader::new(child.stdout.as_mut().expect("piped")).read_line(&mut line)?;
            let w: Vec<u64> = line
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            let &[exits, start, end, failed, ref windows @ ..] = w.as_slice() else {
                bail!("loop {} died without a count", child.id());
            };
            let windows: Vec<f64> = windows.iter().map(|&r| r as f64).collect();
            load.steady_rate = load
                .steady_rate
                .zip(steady_rate(&windows))
                .map(|(sum, one)| sum + one);
            if failed > 1000 {
                bail!("loop {}: fork kept failing", child.id());
            }
            load.parents.push(child.id());
            load.exits += exits;
            load.rate += exits as f64 * 1e9 / (end - start).max(1) as f64;
            load.start_ns = load.start_ns.min(start);
            load.end_ns = load.end_ns.max(end);
        }
        load.secs = (load.end_ns - load.start_ns) as f64 / 1e9;
        Ok(load)
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        for child in &mut self.children {
            drop(child.stdin.take()); // let go
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}

/// `zombietrace spawn storm --parents P --duration T [--rate R] --json`, optionally pinned
/// to CPU 0 (storm and all it forks).
pub fn run_storm(
    zombietrace: &Path,
    parents: u32,
    duration: Duration,
    rate: Option<u32>,
    pin: Option<usize>,
) -> Result<Load> {
    let mut cmd = Command::new(zombietrace);
    cmd.args([
        "spawn",
        "storm",
        "--json",
        "--parents",
        &parents.to_string(),
    ])
    .args(["--duration", &format!("{}ms", duration.as_millis())]);
    if let Some(rate) = rate {
        cmd.args(["--rate", &rate.to_string()]);
    }
    if let Some(cpu) = pin {
        // SAFETY: sched_setaffinity only, between fork and exec.
        unsafe { cmd.pre_exec(move || pin_to(cpu)) };
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting spawn storm")?;
    let mut load = Load::default();
    let mut done = None;
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let v: Value = serde_json::from_str(&line?).unwrap_or(Value::Null);
        match v["event"].as_str() {
            Some("ready") => {
                load.parents = v["parents"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|p| p.as_u64()).map(|p| p as u32))
                    .into_iter()
                    .flatten()
                    .collect();
                load.start_ns = now_ns();
            }
            Some("done") => done = Some(v),
            _ => {}
        }
    }
    load.end_ns = now_ns();
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut err)?;
    let status = child.wait()?;
    let Some(done) = done.filter(|_| status.success()) else {
        bail!("spawn storm failed ({status}): {err}");
    };
    load.exits = done["exits"].as_u64().unwrap_or(0);
    load.rate = done["rate"].as_f64().unwrap_or(0.0);
    load.secs = done["duration_ns"].as_f64().unwrap_or(0.0) / 1e9;
    Ok(load)
}

#[cfg(test)]
mod tests {
    use super::steady_rate;

    #[test]
    fn steady_rate_is_the_90th_percentile_of_the_windows() {
        // Twenty windows, two of them slowed by other work: the 18th fastest from the bottom.
        let mut windows: Vec<f64> = (1..=20).map(|i| 1000.0 + i as f64).collect();
        windows[3] = 400.0;
        windows[11] = 500.0;
        assert_eq!(steady_rate(&windows), Some(1018.0));
        // Ten windows: the 9th.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(steady_rate(&ten), Some(9.0));
        assert_eq!(steady_rate(&[1.0, 2.0, 3.0, 4.0]), None);
    }
}
