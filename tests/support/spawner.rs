//! The spawner (`zombietrace spawn … --json`) as the tests of `tests/spawn*.rs` drive it, and
//! what they read from outside: /proc (state, parent, children), the monotonic clock, and the
//! checks every child line must pass (its readings in order, its delays).

use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{WAIT, bin, json_lines};

pub const MS: i64 = 1_000_000;
/// How late a sleep may wake on a loaded 2-core machine (tests run in parallel): the delays
/// are checked exactly from below, with this much room above — unless this machine is known to
/// wake processes late (`late_wakeups`: an emulated CPU, where a process can run
/// hundreds of ms late when the host is busy), where only the exact lower bounds hold.
const SLACK: i64 = 25 * MS;

/// A delay the spawner measured: at least `delay`, and within SLACK above it where wake-ups
/// are prompt.
pub fn assert_delay(measured: i64, delay: i64, c: &Value) {
    assert!(
        measured >= delay,
        "{measured} ns, shorter than {delay}: {c}"
    );
    assert!(
        super::late_wakeups() || measured < delay + SLACK,
        "{measured} ns, not within {SLACK} ns above {delay}: {c}"
    );
}

/// A running `zombietrace spawn … --json`, its lines read on a thread.
pub struct Spawner {
    pub child: Child,
    lines: Receiver<Value>,
}

impl Spawner {
    pub fn start(args: &[&str]) -> Spawner {
        let mut child = Command::new(bin())
            .arg("spawn")
            .args(args)
            .arg("--json")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the spawner");
        let stdout = child.stdout.take().unwrap();
        Spawner {
            child,
            lines: json_lines(stdout),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn next(&mut self) -> Value {
        self.lines
            .recv_timeout(WAIT)
            .expect("a line from the spawner")
    }

    pub fn ready(&mut self) -> Value {
        let v = self.next();
        assert_eq!(v["event"], "ready", "first line is ready: {v}");
        assert_eq!(v["spawner_pid"], self.pid());
        v
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Every remaining line, and the exit status.
    pub fn finish(mut self) -> (Vec<Value>, ExitStatus) {
        let mut rest = Vec::new();
        while let Ok(v) = self.lines.recv_timeout(WAIT) {
            rest.push(v);
        }
        let status = self.child.wait().unwrap();
        assert_eq!(
            rest.last().map(|v| v["event"].clone()),
            Some("done".into()),
            "done comes last: {rest:?}"
        );
        (rest, status)
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the spawner to the end: (all lines, exit status).
pub fn run(args: &[&str]) -> (Vec<Value>, ExitStatus) {
    let mut s = Spawner::start(args);
    let ready = s.ready();
    let (mut rest, status) = s.finish();
    rest.insert(0, ready);
    (rest, status)
}

/// The `child` lines, each checked for the order of its own readings (those it has).
pub fn children(lines: &[Value]) -> Vec<Value> {
    let kids = super::children(lines);
    kids.iter().for_each(assert_readings_in_order);
    kids
}

/// The child's last reading ≤ when its reaper learned it was gone ≤ right before the reaping
/// call ≤ right after it; a reaper of the spawner's has both ends of its call.
pub fn assert_readings_in_order(c: &Value) {
    let pairs = [
        ("exiting_ns", "gone_ns"),
        ("exiting_ns", "reaped_ns"),
        ("gone_ns", "reap_call_ns"),
        ("reap_call_ns", "reaped_ns"),
    ];
    for (early, late) in pairs {
        if let (Some(a), Some(b)) = (c[early].as_i64(), c[late].as_i64()) {
            assert!(a <= b, "{early} after {late}: {c}");
        }
    }
    let timed = !c["reaper_pid"].is_null();
    assert_eq!(c["reap_call_ns"].is_i64(), timed, "{c}");
    assert_eq!(c["reaped_ns"].is_i64(), timed, "{c}");
}

pub fn done(lines: &[Value]) -> Value {
    lines.last().cloned().unwrap()
}

pub fn pids(ready: &Value) -> Vec<i32> {
    ready["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect()
}

pub fn num(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

/// (state, ppid) from /proc/<pid>/stat.
pub fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    Some((f.next()?.chars().next()?, f.next()?.parse().ok()?))
}

pub fn mono_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Polls until `pred` holds, for at most `within`.
pub fn eventually(within: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if pred() {
            return true;
        }
        thread::sleep(Duration::from_millis(2));
    }
    pred()
}

/// Processes whose parent is `ppid`.
pub fn children_of(ppid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|(_, p)| p == ppid))
        .collect()
}

pub fn gone(pid: i32) -> bool {
    stat(pid).is_none()
}

pub fn assert_all_gone(pids: &[i32]) {
    for &pid in pids {
        assert!(
            eventually(Duration::from_secs(6), || gone(pid)),
            "{pid} left behind: {:?}",
            stat(pid)
        );
    }
}
