//! Test environment: the real zombietrace binary as a tracer, and its spawner for ground truth.
//! `spawner` drives the spawner on its own, for the spawner's tests (`tests/spawn*.rs`).
#![allow(dead_code)]

pub mod bpf;
pub mod serve;
pub mod spawner;

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
    sync::{
        OnceLock,
        mpsc::{Receiver, RecvTimeoutError, channel},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

/// The zombietrace binary under test: `ZOMBIETRACE_BIN` when set (`cargo xtask vmtest` sets it
/// to the static binary `cargo xtask dist` ships), else the one cargo built with the tests.
pub fn bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("ZOMBIETRACE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_zombietrace").to_owned())
    })
}

/// A copy of the binary named `zt<tag><test process pid>`, so that the processes it makes carry
/// a command name of this test's own (for `--comm`, and for metric labels).
pub fn own_copy(tag: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("zt{tag}{}", std::process::id()));
    std::fs::copy(bin(), &path).expect("copy the binary");
    path
}

/// How long a test waits for a line or an event it expects.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running `zombietrace --json`, started and ready (every probe attached).
pub struct Tracer {
    /// Its "tracing, N probes attached (…)" line.
    pub started: String,
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Tracer {
    pub fn start(args: &[&str]) -> Tracer {
        Tracer::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Tracer {
        let mut child = Command::new(bin())
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
                    let _ = tx.send(line.clone());
                }
            }
        });
        let lines = json_lines(stdout);
        let started = ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("zombietrace did not say its probes were attached");
        Tracer {
            started,
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

    /// The next line the tracer writes (kept with those seen), or None after `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        let v = self.lines.recv_timeout(timeout).ok()?;
        self.seen.push(v.clone());
        Some(v)
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

/// Parses a child's stdout as JSON lines, one per message, on a thread of its own (so the
/// child never blocks on a full pipe); a line that is not JSON fails the test.
pub fn json_lines(stdout: impl Read + Send + 'static) -> Receiver<Value> {
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
    lines
}

/// Runs `zombietrace spawn <args> --json` to completion; returns its ground-truth lines.
///
/// The spawner runs at real-time priority (`chrt -f`): what it measures is when it *learned*
/// that a child was gone, and on a busy 2-core machine a normal process can learn that
/// milliseconds late; at SCHED_FIFO it wakes at once, so its ground truth is first-hand.
pub fn spawn(args: &[&str]) -> Vec<Value> {
    spawn_with(bin().as_ref(), args)
}

/// `spawn` with the binary at `bin` (a copy under a name of a test's own, say).
pub fn spawn_with(bin: &std::ffi::OsStr, args: &[&str]) -> Vec<Value> {
    let out = Command::new("chrt")
        .args(["--fifo", "10"])
        .arg(bin)
        .arg("spawn")
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

/// Runs the `delayed` scenario (exit code 7) reaped with `reap` after `delay`; `extra` adds
/// flags. Returns its ground-truth lines.
pub fn delayed(reap: &str, delay: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "delayed",
        "--reap",
        reap,
        "--delay",
        delay,
        "--exit-code",
        "7",
    ];
    args.extend_from_slice(extra);
    spawn(&args)
}

/// The spawner's own pid, from its `ready` line.
pub fn spawner_pid(truth: &[Value]) -> u64 {
    truth
        .iter()
        .find(|v| v["event"] == "ready")
        .and_then(|v| v["spawner_pid"].as_u64())
        .expect("ready line with spawner_pid")
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

/// Whether this machine wakes processes late: `ZOMBIETRACE_LATE_WAKEUPS=1`, which `cargo xtask
/// vmtest` sets under an emulated CPU (qemu TCG). There a process can run milliseconds (once
/// over 100 ms) after its poll or wait call was satisfied, so the spawner's readings right after
/// a wake-up or a call's return are late by that much: only the brackets below hold.
pub fn late_wakeups() -> bool {
    std::env::var("ZOMBIETRACE_LATE_WAKEUPS").is_ok_and(|v| v == "1")
}

/// `value` within [`lo` − `tolerance_ns`, `hi` + `tolerance_ns`] (no lower end when `lo` is
/// None), or a message naming both ends and how far outside it is.
fn check_bracket(
    what: &str,
    value: i64,
    lo: Option<(&str, i64)>,
    hi: (&str, i64),
    tolerance_ns: i64,
) -> Result<(), String> {
    let below = lo.is_some_and(|(_, l)| value < l - tolerance_ns);
    if !below && value <= hi.1 + tolerance_ns {
        return Ok(());
    }
    let lo_text = lo.map_or("(no lower end)".to_string(), |(name, l)| {
        format!("{name} {l} ({:+} ns from it)", value - l)
    });
    Err(format!(
        "{what} {value} outside the ground truth's bracket [{lo_text}, {} {} ({:+} ns from it)] \
         widened by the tolerance {tolerance_ns}",
        hi.0,
        hi.1,
        value - hi.1
    ))
}

/// The tracer's reap time (`ts_ns`) lies within `tolerance_ns` of the reaper's bracket: at or
/// after `reap_call_ns` (right before its call), at or before `reaped_ns` (right after it).
pub fn assert_reap_in_bracket(reap: &Value, truth: &Value, tolerance_ns: i64) {
    let result = check_bracket(
        "reap ts_ns",
        ns(reap, "ts_ns"),
        Some(("reap_call_ns", ns(truth, "reap_call_ns"))),
        ("reaped_ns", ns(truth, "reaped_ns")),
        tolerance_ns,
    );
    if let Err(msg) = result {
        panic!("{msg}\nreap: {reap}\ntruth: {truth}");
    }
}

/// The tracer's zombie moment (`zombie_ts_ns`) lies within `tolerance_ns` of its bracket: after
/// the child's own last reading (`exiting_ns`, when it has one), at or before the moment the
/// reaper learned it was gone (`gone_ns`).
pub fn assert_zombie_in_bracket(reap: &Value, truth: &Value, tolerance_ns: i64) {
    let result = check_bracket(
        "zombie_ts_ns",
        ns(reap, "zombie_ts_ns"),
        truth["exiting_ns"].as_i64().map(|e| ("exiting_ns", e)),
        ("gone_ns", ns(truth, "gone_ns")),
        tolerance_ns,
    );
    if let Err(msg) = result {
        panic!("{msg}\nreap: {reap}\ntruth: {truth}");
    }
}

/// Checks the tracer's reap against the ground truth of the process that reaped it.
///
/// Always: the reap moment and the zombie moment each lie within `tolerance_ns` of the
/// spawner's bracket for them (see `assert_reap_in_bracket`, `assert_zombie_in_bracket`); that
/// holds however late the spawner ran. Unless wake-ups are late (`late_wakeups`), also the
/// points: the reap within `tolerance_ns` of `reaped_ns`, and the zombie time within
/// `tolerance_ns` of the spawner's `zombie_ns` — what the project promises on real hardware.
pub fn assert_close(reap: &Value, truth: &Value, tolerance_ns: i64) {
    assert_reap_in_bracket(reap, truth, tolerance_ns);
    assert_zombie_in_bracket(reap, truth, tolerance_ns);
    if late_wakeups() {
        return;
    }
    let brackets = format!(
        "tracer: zombie_ts_ns {} ts_ns {}; truth: zombie moment in [exiting_ns {}, gone_ns {}], \
         reap in [reap_call_ns {}, reaped_ns {}]\nreap: {reap}\ntruth: {truth}",
        reap["zombie_ts_ns"],
        reap["ts_ns"],
        truth["exiting_ns"],
        truth["gone_ns"],
        truth["reap_call_ns"],
        truth["reaped_ns"]
    );
    let reap_gap = ns(reap, "ts_ns") - ns(truth, "reaped_ns");
    assert!(
        reap_gap.abs() <= tolerance_ns,
        "reap at {reap_gap} ns from the reaper's own time (tolerance {tolerance_ns})\n{brackets}"
    );
    let measured = ns(reap, "zombie_ns");
    let expected = ns(truth, "zombie_ns");
    assert!(
        (measured - expected).abs() <= tolerance_ns,
        "zombie_ns {measured} vs ground truth {expected} (tolerance {tolerance_ns})\n{brackets}"
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
