//! What the tracer tells beyond timings, against processes made by the spawner or by
//! `unshare`: leaking parents named with why (their SIGCHLD disposition, a blocked signal, an
//! exec), a container init that never reaps, zombies that existed before it started; and its
//! clear refusals without privileges or with bad flags. Runs as root (CI does): these tests
//! load eBPF. Every tracer here watches the whole system; each test looks only at the pids it
//! made.

mod support;

use std::process::Command;

use support::{Tracer, WAIT, bin, children, delayed};

type Lines = std::io::BufReader<std::process::ChildStdout>;

/// Runs a held scenario in the background until its `ready` line; returns the spawner, the
/// rest of its output (read it to the end after stopping it), and the parent's pid.
fn hold(args: &[&str]) -> (std::process::Child, Lines, u64) {
    let mut child = Command::new("chrt")
        .args(["--fifo", "10", bin(), "spawn"])
        .args(args)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
    let ready = support::read_until_ready(&mut lines);
    (
        child,
        lines,
        ready["parent_pid"].as_u64().expect("parent_pid"),
    )
}

#[test]
fn leaking_parents_are_named_with_why() {
    let mut tracer = Tracer::start(&[]);
    // (scenario, SIGCHLD disposition, blocked, words the verdict must contain)
    let cases = [
        ("never", "default", false, "never waits"),
        ("caught-no-wait", "caught", false, "handler"),
        ("blocked", "default", true, "blocked"),
        ("exec-leak", "default", false, ""),
    ];
    let mut held = Vec::new();
    for (scenario, sigchld, blocked, words) in cases {
        let (child, lines, parent) = hold(&[scenario, "--children", "2", "--hold", "20s"]);
        held.push((child, lines, parent, scenario, sigchld, blocked, words));
    }
    // A parent that reaps after 100 ms is not leaking with the default 1 s threshold.
    let quick = delayed("wait4", "100ms", &["--children", "3"]);
    let quick_parent = children(&quick)[0]["ppid"].as_u64().unwrap();
    for (_, _, parent, scenario, sigchld, blocked, words) in &held {
        let leak = tracer.wait_for(&format!("{scenario} leak"), WAIT, |v| {
            v["event"] == "leak" && v["pid"] == *parent
        });
        let context = format!("{scenario}: {leak}");
        assert!(leak["outstanding"].as_u64().unwrap() >= 1, "{context}");
        assert!(
            leak["oldest_age_ns"].as_u64().unwrap() >= 1_000_000_000,
            "{context}"
        );
        let d = &leak["diagnosis"];
        assert_eq!(d["sigchld"], *sigchld, "{context}");
        assert_eq!(d["sigchld_blocked"], *blocked, "{context}");
        let verdict = leak["verdict"].as_str().expect("a verdict");
        assert!(verdict.contains(words), "{context}");
        assert!(verdict.contains(&format!("pid {parent}")), "{context}");
        if *scenario == "exec-leak" {
            assert_eq!(leak["comm"], "sleep", "the parent exec'd sleep: {context}");
        }
    }
    for (mut child, mut lines, ..) in held {
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let _ = std::io::Read::read_to_string(&mut lines, &mut String::new());
        let _ = child.wait();
    }
    let (events, summary) = tracer.stop();
    assert!(
        !events
            .iter()
            .any(|v| v["event"] == "leak" && v["pid"] == quick_parent),
        "a 100 ms reaper is not leaking"
    );
    let quick_summary = summary["parents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == quick_parent);
    if let Some(p) = quick_summary {
        assert_eq!(p["leaking"], false);
        assert!(
            p["latency"]["p50_ns"].as_u64().unwrap() >= 100_000_000,
            "{p}"
        );
    }
}

#[test]
fn a_container_init_that_never_reaps_is_named() {
    let mut tracer = Tracer::start(&[]);
    // PID 1 of the new namespace execs sleep, which never waits for the shell's child.
    let mut unshare = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "sh",
            "-c",
            "sh -c 'exit 0' & exec sleep 20",
        ])
        .spawn()
        .unwrap();
    let leak = tracer.wait_for("container init leak", WAIT, |v| {
        v["event"] == "leak" && v["diagnosis"]["ns_init"] == true
    });
    assert_eq!(leak["comm"], "sleep", "{leak}");
    assert_eq!(leak["diagnosis"]["nspid"], 1, "{leak}");
    let verdict = leak["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("container") || verdict.contains("namespace"),
        "{verdict}"
    );
    unsafe { libc::kill(unshare.id() as i32, libc::SIGKILL) };
    let _ = unshare.wait();
}

#[test]
fn existing_zombies_are_found_and_their_reap_traced() {
    let mut spawner = Command::new(bin())
        .args([
            "spawn",
            "never",
            "--children",
            "2",
            "--hold",
            "30s",
            "--subreaper",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(spawner.stdout.take().unwrap());
    let ready = support::read_until_ready(&mut lines);
    let kids: Vec<u64> = ready["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let mut tracer = Tracer::start(&[]);
    for &pid in &kids {
        let z = tracer.wait_for("existing zombie", WAIT, |v| {
            v["event"] == "zombie" && v["pid"] == pid
        });
        assert_eq!(z["since"], "tracing_start", "{z}");
    }
    // Ending the hold: the parent exits, the subreaper (the spawner) adopts and reaps them.
    unsafe { libc::kill(spawner.id() as i32, libc::SIGTERM) };
    for &pid in &kids {
        let reap = tracer.reap_of(pid, WAIT);
        assert_eq!(reap["reap"], "reparented", "{reap}");
        assert_eq!(
            reap["approx"], true,
            "the age of an existing zombie is a lower bound"
        );
    }
    let _ = spawner.wait();
    let (_, summary) = tracer.stop();
    assert!(
        summary["outstanding"]
            .as_array()
            .unwrap()
            .iter()
            .all(|z| !kids.contains(&z["pid"].as_u64().unwrap()))
    );
}

#[test]
fn refuses_clearly_without_privileges() {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            bin(),
        ])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CAP_BPF") && stderr.contains("CAP_PERFMON"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_flags_are_usage_errors() {
    let out = Command::new(bin())
        .args(["--min-zombie", "fast"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(bin()).arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
