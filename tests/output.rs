//! Output under a reader that does not keep up: event lines are dropped (counted and
//! announced), but no event is lost and every aggregate stays exact.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc::channel,
    thread,
    time::Duration,
};

use serde_json::Value;
use support::{bin, own_copy};

/// Runs one `spawn storm` round at normal priority (a real-time storm would starve the
/// tracer); returns the exits it made.
fn storm(bin: &std::path::Path) -> u64 {
    let out = Command::new(bin)
        .args([
            "spawn",
            "storm",
            "--parents",
            "2",
            "--duration",
            "1s",
            "--json",
        ])
        .output()
        .expect("run spawner");
    assert!(out.status.success(), "storm failed: {}", out.status);
    let done: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("spawner JSON"))
        .find(|v| v["event"] == "done")
        .expect("a done line");
    done["exits"].as_u64().expect("exits")
}

#[test]
fn a_stuck_reader_loses_lines_not_events() {
    // Nobody reads the tracer's stdout until it has been stopped. A 256 KiB queue (instead of
    // 8 MiB) fills in a few hundred exits, even on an emulated CPU.
    // A name of this test's own: its storms' processes carry it, so the tracer's `--comm`
    // filter (and its summary) sees them and nothing else that runs on the machine.
    let copy = own_copy("out");
    let name = copy.file_name().unwrap().to_str().unwrap().to_string();
    let mut tracer = Command::new(bin())
        .args(["--json", "--comm", &name])
        .env("ZOMBIETRACE_OUTPUT_QUEUE_BYTES", "262144")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start zombietrace");
    let (tx, stderr_lines) = channel();
    let stderr = tracer.stderr.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[tracer stderr] {line}");
            let _ = tx.send(line);
        }
    });
    let said = |what: &str, timeout: Duration| {
        stderr_lines
            .recv_timeout(timeout)
            .is_ok_and(|l: String| l.contains(what))
    };
    assert!(
        said("probes attached", Duration::from_secs(60)),
        "tracer not ready"
    );

    // Storm until the tracer says it is dropping lines, then once more.
    let (mut exits, mut rounds, mut dropping) = (0, 0, false);
    while rounds < 60 {
        exits += storm(&copy);
        rounds += 1;
        if dropping {
            break;
        }
        dropping = said("dropping event lines", Duration::from_millis(200));
    }
    assert!(
        dropping,
        "{rounds} storms ({exits} exits) never filled the output queue"
    );

    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    let lines: Vec<Value> = BufReader::new(tracer.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.expect("read")).expect("JSON line"))
        .collect();
    assert!(tracer.wait().expect("wait").success());
    let _ = std::fs::remove_file(&copy);

    let summary = lines.last().expect("output");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["lost"], 0, "the kernel lost events: {summary}");
    // Every storm child, both storm parents and the spawner itself of each round.
    let expected = exits + 3 * rounds;
    assert_eq!(summary["zombies"], expected, "{summary}");
    assert_eq!(summary["reaped"], expected, "{summary}");
    assert_eq!(summary["latency"]["count"], expected);
    assert_eq!(summary["outstanding"].as_array().map(Vec::len), Some(0));

    let dropped = summary["lines_dropped"].as_u64().expect("lines_dropped");
    assert!(dropped > 0);
    let count = |event: &str| lines.iter().filter(|v| v["event"] == event).count() as u64;
    // A zombie and a reap line per process, and a `parent_gone` line per parent (the spawner
    // and the two storm parents of each round) once it is seen gone, which for the last round
    // can come after the stop: between 3 × (rounds − 1) and 3 × rounds of them, written or
    // dropped.
    let written = count("zombie") + count("reap") + count("parent_gone");
    assert!(
        (2 * expected + 3 * (rounds - 1)..=2 * expected + 3 * rounds)
            .contains(&(written + dropped)),
        "{written} lines written + {dropped} dropped for {expected} processes in {rounds} rounds"
    );
    // The `dropped` lines announce every drop, and their running total ends at the summary's.
    let notices: Vec<&Value> = lines.iter().filter(|v| v["event"] == "dropped").collect();
    let announced: u64 = notices.iter().map(|v| v["count"].as_u64().unwrap()).sum();
    assert_eq!(announced, dropped);
    assert_eq!(notices.last().unwrap()["total"], dropped);
}
