//! The spawner (`zombietrace spawn`) against the real system, in the scenarios where the parent
//! never reaps its children: zombies held (never, caught-no-wait, blocked, exec-leak), children
//! autoreaped (ignore, nocldwait), and orphans reaped by a subreaper or by init. Each
//! scenario's ground truth is checked with what /proc and the clock show from outside. No root
//! needed. Tests run in parallel; each looks only at the processes its own spawner made.

mod support;

use std::thread;
use std::time::Duration;

use serde_json::Value;
use support::spawner::{
    MS, Spawner, assert_all_gone, assert_delay, children, children_of, done, eventually, gone, num,
    pids, run, stat,
};

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
            "2s",
            "--exit-code",
            "6",
        ]);
        let ready = s.ready();
        let since = std::time::Instant::now();
        let parent = num(&ready, "parent_pid") as i32;
        let kids = pids(&ready);
        assert_eq!(kids.len(), 3);
        // While the parent runs (its 2 s hold; under an emulated CPU on a busy host each look
        // can take a tenth of it): no child of it in /proc at all, so no zombie.
        for look in 0..10 {
            if look > 0 && since.elapsed() > Duration::from_secs(1) {
                break;
            }
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
