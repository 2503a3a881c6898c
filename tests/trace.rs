//! The tracer against real processes made on purpose by the spawner, compared with the ground
//! truth the spawner measured first-hand: when each child became a zombie and when it was
//! reaped, by whom and how, for every scenario (wait calls, signals, autoreap, orphans, threads,
//! memory teardown, pid namespaces). Runs as root (CI does): these tests load eBPF. Every tracer
//! here watches the whole system; each test looks only at the pids it made.

mod support;

use std::{process::Command, thread};

use serde_json::Value;
use support::{
    Tracer, WAIT, assert_close, assert_reap_in_bracket, assert_zombie_in_bracket, children,
    delayed, ns, spawn, spawner_pid,
};

/// "within 2 ms of what the parent itself measured"
const TOLERANCE_NS: i64 = 2_000_000;

fn tracer() -> Tracer {
    // Spawner children keep the binary's name; filtering by it keeps the output small.
    Tracer::start(&["--comm", "zombietrace"])
}

/// Checks one child's zombie and reap events against its ground truth.
fn check_child(tracer: &mut Tracer, truth: &Value, reap_kind: &str) -> Value {
    let pid = truth["pid"].as_u64().expect("pid");
    let reap = tracer.reap_of(pid, WAIT);
    let zombies: Vec<Value> = tracer
        .events_of(pid)
        .into_iter()
        .filter(|v| v["event"] == "zombie")
        .collect();
    assert_eq!(zombies.len(), 1, "one zombie event for {pid}: {zombies:?}");
    let reaps = tracer
        .events_of(pid)
        .into_iter()
        .filter(|v| v["event"] == "reap")
        .count();
    assert_eq!(reaps, 1, "one reap event for {pid}");
    assert_eq!(reap["reap"], reap_kind, "{reap}");
    assert_eq!(reap["ppid"], zombies[0]["ppid"]);
    assert_eq!(reap["exit_code"], truth["exit_code"], "{reap}");
    assert_eq!(reap["signal"], truth["signal"], "{reap}");
    assert_eq!(zombies[0]["since"], "notified");
    assert!(zombies[0]["start_ns"].as_u64().unwrap() > 0);
    if let Some(reaper) = truth["reaper_pid"].as_u64() {
        assert_eq!(reap["reaper_pid"], reaper, "{reap}");
    }
    reap
}

#[test]
fn wait4_after_known_delays() {
    let mut tracer = tracer();
    let runs: Vec<_> = ["10ms", "300ms", "2s"]
        .into_iter()
        .map(|d| thread::spawn(move || delayed("wait4", d, &[])))
        .collect();
    for run in runs {
        let truth = run.join().unwrap();
        for child in children(&truth) {
            assert_eq!(child["reap"], "wait4");
            let reap = check_child(&mut tracer, &child, "wait4");
            assert_eq!(reap["call"], "wait4");
            assert_eq!(reap["exit_code"], 7);
            assert_close(&reap, &child, TOLERANCE_NS);
        }
    }
    let (_, summary) = tracer.stop();
    assert_eq!(summary["lost"], 0);
}

#[test]
fn waitid_and_pidfd() {
    let mut tracer = tracer();
    for (how, call) in [("waitid", "waitid"), ("pidfd", "waitid_pidfd")] {
        let truth = delayed(how, "300ms", &["--children", "2"]);
        let kids = children(&truth);
        assert_eq!(kids.len(), 2);
        for child in kids {
            let reap = check_child(&mut tracer, &child, "waitid");
            assert_eq!(reap["call"], call);
            assert_close(&reap, &child, TOLERANCE_NS);
        }
    }
}

#[test]
fn killed_child_reports_its_signal() {
    let mut tracer = tracer();
    let truth = spawn(&[
        "delayed",
        "--reap",
        "wait4",
        "--delay",
        "50ms",
        "--kill-with",
        "KILL",
    ]);
    for child in children(&truth) {
        let reap = check_child(&mut tracer, &child, "wait4");
        assert_eq!(reap["signal"], 9);
        assert_eq!(reap["exit_code"], Value::Null);
        assert_close(&reap, &child, TOLERANCE_NS);
    }
}

#[test]
fn ignored_sigchld_and_nocldwait_are_autoreaped() {
    let mut tracer = tracer();
    for scenario in ["ignore", "nocldwait"] {
        let truth = spawn(&[scenario, "--children", "2"]);
        let kids = children(&truth);
        assert_eq!(kids.len(), 2, "{truth:?}");
        for child in kids {
            let pid = child["pid"].as_u64().unwrap();
            let reap = tracer.reap_of(pid, WAIT);
            assert_eq!(reap["reap"], "autoreap", "{scenario}: {reap}");
            assert_eq!(reap["call"], "autoreap");
            assert_eq!(reap["zombie_ns"], 0);
            assert_eq!(reap["approx"], false);
            assert_eq!(reap["reaper_pid"], reap["ppid"]);
            // With SIG_IGN no signal is sent: the time is the start of the exit.
            let since = if scenario == "ignore" {
                "exit_start"
            } else {
                "notified"
            };
            assert_eq!(reap["since"], since, "{reap}");
        }
    }
}

#[test]
fn orphan_reaped_by_a_subreaper() {
    let mut tracer = tracer();
    let truth = spawn(&[
        "orphan",
        "--subreaper",
        "--delay",
        "200ms",
        "--reap-delay",
        "100ms",
    ]);
    let spawner = spawner_pid(&truth);
    let kids = children(&truth);
    let orphan = kids
        .iter()
        .find(|c| c["reaper_pid"] == spawner && c["reap"] == "wait4")
        .unwrap_or_else(|| panic!("an orphan reaped by the subreaper in {truth:?}"));
    let pid = orphan["pid"].as_u64().unwrap();
    let reap = tracer.reap_of(pid, WAIT);
    assert_eq!(reap["reap"], "reparented", "{reap}");
    assert_eq!(reap["reaper_role"], "subreaper");
    assert_eq!(reap["reaper_pid"], spawner);
    assert_eq!(reap["call"], "wait4");
    assert_eq!(reap["approx"], false);
    assert_close(&reap, orphan, TOLERANCE_NS);
}

#[test]
fn threaded_leader_is_a_zombie_only_when_its_last_thread_exits() {
    let mut tracer = tracer();
    let truth = spawn(&[
        "threaded-leader",
        "--delay",
        "300ms",
        "--reap-delay",
        "100ms",
    ]);
    for child in children(&truth) {
        let reap = check_child(&mut tracer, &child, "wait4");
        // The zombie moment is when the last thread ended, not when the leader did (300 ms
        // before): after the surviving thread's own last reading, which assert_close checks...
        assert!(
            child["exiting_ns"].is_u64(),
            "the last thread's stamp: {child}"
        );
        assert_close(&reap, &child, TOLERANCE_NS);
        // ...and, where wake-ups are prompt, when the spawner saw the group gone.
        let zombie_ts = ns(&reap, "zombie_ts_ns");
        let gone = ns(&child, "gone_ns");
        assert!(
            support::late_wakeups() || (zombie_ts - gone).abs() <= TOLERANCE_NS,
            "zombie at {zombie_ts}, gone at {gone}\nreap: {reap}\ntruth: {child}"
        );
    }
}

#[test]
fn memory_teardown_is_not_zombie_time() {
    let mut tracer = tracer();
    let truth = delayed("wait4", "50ms", &["--touch-mib", "1024"]);
    for child in children(&truth) {
        let reap = check_child(&mut tracer, &child, "wait4");
        assert_close(&reap, &child, TOLERANCE_NS);
    }
}

#[test]
fn pid_namespaces_report_both_pids() {
    let mut tracer = Tracer::start(&["--comm", "sh"]);
    let unshare = Command::new("unshare")
        .args(["--pid", "--fork", "sh", "-c", "sh -c 'exit 3'; exit 4"])
        .spawn()
        .unwrap();
    let unshare_pid = unshare.id() as u64;
    let out = unshare.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "unshare: {:?}", out.status);
    // The namespace's init (pid 1 inside), reaped by unshare.
    let init = tracer.wait_for("namespace init's reap", WAIT, |v| {
        v["event"] == "reap" && v["ppid"] == unshare_pid
    });
    assert_eq!(init["nspid"], 1, "{init}");
    assert_eq!(init["exit_code"], 4);
    let init_pid = init["pid"].as_u64().unwrap();
    // Its child (pid 2 inside), reaped by it with wait4: the pid wait4 returned is the
    // namespace's, and zombietrace still reports the initial namespace's pid.
    let child = tracer.wait_for("inner child's reap", WAIT, |v| {
        v["event"] == "reap" && v["ppid"] == init_pid
    });
    assert_eq!(child["nspid"], 2, "{child}");
    assert_ne!(child["pid"], 2);
    assert_eq!(child["exit_code"], 3);
    assert_eq!(child["reap"], "wait4");
    assert_eq!(child["reaper_pid"], init_pid);
}

/// What the tracer must say about a child, given what the spawner saw first-hand.
fn check_against_truth(tracer: &mut Tracer, truth: &Value) {
    let pid = truth["pid"].as_u64().unwrap();
    let reap = tracer.reap_of(pid, WAIT);
    let adopted = truth["reaper_pid"].is_u64() && truth["reaper_pid"] != truth["ppid"];
    let context = format!("\nreap: {reap}\ntruth: {truth}");
    match truth["reap"].as_str().unwrap() {
        "autoreap" => assert_eq!(reap["reap"], "autoreap", "{context}"),
        "init" => {
            assert_eq!(reap["reap"], "reparented", "{context}");
            assert_eq!(reap["reaper_role"], "init", "{context}");
        }
        "io_uring" => {
            // Timed and attributed from io_uring's own completion, which carries the child:
            // exact, like a wait call, and the submission is when the parent asked.
            assert_eq!(reap["reap"], "io_uring", "{context}");
            assert_eq!(reap["call"], "io_uring_waitid", "{context}");
            assert_eq!(reap["approx"], false, "{context}");
            assert_eq!(reap["reaper_pid"], truth["reaper_pid"], "{context}");
            assert_close(&reap, truth, TOLERANCE_NS);
            let (ask, wake) = (ns(&reap, "ask_ns"), ns(&reap, "wake_ns"));
            assert_eq!(ask + wake, ns(&reap, "zombie_ns"), "{context}");
        }
        call if adopted => {
            assert_eq!(reap["reap"], "reparented", "{context}");
            assert_eq!(reap["reaper_role"], "subreaper", "{context}");
            assert_eq!(reap["reaper_pid"], truth["reaper_pid"], "{context}");
            assert_eq!(reap["call"], call, "{context}");
            // The reaper saw the parent die, not the child: its zombie time is not the
            // child's, but the zombie moment still lies before `gone_ns`; compare the reaps.
            assert_zombie_in_bracket(&reap, truth, TOLERANCE_NS);
            assert_reap_in_bracket(&reap, truth, TOLERANCE_NS);
            let late = (ns(&reap, "ts_ns") - ns(truth, "reaped_ns")).abs();
            assert!(
                support::late_wakeups() || late <= TOLERANCE_NS,
                "reap time off by {late} ns{context}"
            );
        }
        call => {
            let kind = if call == "wait4" { "wait4" } else { "waitid" };
            assert_eq!(reap["reap"], kind, "{context}");
            assert_eq!(reap["call"], call, "{context}");
            assert_eq!(reap["reaper_pid"], truth["reaper_pid"], "{context}");
            assert_close(&reap, truth, TOLERANCE_NS);
        }
    }
    // Before Linux 6.15 a process's exit status is gone once someone else reaped it, so the
    // spawner may not know it for children that init or the kernel released.
    let known = !(truth["exit_code"].is_null() && truth["signal"].is_null());
    if known {
        assert_eq!(reap["exit_code"], truth["exit_code"], "{context}");
    }
}

#[test]
fn every_scenario_is_reported_as_the_spawner_saw_it() {
    let tracer = tracer();
    // From Linux 5.11 the programs read kernel memory with plain, type-checked loads; before,
    // with probe reads (the next test runs the same scenarios that way on every kernel).
    let reads = if support::kernel_at_least(5, 11) {
        "(BTF-typed reads)"
    } else {
        "(probe reads)"
    };
    assert!(tracer.started.contains(reads), "{}", tracer.started);
    every_scenario(tracer);
}

/// The probe-read programs, asked for, report every scenario as the typed ones do.
#[test]
fn every_scenario_with_probe_reads() {
    let tracer = Tracer::start_with_env(
        &["--comm", "zombietrace"],
        &[("ZOMBIETRACE_READS", "probe")],
    );
    assert!(
        tracer.started.contains("(probe reads)"),
        "{}",
        tracer.started
    );
    every_scenario(tracer);
}

/// Runs every spawner scenario at once and checks each child against its ground truth.
fn every_scenario(mut tracer: Tracer) {
    let scenarios: [&[&str]; 11] = [
        &["never", "--children", "2", "--hold", "300ms", "--subreaper"],
        &["ignore", "--children", "2"],
        &["nocldwait", "--children", "2"],
        &[
            "threaded-leader",
            "--delay",
            "300ms",
            "--reap-delay",
            "100ms",
        ],
        &[
            "caught-no-wait",
            "--children",
            "2",
            "--hold",
            "300ms",
            "--subreaper",
        ],
        &[
            "blocked",
            "--children",
            "2",
            "--hold",
            "300ms",
            "--subreaper",
            "--exit-code",
            "5",
        ],
        &["wnowait", "--delay", "200ms", "--peek-every", "100us"],
        &["exec-leak", "--hold", "300ms", "--subreaper"],
        &["io-uring", "--children", "2", "--delay", "50ms"],
        &["orphan", "--delay", "100ms"],
        &[
            "delayed",
            "--children",
            "3",
            "--reap",
            "pidfd",
            "--delay",
            "20ms",
        ],
    ];
    // io_uring's IORING_OP_WAITID exists from 6.7 (tests/spawn.rs checks the clear refusal
    // on older kernels).
    let runs: Vec<_> = scenarios
        .iter()
        .filter(|args| args[0] != "io-uring" || support::kernel_at_least(6, 7))
        .map(|args| {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                (args.join(" "), spawn(&args))
            })
        })
        .collect();
    for run in runs {
        let (args, truth) = run.join().unwrap();
        let kids = children(&truth);
        assert!(!kids.is_empty(), "{args}: no children in {truth:?}");
        for child in &kids {
            check_against_truth(&mut tracer, child);
        }
    }
    let (_, summary) = tracer.stop();
    assert_eq!(summary["lost"], 0);
}
