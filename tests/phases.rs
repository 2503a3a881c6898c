//! Why a reap was slow, against ground truth: the spawner's phase scenarios make each phase
//! dominate on purpose, and the tracer's `ask_ns`, `wake_ns` and `handler_ns` are compared with
//! the moments the parent itself read. Runs as root (CI does): these tests load eBPF, and
//! `contended` runs a SCHED_FIFO hog. The spawner runs as a copy of the binary under a name of
//! this test's own, so each tracer (`--comm`) sees only this test's processes, never those of
//! other tracers or spawners on the machine; each test looks only at its own pids.

mod support;

use std::{path::PathBuf, sync::OnceLock};

use serde_json::Value;
use support::{
    Tracer, WAIT, assert_reap_in_bracket, children, late_wakeups, ns, own_copy, spawn_with,
    spawner_pid,
};

/// "within 2 ms of what the parent itself measured"
const TOLERANCE_NS: i64 = 2_000_000;
const MS: i64 = 1_000_000;

fn copy() -> &'static PathBuf {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| own_copy("ph"))
}

fn name() -> &'static str {
    copy().file_name().unwrap().to_str().unwrap()
}

fn tracer() -> Tracer {
    Tracer::start(&["--comm", name()])
}

fn spawn(args: &[&str]) -> Vec<Value> {
    spawn_with(copy().as_os_str(), args)
}

/// A phase the tracer must have measured.
fn phase(reap: &Value, field: &str) -> i64 {
    reap[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} missing: {reap}"))
}

/// `a` within TOLERANCE_NS of `b`; returns the error for the report.
fn assert_near(what: &str, a: i64, b: i64, reap: &Value, truth: &Value) -> i64 {
    let err = a - b;
    assert!(
        err.abs() <= TOLERANCE_NS,
        "{what}: {a} vs ground truth {b} ({err:+} ns, tolerance {TOLERANCE_NS})\nreap: {reap}\n\
         truth: {truth}"
    );
    err
}

/// The reap of the ground truth's child, checked for what every wait-based reap of a spawner
/// child must say: wait4 by its parent, the reap moment in the parent's bracket, the zombie
/// moment after the child's last reading, and phases that add up to the zombie time.
fn reap_of(tracer: &mut Tracer, child: &Value) -> Value {
    let pid = child["pid"].as_u64().expect("pid");
    let reap = tracer.reap_of(pid, WAIT);
    assert_eq!(reap["reap"], "wait4", "{reap}");
    assert_eq!(reap["call"], "wait4", "{reap}");
    assert_eq!(reap["reaper_pid"], child["reaper_pid"], "{reap}");
    assert_eq!(reap["ppid"], child["ppid"], "{reap}");
    assert_eq!(reap["exit_code"], child["exit_code"], "{reap}");
    assert_reap_in_bracket(&reap, child, TOLERANCE_NS);
    assert!(
        ns(&reap, "zombie_ts_ns") >= ns(child, "exiting_ns") - TOLERANCE_NS,
        "a zombie before the child's last reading\nreap: {reap}\ntruth: {child}"
    );
    assert_eq!(reap["ptrace_ns"], Value::Null, "nobody ptraces it: {reap}");
    assert_eq!(
        phase(&reap, "ask_ns") + phase(&reap, "wake_ns"),
        ns(&reap, "zombie_ns"),
        "ask + wake is the zombie time: {reap}"
    );
    reap
}

/// The entry of the reaping call, as the tracer has it (the zombie moment plus `ask_ns`), is
/// the parent's own reading right before that call; returns the error.
fn assert_entry(reap: &Value, child: &Value) -> i64 {
    let entry = ns(reap, "zombie_ts_ns") + phase(reap, "ask_ns");
    if late_wakeups() {
        // An emulated CPU may be descheduled between the reading and the call: the entry lies
        // between the reading before the call and the one after it returned.
        let (before, after) = (ns(child, "reap_call_ns"), ns(child, "reaped_ns"));
        assert!(
            before - TOLERANCE_NS <= entry && entry <= after + TOLERANCE_NS,
            "the reaping call's entry {entry} outside [{before}, {after}]\nreap: {reap}\n\
             truth: {child}"
        );
        return 0;
    }
    assert_near(
        "zombie_ts_ns + ask_ns (the reaping call's entry)",
        entry,
        ns(child, "reap_call_ns"),
        reap,
        child,
    )
}

/// The summary's verdict on the spawner (the parent of every child here).
fn verdict(summary: &Value, parent: u64) -> String {
    let p = summary["parents"]
        .as_array()
        .expect("parents")
        .iter()
        .find(|p| p["pid"] == parent)
        .unwrap_or_else(|| panic!("parent {parent} not in the summary: {summary}"));
    p["verdict"]
        .as_str()
        .unwrap_or_else(|| panic!("no verdict for the slow reaper {parent}: {p}"))
        .to_string()
}

#[test]
fn a_polling_parent_is_slow_to_ask() {
    let mut tracer = tracer();
    let truth = spawn(&[
        "poll",
        "--poll",
        "50ms",
        "--children",
        "3",
        "--exit-code",
        "3",
    ]);
    let kids = children(&truth);
    assert_eq!(kids.len(), 3, "{truth:?}");
    let done = truth.last().unwrap();
    assert!(done["polls"].as_u64().unwrap() >= 3, "{done}");
    for child in &kids {
        let reap = reap_of(&mut tracer, child);
        let ask = phase(&reap, "ask_ns");
        let wake = phase(&reap, "wake_ns");
        let entry_err = assert_entry(&reap, child);
        // The ask phase is the time from the exit to the successful poll's call.
        let since_exit = ns(child, "reap_call_ns") - ns(child, "exiting_ns");
        assert!(ask <= since_exit + TOLERANCE_NS, "{reap}\n{child}");
        let exit_err = if late_wakeups() {
            0
        } else {
            assert_near("ask_ns", ask, since_exit, &reap, child)
        };
        assert!(
            ask >= 25 * MS,
            "the first poll comes 50ms after the fork: {reap}"
        );
        assert!(ask > wake, "asking dominates: {reap}");
        assert_eq!(
            reap["handler_ns"],
            Value::Null,
            "no SIGCHLD handler: {reap}"
        );
        eprintln!(
            "poll: ask {ask} ns, wake {wake} ns; entry vs the poll's own reading {entry_err:+} ns; \
             ask vs (poll − child's last reading) {exit_err:+} ns"
        );
    }
    let (_, summary) = tracer.stop();
    let v = verdict(&summary, spawner_pid(&truth));
    assert!(v.contains("calls wait late"), "{v}");
}

#[test]
fn a_reap_in_the_sigchld_handler_says_when_the_handler_began() {
    let mut tracer = tracer();
    let mut blocked_parent = 0;
    for block in ["0ms", "100ms"] {
        let truth = spawn(&["handler", "--children", "2", "--block", block]);
        if block == "100ms" {
            blocked_parent = spawner_pid(&truth);
        }
        let kids = children(&truth);
        assert_eq!(kids.len(), 2, "{truth:?}");
        assert!(truth.last().unwrap()["sigchld"].as_u64().unwrap() >= 1);
        for child in &kids {
            let reap = reap_of(&mut tracer, child);
            let entry = ns(child, "handler_entry_ns");
            // A handler run reaps every child ready by then (wait4(-1, WNOHANG) until none): one
            // that exits while the run is under way is reaped by a handler that began before it
            // was a zombie, so no handler phase is its own. Near the boundary, either.
            let zombie = ns(&reap, "zombie_ts_ns");
            if entry < zombie - TOLERANCE_NS {
                assert_eq!(reap["handler_ns"], Value::Null, "{reap}\n{child}");
                continue;
            }
            if entry <= zombie + TOLERANCE_NS && reap["handler_ns"].is_null() {
                continue;
            }
            let handler = phase(&reap, "handler_ns");
            let start = ns(&reap, "zombie_ts_ns") + handler;
            let handler_err = if late_wakeups() {
                // An emulated CPU reaches the handler's first reading milliseconds after the
                // kernel delivered the signal: the delivery comes before it, that is all.
                assert!(start <= entry + TOLERANCE_NS, "{reap}\n{child}");
                0
            } else {
                assert_near(
                    "zombie_ts_ns + handler_ns (the handler's start)",
                    start,
                    entry,
                    &reap,
                    child,
                )
            };
            let entry_err = assert_entry(&reap, child);
            let ask = phase(&reap, "ask_ns");
            assert!(
                handler <= ask,
                "the handler began before its wait call: {reap}"
            );
            if block == "100ms" {
                assert!(
                    handler >= 80 * MS,
                    "SIGCHLD was blocked for 100ms after the fork: {reap}"
                );
            }
            eprintln!(
                "handler (block {block}): handler {handler} ns, ask {ask} ns; handler start vs its \
                 own first reading {handler_err:+} ns; entry vs its reading {entry_err:+} ns"
            );
        }
    }
    // It reaps as soon as its handler runs: the verdict blames the handler's late start, not
    // a late wait.
    let (_, summary) = tracer.stop();
    let v = verdict(&summary, blocked_parent);
    assert!(v.contains("the handler starts late"), "{v}");
}

#[test]
fn a_parent_whose_cpu_is_taken_is_slow_to_wake() {
    let mut tracer = tracer();
    let truth = spawn(&[
        "contended",
        "--children",
        "2",
        "--burst",
        "150ms",
        "--exit-at",
        "30ms",
    ]);
    let kids = children(&truth);
    assert_eq!(kids.len(), 2, "{truth:?}");
    let mut contended = 0;
    for child in &kids {
        let (exiting, hog_start, hog_end) = (
            ns(child, "exiting_ns"),
            ns(child, "hog_start_ns"),
            ns(child, "hog_end_ns"),
        );
        assert!(
            ns(child, "reap_call_ns") < exiting,
            "the parent waited before the child exited: {child}"
        );
        let reap = reap_of(&mut tracer, child);
        let wake = phase(&reap, "wake_ns");
        assert_eq!(phase(&reap, "ask_ns"), 0, "it was already waiting: {reap}");
        assert_eq!(wake, ns(&reap, "zombie_ns"));
        // The child exits 30 ms into the burst, on the other CPU; an emulated CPU on a busy
        // host may run it after the burst, and then there was no contention to see.
        let in_burst = hog_start < exiting && exiting < hog_end;
        if !in_burst && late_wakeups() {
            continue;
        }
        assert!(in_burst, "the child exited during the hog's burst: {child}");
        contended += 1;
        // It could not return before the hog let go of its CPU.
        assert!(
            ns(&reap, "ts_ns") >= hog_end - TOLERANCE_NS,
            "{reap}\n{child}"
        );
        let err = if late_wakeups() {
            0
        } else {
            assert_near(
                "wake_ns",
                wake,
                ns(child, "reaped_ns") - exiting,
                &reap,
                child,
            )
        };
        assert!(
            late_wakeups() || wake >= 60 * MS,
            "the hog held the CPU ~120ms after the exit: {reap}"
        );
        eprintln!(
            "contended: wake {wake} ns (hog until {} ns after the exit); wake vs (return − child's \
             last reading) {err:+} ns",
            hog_end - exiting
        );
    }
    let (_, summary) = tracer.stop();
    if contended > 0 {
        let v = verdict(&summary, spawner_pid(&truth));
        assert!(v.contains("blocked in wait but runs late"), "{v}");
    }
}
