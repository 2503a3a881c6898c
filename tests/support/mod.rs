//! Test environment: the real zombietrace binary as a tracer, and its spawner for ground truth.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc::{Receiver, RecvTimeoutError, channel},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_zombietrace");

/// A running `zombietrace --json`, started and ready (every probe attached).
pub struct Tracer {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Tracer {
    pub fn start(args: &[&str]) -> Tracer {
        Tracer::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Tracer {
        let mut child = Command::new(BIN)
            .arg("--json")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start zombietrace");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (ready_tx, ready_rx) = channel();
        thread::spawn(move || {
            let mut ready = Some(ready_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[tracer stderr] {line}");
                if line.contains("probes attached")
                    && let Some(tx) = ready.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("zombietrace did not say its probes were attached");
        Tracer {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for an event matching `pred` (looking at those already seen first).
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let pid = what.rsplit(' ').next().and_then(|p| p.parse::<u64>().ok());
                    let about: Vec<&Value> = match pid {
                        Some(pid) => self.seen.iter().filter(|v| v["pid"] == pid).collect(),
                        None => Vec::new(),
                    };
                    panic!(
                        "timed out waiting for {what}; {} events seen, those about it: {about:?}",
                        self.seen.len()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("tracer exited while waiting for {what}")
                }
            }
        }
    }

    /// The reap event of `pid`.
    pub fn reap_of(&mut self, pid: u64, timeout: Duration) -> Value {
        self.wait_for(&format!("reap of {pid}"), timeout, |v| {
            v["event"] == "reap" && v["pid"] == pid
        })
    }

    /// All events about `pid` seen so far.
    pub fn events_of(&self, pid: u64) -> Vec<Value> {
        self.seen
            .iter()
            .filter(|v| v["pid"] == pid)
            .cloned()
            .collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then every remaining line up to the summary; returns (all events, summary).
    pub fn stop(self) -> (Vec<Value>, Value) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.stop_after_signal()
    }

    /// Every remaining line up to the summary, once the tracer has been told to stop.
    pub fn stop_after_signal(mut self) -> (Vec<Value>, Value) {
        while let Ok(v) = self.lines.recv_timeout(Duration::from_secs(30)) {
            self.seen.push(v);
        }
        let status = self.child.wait().expect("wait tracer");
        assert!(status.success(), "tracer exited with {status}");
        let summary = self.seen.last().cloned().expect("some output");
        assert_eq!(summary["event"], "summary", "last line is the summary");
        (std::mem::take(&mut self.seen), summary)
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `zombietrace spawn <args> --json` to completion; returns its ground-truth lines.
///
/// The spawner runs at real-time priority (`chrt -f`): what it measures is when it *learned*
/// that a child was gone, and on a busy 2-core machine a normal process can learn that
/// milliseconds late; at SCHED_FIFO it wakes at once, so its ground truth is first-hand.
pub fn spawn(args: &[&str]) -> Vec<Value> {
    let out = Command::new("chrt")
        .args(["--fifo", "10", BIN, "spawn"])
        .args(args)
        .arg("--json")
        .output()
        .expect("run spawner");
    assert!(
        out.status.success(),
        "spawner {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("spawner line {l}: {e}")))
        .collect()
}

/// The `child` lines of a spawner's ground truth.
pub fn children(truth: &[Value]) -> Vec<Value> {
    truth
        .iter()
        .filter(|v| v["event"] == "child")
        .cloned()
        .collect()
}

pub fn ns(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} missing in {v}"))
}

/// Asserts the tracer's zombie time is within `tolerance_ns` of what the reaper measured, and
/// its reap time within `tolerance_ns` of when the reaper's call returned.
///
/// The reaper learns a child is gone when its poll wakes up: first-hand on real hardware, but
/// under an emulated CPU (qemu TCG, `cargo xtask vmtest`) that wake-up comes 5–10 ms late. There
/// `ZOMBIETRACE_WAKEUP_SLACK_MS` lets the tracer's zombie time be longer by that much (never
/// shorter); the reap moment is still checked to `tolerance_ns`.
pub fn assert_close(reap: &Value, truth: &Value, tolerance_ns: i64) {
    let slack_ns = std::env::var("ZOMBIETRACE_WAKEUP_SLACK_MS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0)
        * 1_000_000;
    let reap_gap = ns(reap, "ts_ns") - ns(truth, "reaped_ns");
    assert!(
        reap_gap.abs() <= tolerance_ns,
        "reap at {reap_gap} ns from the reaper's own time (tolerance {tolerance_ns})\nreap: {reap}\ntruth: {truth}"
    );
    let measured = ns(reap, "zombie_ns");
    let expected = ns(truth, "zombie_ns");
    assert!(
        measured - expected >= -tolerance_ns && measured - expected <= tolerance_ns + slack_ns,
        "zombie_ns {measured} vs ground truth {expected} (tolerance {tolerance_ns}, wake-up slack {slack_ns})\nreap: {reap}\ntruth: {truth}"
    );
}

/// Reads spawner JSON lines until its `ready` line.
pub fn read_until_ready(lines: &mut impl BufRead) -> Value {
    let mut line = String::new();
    loop {
        line.clear();
        let n = lines.read_line(&mut line).expect("read spawner");
        assert!(n > 0, "spawner ended before it was ready");
        let v: Value = serde_json::from_str(&line).expect("spawner JSON");
        if v["event"] == "ready" {
            return v;
        }
    }
}

/// Whether the running kernel is at least `major.minor`.
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let have: (u32, u32) = (
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
    );
    have >= (major, minor)
}
