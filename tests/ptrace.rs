//! A ptracer's wait is not a reap: under `strace -f`, a child's exit is told to strace first,
//! which collects it with its own wait4; the child is still a zombie until its real parent
//! reaps it. Runs as root (CI does): it loads eBPF. Host-only (`HOST_ONLY_TESTS` in
//! xtask/src/vmtest): it needs strace and python3, which the kernel matrix's guests do not have.
//! Without strace the test fails, naming what to install: it is never skipped silently.

mod support;

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use support::{Tracer, WAIT};

const SCRIPT: &str =
    "import os,time; p=os.fork(); os._exit(7) if p==0 else (time.sleep(1), os.waitpid(p,0))";

fn present(program: &str) -> bool {
    Command::new(program)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn under_strace_the_real_parent_reaps() {
    assert!(
        present("strace"),
        "strace is not installed (or does not run): this test needs it (apt-get install strace)"
    );
    assert!(
        present("python3"),
        "python3 is not installed (or does not run): this test needs it"
    );
    let mut tracer = Tracer::start(&["--comm", "python3"]);
    let mut strace = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "python3", "-c", SCRIPT])
        .spawn()
        .expect("start strace");
    let strace_pid = u64::from(strace.id());
    let status = strace.wait().expect("wait strace");
    assert!(status.success(), "strace python3 … failed: {status}");
    // python3 is strace's child: its own zombie names strace as its parent (and reaper).
    let python = tracer.wait_for("python3's own reap", WAIT, |v| {
        v["event"] == "reap" && v["ppid"] == strace_pid
    });
    let python_pid = python["pid"].as_u64().unwrap();
    let reap = tracer.wait_for(&format!("reap of the child of {python_pid}"), WAIT, |v| {
        v["event"] == "reap" && v["ppid"] == python_pid && v["exit_code"] == 7
    });
    assert_eq!(reap["reap"], "wait4", "{reap}");
    assert_eq!(reap["call"], "wait4", "{reap}");
    assert_eq!(
        reap["reaper_pid"], python_pid,
        "python reaped it, not strace: {reap}"
    );
    assert_eq!(reap["reaper_comm"], "python3", "{reap}");
    let zombie_ns = reap["zombie_ns"].as_u64().unwrap();
    assert!(
        (Duration::from_millis(900).as_nanos()..Duration::from_millis(1800).as_nanos())
            .contains(&u128::from(zombie_ns)),
        "python waits ~1 s before waitpid: {reap}"
    );
    // strace collected the exit first (its wait is not the reap), then python asked ~1 s later.
    let ptrace = reap["ptrace_ns"]
        .as_u64()
        .expect("ptrace_ns: strace was told first");
    let ask = reap["ask_ns"].as_u64().expect("ask_ns");
    let wake = reap["wake_ns"].as_u64().expect("wake_ns");
    assert_eq!(ptrace + ask + wake, zombie_ns, "{reap}");
    assert!(ask > ptrace && ask > wake, "asking dominates: {reap}");
    let reaps: Vec<Value> = tracer
        .events_of(reap["pid"].as_u64().unwrap())
        .into_iter()
        .filter(|v| v["event"] == "reap")
        .collect();
    assert_eq!(reaps.len(), 1, "one reap, strace's wait is none: {reaps:?}");
    eprintln!(
        "under strace: reaped by {python_pid} with wait4 after {zombie_ns} ns: ptrace {ptrace} \
         ns, ask {ask} ns, wake {wake} ns"
    );
    let (_, summary) = tracer.stop();
    assert_eq!(summary["lost"], 0);
}
