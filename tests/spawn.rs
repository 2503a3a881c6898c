//! The spawner (`zombietrace spawn`) against the real system: each scenario's ground truth is
//! checked with what /proc, pidfds and the clock show from outside. No root needed. Tests run
//! in parallel; each looks only at the processes its own spawner made.

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_zombietrace");
const WAIT: Duration = Duration::from_secs(20);
const MS: i64 = 1_000_000;
/// How late a sleep may wake on a loaded 2-core machine (tests run in parallel): the delays
/// are checked exactly from below, with this much room above — unless this machine is known to
/// wake processes late (`support::late_wakeups`: an emulated CPU, where a process can run
/// hundreds of ms late when the host is busy), where only the exact lower bounds hold.
const SLACK: i64 = 25 * MS;

/// A delay the spawner measured: at least `delay`, and within SLACK above it where wake-ups
/// are prompt.
fn assert_delay(measured: i64, delay: i64, c: &Value) {
    assert!(
        measured >= delay,
        "{measured} ns, shorter than {delay}: {c}"
    );
    assert!(
        support::late_wakeups() || measured < delay + SLACK,
        "{measured} ns, not within {SLACK} ns above {delay}: {c}"
    );
}

/// A running `zombietrace spawn … --json`, its lines read on a thread.
struct Spawner {
    child: Child,
    lines: Receiver<Value>,
}

impl Spawner {
    fn start(args: &[&str]) -> Spawner {
        let mut child = Command::new(BIN)
            .arg("spawn")
            .args(args)
            .arg("--json")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the spawner");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Spawner { child, lines }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn next(&mut self) -> Value {
        self.lines
            .recv_timeout(WAIT)
            .expect("a line from the spawner")
    }

    fn ready(&mut self) -> Value {
        let v = self.next();
        assert_eq!(v["event"], "ready", "first line is ready: {v}");
        assert_eq!(v["spawner_pid"], self.pid());
        v
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Every remaining line, and the exit status.
    fn finish(mut self) -> (Vec<Value>, ExitStatus) {
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
fn run(args: &[&str]) -> (Vec<Value>, ExitStatus) {
    let mut s = Spawner::start(args);
    let ready = s.ready();
    let (mut rest, status) = s.finish();
    rest.insert(0, ready);
    (rest, status)
}

/// The `child` lines, each checked for the order of its own readings (those it has).
fn children(lines: &[Value]) -> Vec<Value> {
    let kids: Vec<Value> = lines
        .iter()
        .filter(|v| v["event"] == "child")
        .cloned()
        .collect();
    kids.iter().for_each(assert_readings_in_order);
    kids
}

/// The child's last reading ≤ when its reaper learned it was gone ≤ right before the reaping
/// call ≤ right after it; a reaper of the spawner's has both ends of its call.
fn assert_readings_in_order(c: &Value) {
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

fn done(lines: &[Value]) -> Value {
    lines.last().cloned().unwrap()
}

fn pids(ready: &Value) -> Vec<i32> {
    ready["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect()
}

fn num(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

/// (state, ppid) from /proc/<pid>/stat.
fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    Some((f.next()?.chars().next()?, f.next()?.parse().ok()?))
}

fn mono_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Polls until `pred` holds, for at most `within`.
fn eventually(within: Duration, mut pred: impl FnMut() -> bool) -> bool {
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
fn children_of(ppid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|(_, p)| p == ppid))
        .collect()
}

fn gone(pid: i32) -> bool {
    stat(pid).is_none()
}

fn assert_all_gone(pids: &[i32]) {
    for &pid in pids {
        assert!(
            eventually(Duration::from_secs(6), || gone(pid)),
            "{pid} left behind: {:?}",
            stat(pid)
        );
    }
}

#[test]
fn delayed_reports_the_delay_and_the_child_was_a_zombie_before() {
    let mut s = Spawner::start(&[
        "delayed",
        "--children",
        "2",
        "--delay",
        "300ms",
        "--exit-code",
        "7",
    ]);
    let ready = s.ready();
    assert_eq!(ready["parent_pid"], s.pid());
    let kids = pids(&ready);
    assert_eq!(kids.len(), 2);
    for &pid in &kids {
        assert_eq!(stat(pid).map(|s| s.1), Some(s.pid()));
        assert!(
            eventually(Duration::from_millis(250), || stat(pid)
                .is_some_and(|s| s.0 == 'Z')),
            "{pid} never showed Z"
        );
    }
    let spawner = s.pid();
    let (lines, status) = s.finish();
    assert!(status.success());
    let got = children(&lines);
    assert_eq!(got.len(), 2);
    for c in &got {
        assert_eq!(c["reap"], "wait4");
        assert_eq!(c["reaper_pid"], spawner);
        assert_eq!(c["ppid"], spawner);
        assert_eq!(c["exit_code"], 7);
        assert_eq!(c["signal"], Value::Null);
        let z = num(c, "zombie_ns");
        assert_eq!(z, num(c, "reaped_ns") - num(c, "gone_ns"));
        assert!(c["exiting_ns"].is_i64(), "each child stamped its exit: {c}");
        assert!(
            num(c, "reap_call_ns") - num(c, "gone_ns") >= 300 * MS,
            "the call came --delay after the child was seen gone: {c}"
        );
        assert_delay(z, 300 * MS, c);
    }
    let d = done(&lines);
    assert_eq!(
        (d["children"].as_i64(), d["reaped"].as_i64()),
        (Some(2), Some(2))
    );
    assert_all_gone(&kids);
}

#[test]
fn delayed_with_waitid_pidfd_and_a_signal() {
    let (lines, status) = run(&["delayed", "--reap", "waitid", "--delay", "20ms"]);
    assert!(status.success());
    assert_eq!(children(&lines)[0]["reap"], "waitid");
    let (lines, status) = run(&[
        "delayed",
        "--reap",
        "pidfd",
        "--delay",
        "20ms",
        "--kill-with",
        "SEGV",
    ]);
    assert!(status.success());
    let c = &children(&lines)[0];
    assert_eq!(c["reap"], "waitid_pidfd");
    assert_eq!(c["signal"], libc::SIGSEGV);
    assert_eq!(c["exit_code"], Value::Null);
    assert_delay(num(c, "zombie_ns"), 20 * MS, c);
}

#[test]
fn never_holds_zombies_until_sigterm_then_nothing_is_left() {
    let mut s = Spawner::start(&["never", "--children", "3", "--hold", "30s"]);
    let ready = s.ready();
    let parent = num(&ready, "parent_pid") as i32;
    assert_ne!(parent, s.pid());
    let kids = pids(&ready);
    for &pid in &kids {
        assert_eq!(
            stat(pid),
            Some(('Z', parent)),
            "{pid} is a zombie of {parent}"
        );
    }
    thread::sleep(Duration::from_millis(100));
    for &pid in &kids {
        assert_eq!(stat(pid), Some(('Z', parent)), "{pid} still held");
    }
    let spawner = s.pid();
    s.signal(libc::SIGTERM);
    let (lines, status) = s.finish();
    assert!(status.success(), "SIGTERM is how a hold ends: {status}");
    let got = children(&lines);
    assert_eq!(got.len(), 3);
    for c in &got {
        assert_eq!(c["reap"], "init");
        assert_eq!(c["ppid"], parent);
        assert_eq!(c["reaper_pid"], Value::Null);
        assert_eq!(c["exit_code"], 0, "status read from /proc while held");
    }
    assert_eq!(done(&lines)["interrupted"], true);
    assert_all_gone(&kids);
    assert_all_gone(&[parent]);
    assert!(children_of(spawner).is_empty());
}

#[test]
fn never_with_subreaper_is_reaped_by_the_top() {
    let (lines, status) = run(&[
        "never",
        "--children",
        "2",
        "--hold",
        "300ms",
        "--subreaper",
        "--exit-code",
        "3",
    ]);
    assert!(status.success());
    let spawner = num(&lines[0], "spawner_pid");
    let parent = num(&lines[0], "parent_pid");
    for c in children(&lines) {
        assert_eq!(c["reap"], "wait4");
        assert_eq!(num(&c, "reaper_pid"), spawner);
        assert_eq!(num(&c, "ppid"), parent);
        assert_eq!(c["exit_code"], 3);
        assert!(
            num(&c, "zombie_ns") < 50 * MS,
            "reaped as soon as it was adopted: {c}"
        );
    }
    assert_eq!(done(&lines)["reaped"], 2);
}

#[test]
fn ignore_and_nocldwait_never_show_a_zombie() {
    for scenario in ["ignore", "nocldwait"] {
        let mut s = Spawner::start(&[
            scenario,
            "--children",
            "3",
            "--hold",
            "500ms",
            "--exit-code",
            "6",
        ]);
        let ready = s.ready();
        let parent = num(&ready, "parent_pid") as i32;
        let kids = pids(&ready);
        assert_eq!(kids.len(), 3);
        // While the parent runs: no child of it in /proc at all, so no zombie.
        for _ in 0..10 {
            assert_eq!(
                stat(parent).map(|s| s.1),
                Some(s.pid()),
                "{scenario}: parent alive"
            );
            assert!(
                children_of(parent).is_empty(),
                "{scenario}: {:?}",
                children_of(parent)
            );
            assert!(
                kids.iter().all(|&k| gone(k)),
                "{scenario}: a child is visible"
            );
            thread::sleep(Duration::from_millis(10));
        }
        let (lines, status) = s.finish();
        assert!(status.success());
        let got = children(&lines);
        assert_eq!(got.len(), 3);
        for c in &got {
            assert_eq!(c["reap"], "autoreap", "{c}");
            assert!(c["reaper_pid"].is_null() && c["gone_ns"].is_null(), "{c}");
            assert!(c["exit_code"] == 6 || c["exit_code"].is_null(), "{c}");
        }
        let d = done(&lines);
        assert_eq!(d["autoreaped"], 3);
        if scenario == "nocldwait" {
            assert!(num(&d, "sigchld") >= 1, "the real handler ran: {d}");
        }
    }
}

#[test]
fn caught_no_wait_and_blocked_hold_zombies() {
    for scenario in ["caught-no-wait", "blocked"] {
        let mut s = Spawner::start(&[scenario, "--children", "2", "--hold", "300ms"]);
        let ready = s.ready();
        let parent = num(&ready, "parent_pid") as i32;
        for pid in pids(&ready) {
            assert_eq!(stat(pid), Some(('Z', parent)), "{scenario}");
        }
        let (lines, status) = s.finish();
        assert!(status.success());
        assert!(children(&lines).iter().all(|c| c["reap"] == "init"));
        if scenario == "caught-no-wait" {
            assert!(num(&done(&lines), "sigchld") >= 1);
        }
    }
}

#[test]
fn orphan_with_subreaper_is_reaped_by_the_top() {
    let mut s = Spawner::start(&[
        "orphan",
        "--subreaper",
        "--delay",
        "300ms",
        "--reap-delay",
        "50ms",
    ]);
    let ready = s.ready();
    let (spawner, parent) = (s.pid(), num(&ready, "parent_pid") as i32);
    let kid = pids(&ready)[0];
    // Its parent exits; it lives on, adopted by the subreaper.
    assert!(
        eventually(Duration::from_millis(250), || stat(kid)
            .is_some_and(|s| s.1 == spawner)),
        "{:?}",
        stat(kid)
    );
    assert!(
        eventually(Duration::from_secs(1), || gone(parent)),
        "the top reaped the parent"
    );
    let (lines, status) = s.finish();
    assert!(status.success());
    let c = &children(&lines)[0];
    assert_eq!(c["reap"], "wait4");
    assert_eq!(c["reaper_pid"], spawner);
    assert_eq!(c["ppid"], parent);
    assert_delay(num(c, "zombie_ns"), 50 * MS, c);
}

#[test]
fn orphan_without_subreaper_goes_to_init() {
    let (lines, status) = run(&[
        "orphan",
        "--children",
        "2",
        "--delay",
        "50ms",
        "--exit-code",
        "4",
    ]);
    assert!(status.success());
    let got = children(&lines);
    assert_eq!(got.len(), 2);
    for c in &got {
        assert_eq!(c["reap"], "init", "{c}");
        assert!(c["reaper_pid"].is_null() && c["zombie_ns"].is_null(), "{c}");
        // Known from the pidfd after init reaped it (Linux 6.15+), else null.
        assert!(c["exit_code"] == 4 || c["exit_code"].is_null(), "{c}");
    }
    assert_all_gone(&pids(&lines[0]));
}

#[test]
fn threaded_leader_is_not_reapable_until_its_last_thread_ends() {
    let mut s = Spawner::start(&[
        "threaded-leader",
        "--delay",
        "400ms",
        "--reap-delay",
        "20ms",
        "--exit-code",
        "5",
    ]);
    let ready = s.ready();
    let t_ready = mono_ns();
    let pid = pids(&ready)[0];
    // SAFETY: pidfd_open on a pid we were told about; poll with zero timeout.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(fd >= 0, "pidfd_open");
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    assert_eq!(
        unsafe { libc::poll(&mut pfd, 1, 0) },
        0,
        "pidfd readable while a thread lives"
    );
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    assert_eq!(tasks, 2, "a zombie leader and a live thread");
    // SAFETY: as above, now waiting for the group to end.
    assert_eq!(unsafe { libc::poll(&mut pfd, 1, 5000) }, 1);
    let t_readable = mono_ns();
    // SAFETY: our descriptor.
    unsafe { libc::close(fd) };
    assert!(
        t_readable - t_ready >= 300 * MS,
        "the group ended after the other thread's delay"
    );
    let (lines, status) = s.finish();
    assert!(status.success());
    let c = &children(&lines)[0];
    assert_eq!(c["reap"], "wait4");
    assert_eq!(c["exit_code"], 5);
    assert!(num(c, "gone_ns") - t_ready >= 300 * MS, "{c}");
    assert!(
        support::late_wakeups() || (num(c, "gone_ns") - t_readable).abs() < 20 * MS,
        "the spawner and this test saw the group end within 20 ms: {c}"
    );
    // The last thread's own reading: after its delay, before the group turned readable.
    assert!(num(c, "exiting_ns") - t_ready >= 300 * MS, "{c}");
    assert!(num(c, "exiting_ns") <= t_readable, "{c}");
    assert_delay(num(c, "zombie_ns"), 20 * MS, c);
}

#[test]
fn wnowait_peeks_then_reaps_once() {
    let (lines, status) = run(&["wnowait", "--children", "2", "--delay", "100ms"]);
    assert!(status.success());
    let got = children(&lines);
    assert_eq!(got.len(), 2, "one line (one reap) per child");
    let mut seen: Vec<i64> = got.iter().map(|c| num(c, "pid")).collect();
    seen.dedup();
    assert_eq!(seen.len(), 2);
    for c in &got {
        assert_eq!(c["reap"], "waitid");
        assert_delay(num(c, "zombie_ns"), 100 * MS, c);
    }
    // Every 2 ms for 100 ms; a process that runs late peeks less, but at least once a child.
    let peeks = num(&done(&lines), "peeks");
    assert!(peeks >= 2, "{peeks} peeks");
    assert!(
        support::late_wakeups() || peeks >= 40,
        "{peeks} peeks: not every few ms"
    );
}

#[test]
fn exec_leak_parent_is_sleep_and_its_child_a_zombie() {
    let mut s = Spawner::start(&["exec-leak", "--hold", "30s"]);
    let ready = s.ready();
    let parent = num(&ready, "parent_pid") as i32;
    let exe = std::fs::read_link(format!("/proc/{parent}/exe")).unwrap();
    assert!(exe.to_string_lossy().ends_with("/sleep"), "{exe:?}");
    let kid = pids(&ready)[0];
    assert_eq!(stat(kid), Some(('Z', parent)));
    s.signal(libc::SIGTERM);
    let (lines, status) = s.finish();
    assert!(status.success());
    let c = &children(&lines)[0];
    assert_eq!(
        (c["reap"].as_str(), c["ppid"].as_i64()),
        (Some("init"), Some(parent as i64))
    );
    assert_all_gone(&[kid, parent]);
}

#[test]
fn io_uring_reaps() {
    if !support::kernel_at_least(6, 7) {
        // No IORING_OP_WAITID before 6.7: the spawner must say so clearly.
        let out = Command::new(BIN)
            .args(["spawn", "io-uring", "--json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("IORING_OP_WAITID") && stderr.contains("6.7"),
            "{stderr}"
        );
        return;
    }
    let (lines, status) = run(&[
        "io-uring",
        "--children",
        "2",
        "--delay",
        "30ms",
        "--exit-code",
        "9",
    ]);
    assert!(status.success());
    for c in children(&lines) {
        assert_eq!(c["reap"], "io_uring");
        assert_eq!(c["exit_code"], 9);
        assert_delay(num(&c, "zombie_ns"), 30 * MS, &c);
    }
}

#[test]
fn storm_reports_a_rate() {
    let (lines, status) = run(&["storm", "--parents", "2", "--duration", "300ms"]);
    assert!(status.success());
    let d = done(&lines);
    let unpaced = d["rate"].as_f64().unwrap();
    assert!(unpaced > 0.0, "{d}");
    assert!(num(&d, "exits") > 0);
    assert!(children(&lines).is_empty(), "no per-child lines by default");
    assert_all_gone(&pids_of_storm(&lines[0]));

    let (lines, status) = run(&[
        "storm",
        "--rate",
        "200",
        "--duration",
        "500ms",
        "--per-child",
    ]);
    assert!(status.success());
    let d = done(&lines);
    let rate = d["rate"].as_f64().unwrap();
    // Paced: never faster than asked. As fast as asked wherever the machine can go well beyond
    // it (an emulated, busy CPU may not: the unpaced storm just measured what it can do).
    assert!(rate < 250.0, "{d}");
    if unpaced > 2000.0 {
        assert!(rate >= 150.0, "{d} (unpaced: {unpaced:.0}/s)");
    }
    assert_eq!(children(&lines).len() as i64, num(&d, "exits"));
}

fn pids_of_storm(ready: &Value) -> Vec<i32> {
    ready["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect()
}

#[test]
fn bad_input_is_refused_clearly() {
    for (args, code, says) in [
        (&["never", "--children", "100000"][..], 1, "at most 1000"),
        (&["storm", "--rate", "1e12"][..], 1, "at most"),
        (&["storm", "--parents", "1000"][..], 1, "1..=64"),
        (&["never", "--hold", "2h"][..], 1, "at most 1h"),
        (&["delayed", "--exit-code", "300"][..], 1, "0..=255"),
        (
            &["delayed", "--kill-with", "STOP"][..],
            2,
            "does not end a process",
        ),
        (&["delayed", "--delay", "30"][..], 2, "no unit"),
        (&["no-such-scenario"][..], 2, "unrecognized"),
    ] {
        let out = Command::new(BIN).arg("spawn").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        if code == 1 {
            assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
        }
    }
}

#[test]
fn sigterm_during_a_delay_leaves_nothing_behind() {
    let mut s = Spawner::start(&["delayed", "--children", "3", "--delay", "30s"]);
    let kids = pids(&s.ready());
    let spawner = s.pid();
    assert!(eventually(Duration::from_secs(2), || kids
        .iter()
        .all(|&k| stat(k).is_some_and(|s| s.0 == 'Z'))));
    let t = Instant::now();
    s.signal(libc::SIGTERM);
    let (lines, status) = s.finish();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    assert_eq!(
        children(&lines).len(),
        3,
        "the zombies it reaped on the way out"
    );
    assert_eq!(done(&lines)["interrupted"], true);
    assert!(children_of(spawner).is_empty());
    assert_all_gone(&kids);
}

#[test]
fn sigint_or_sigkill_while_orphans_or_threads_live_leaves_nothing_behind() {
    // SIGINT: the top kills the live orphans and reaps what it adopted.
    let mut s = Spawner::start(&["orphan", "--children", "2", "--delay", "30s", "--subreaper"]);
    let ready = s.ready();
    let kids = pids(&ready);
    s.signal(libc::SIGINT);
    let (_, status) = s.finish();
    assert_eq!(status.code(), Some(128 + libc::SIGINT));
    assert_all_gone(&kids);

    // SIGKILL: no cleanup runs, yet the orphans notice (lifeline) and end.
    let mut s = Spawner::start(&["orphan", "--children", "2", "--delay", "30s"]);
    let kids = pids(&s.ready());
    s.signal(libc::SIGKILL);
    let _ = s.child.wait();
    assert_all_gone(&kids);

    // SIGKILL with a threaded child whose survivor thread waits 30s.
    let mut s = Spawner::start(&["threaded-leader", "--delay", "30s"]);
    let kids = pids(&s.ready());
    s.signal(libc::SIGKILL);
    let _ = s.child.wait();
    assert_all_gone(&kids);

    // SIGKILL during a hold: the parent dies with the top (PDEATHSIG), init reaps the zombies.
    let mut s = Spawner::start(&["exec-leak", "--children", "2", "--hold", "30s"]);
    let ready = s.ready();
    let parent = num(&ready, "parent_pid") as i32;
    s.signal(libc::SIGKILL);
    let _ = s.child.wait();
    let mut all = pids(&ready);
    all.push(parent);
    assert_all_gone(&all);
}

#[test]
fn human_output_without_json() {
    let out = Command::new(BIN)
        .args(["spawn", "delayed", "--delay", "10ms"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("reaped by") && text.contains("done:"),
        "{text}"
    );
    assert!(!text.contains('{'), "{text}");
}
