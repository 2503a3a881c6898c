//! Where pid_max exceeds the kernel side's per-process slots (systemd machines raise it to
//! 4,194,304), processes share slots and the rest go to a hash. With one slot for everything
//! (`ZOMBIETRACE_TASK_SLOTS=1`), every path that depends on it must still come out right:
//! who forked whom (a reparented reap), reaps by wait calls, autoreaps, and nothing left over.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Tracer, children, spawn, spawner_pid};

const WAIT: Duration = Duration::from_secs(20);

/// The tests here run one at a time: `shared_slots_lose_nothing` traces every process named
/// zombietrace, and the other test's tracer is one (its exit, a zombie until reaped, would be
/// counted outstanding if it came as the first test stopped).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn pid_of(v: &Value) -> u64 {
    v["pid"].as_u64().expect("pid")
}

#[test]
fn shared_slots_lose_nothing() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut tracer = Tracer::start_with_env(
        &["--comm", "zombietrace"],
        &[("ZOMBIETRACE_TASK_SLOTS", "1")],
    );

    // An orphan adopted by a subreaper while alive: only the first parent on record tells
    // that its reap by the subreaper is a reparented one.
    let truth = spawn(&[
        "orphan",
        "--subreaper",
        "--delay",
        "200ms",
        "--reap-delay",
        "50ms",
    ]);
    let spawner = spawner_pid(&truth);
    let orphans: Vec<Value> = children(&truth)
        .into_iter()
        .filter(|c| c["reaper_pid"] == spawner && c["reap"] == "wait4")
        .collect();
    assert!(
        !orphans.is_empty(),
        "no orphan reaped by the subreaper: {truth:?}"
    );
    for orphan in &orphans {
        let reap = tracer.reap_of(pid_of(orphan), WAIT);
        assert_eq!(reap["reap"], "reparented", "{reap}");
        assert_eq!(reap["reaper_role"], "subreaper", "{reap}");
        assert_eq!(reap["call"], "wait4", "{reap}");
    }

    // Reaps by wait calls, and releases by the kernel.
    let waited = spawn(&[
        "delayed",
        "--reap",
        "waitid",
        "--delay",
        "20ms",
        "--children",
        "3",
    ]);
    for child in children(&waited) {
        let reap = tracer.reap_of(pid_of(&child), WAIT);
        assert_eq!(reap["reap"], "waitid", "{reap}");
        assert_eq!(reap["approx"], false, "{reap}");
    }
    let ignored = spawn(&["ignore", "--children", "2"]);
    for child in children(&ignored) {
        let reap = tracer.reap_of(pid_of(&child), WAIT);
        assert_eq!(reap["reap"], "autoreap", "{reap}");
    }

    // A burst: every zombie paired with its reap, none left outstanding, no map refusals.
    let storm = spawn(&["storm", "--parents", "2", "--duration", "1s"]);
    let exits = storm
        .iter()
        .find(|v| v["event"] == "done")
        .and_then(|v| v["exits"].as_u64())
        .expect("storm done line");
    // Some tens under an emulated CPU on a busy host, thousands on hardware.
    assert!(exits > 20, "storm made only {exits} exits");
    let (events, summary) = tracer.stop();
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["parent_map_full"], 0, "{summary}");
    assert_eq!(summary["zombies"], summary["reaped"], "{summary}");
    let reaps = events.iter().filter(|v| v["event"] == "reap").count() as u64;
    assert_eq!(Some(reaps), summary["reaped"].as_u64());
    assert!(reaps >= exits, "{reaps} reaps for {exits} storm exits");
}

/// A first-parent hash that cannot take another entry: each refusal is counted in the kernel
/// and shown in the summary, read after the tracer dropped its capabilities (the counters are
/// a memory mapping, so this holds on kernels that check every bpf() call too). Its processes
/// carry a name of their own, so that the test above (run alongside) does not see them.
#[test]
fn a_full_parent_map_is_counted_and_shown() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let copy = support::own_copy("slots");
    let name = copy.file_name().unwrap().to_str().unwrap().to_string();
    let tracer = Tracer::start_with_env(
        &["--comm", &name],
        &[
            ("ZOMBIETRACE_TASK_SLOTS", "1"),
            ("ZOMBIETRACE_PARENT_MAP_ENTRIES", "1"),
        ],
    );
    // Children that live at once: all share the one slot, so all but the slot's holder go to
    // the hash, which takes one. The spawner, a subreaper, reaps them once their parent is gone.
    let out = std::process::Command::new(&copy)
        .args(["spawn", "never", "--children", "4", "--hold", "300ms"])
        .args(["--subreaper", "--json"])
        .output()
        .expect("run the spawner");
    let _ = std::fs::remove_file(&copy);
    assert!(out.status.success(), "spawner: {}", out.status);
    let (_, summary) = tracer.stop();
    let refused = summary["parent_map_full"]
        .as_u64()
        .expect("parent_map_full");
    assert!(
        refused >= 2,
        "4 children and their parent alive at once, one slot and one hash entry: {summary}"
    );
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["zombies"], summary["reaped"], "{summary}");
}
