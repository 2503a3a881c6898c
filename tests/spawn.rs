//! The spawner (`zombietrace spawn`) against the real system, in the scenarios where the parent
//! reaps its children itself, with each wait call (wait4, waitid, a pidfd, WNOWAIT peeks,
//! io_uring) and a threaded child: each scenario's ground truth is checked with what /proc,
//! pidfds and the clock show from outside. No root needed. Tests run in parallel; each looks
//! only at the processes its own spawner made.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::bin;
use support::spawner::{
    MS, Spawner, assert_all_gone, assert_delay, children, done, eventually, mono_ns, num, pids,
    run, stat,
};

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
fn io_uring_reaps() {
    if !support::kernel_at_least(6, 7) {
        // No IORING_OP_WAITID before 6.7: the spawner must say so clearly.
        let out = Command::new(bin())
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
fn a_poller_and_a_handler_time_the_calls_that_reap() {
    // Polls every 40 ms, the first 40 ms after the fork; the children exit at once.
    let (lines, status) = run(&["poll", "--children", "2", "--poll", "40ms"]);
    assert!(status.success());
    let got = children(&lines);
    assert_eq!(got.len(), 2);
    for c in &got {
        assert_eq!(c["reap"], "wait4");
        assert_eq!(c["zombie_ns"], Value::Null, "a poller never knew when: {c}");
        let asked = num(c, "reap_call_ns") - num(c, "exiting_ns");
        assert!(
            asked >= 30 * MS,
            "the first poll came 40ms after the fork: {c}"
        );
        assert!(
            support::late_wakeups() || asked < 40 * MS + 25 * MS,
            "the poll that found it reaped it: {c}"
        );
    }
    assert!(num(&done(&lines), "polls") >= 2);

    // SIGCHLD blocked for 50 ms, then the handler reaps all three in one run or more.
    let (lines, status) = run(&["handler", "--children", "3", "--block", "50ms"]);
    assert!(status.success());
    let got = children(&lines);
    assert_eq!(got.len(), 3);
    for c in &got {
        let entry = num(c, "handler_entry_ns");
        // 50 ms after the fork: after the child's exit, 45 ms or more unless the child ran late.
        assert!(entry > num(c, "exiting_ns"), "{c}");
        assert!(
            support::late_wakeups() || entry - num(c, "exiting_ns") >= 45 * MS,
            "{c}"
        );
        assert!(
            entry <= num(c, "reap_call_ns"),
            "the call is in the handler: {c}"
        );
    }
    let runs = num(&done(&lines), "sigchld");
    assert!((1..=3).contains(&runs), "{runs} handler runs");
}
