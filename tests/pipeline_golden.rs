//! The event pipeline, replayed from a recording of real kernel records: its text, JSON Lines,
//! report and report JSON come out byte for byte as the golden files say. No root needed.
//!
//! The fixture (tests/fixtures/pipeline/fixture.jsonl) is a run of `record.sh`: the spawner's
//! scenarios under `zombietrace --comm ztfix`, every raw ring-buffer record in hex with the
//! ticks of the event loop, the zombies found in procfs at the start, and every answer procfs
//! gave (reaper roles, liveness, diagnoses), so that the replay asks nothing of this machine.
//! The golden outputs were written by the tracer as it was before the pipeline was rebuilt
//! around one path; `ZOMBIETRACE_BLESS=1` rewrites them (review the diff).

use std::{
    cell::RefCell,
    collections::{HashMap, VecDeque},
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use clap::Parser as _;
use serde_json::Value;
use zombietrace::{
    cli::Cli,
    clock::WallClock,
    config::Config,
    diagnose::Diagnosis,
    kernel::loader::Counters,
    output,
    pipeline::{Host, Pipeline, event::ReaperRole, tracker::Existing},
    sys::{cgroup::Cgroup, proc::ProcError},
};

/// Where the fixture lives (only `ZOMBIETRACE_BLESS` writes there; the test reads the copies
/// compiled in, so that it runs wherever its binary does, in the kernel matrix's guests too).
fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pipeline")
}

const FIXTURE: &str = include_str!("fixtures/pipeline/fixture.jsonl");
const GOLDEN: [(&str, &[u8]); 4] = [
    ("live.txt", include_bytes!("fixtures/pipeline/live.txt")),
    ("live.jsonl", include_bytes!("fixtures/pipeline/live.jsonl")),
    ("report.txt", include_bytes!("fixtures/pipeline/report.txt")),
    (
        "report.json",
        include_bytes!("fixtures/pipeline/report.json"),
    ),
];

/// The answers procfs gave during the recording, handed out in the same order per pid.
#[derive(Default)]
struct Recorded {
    role: RefCell<HashMap<u32, VecDeque<ReaperRole>>>,
    alive: RefCell<HashMap<u32, VecDeque<bool>>>,
    diagnosis: RefCell<HashMap<u32, VecDeque<Option<Diagnosis>>>>,
}

fn next<T>(answers: &RefCell<HashMap<u32, VecDeque<T>>>, pid: u32, what: &str) -> T {
    answers
        .borrow_mut()
        .get_mut(&pid)
        .and_then(VecDeque::pop_front)
        .unwrap_or_else(|| panic!("the recording has no {what} answer left for pid {pid}"))
}

impl Host for Recorded {
    fn role(&self, pid: u32) -> ReaperRole {
        next(&self.role, pid, "reaper role")
    }
    fn alive(&self, pid: u32) -> bool {
        next(&self.alive, pid, "liveness")
    }
    fn diagnose(&self, pid: u32) -> Result<Diagnosis, ProcError> {
        next(&self.diagnosis, pid, "diagnosis").ok_or(ProcError::Gone(pid))
    }
    fn cgroup(&self, id: u64) -> Arc<Cgroup> {
        panic!("the recording was made without cgroup ids, yet cgroup {id} was asked for")
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn counters(v: &Value) -> Counters {
    let c: Vec<u64> = serde_json::from_value(v.clone()).unwrap();
    Counters {
        lost: c[0],
        parent_map_full: c[1],
        wait_map_full: c[2],
        read_failed: c[3],
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn num(v: &Value) -> u64 {
    v.as_u64().expect("a number")
}

/// Replays the fixture through the pipeline as `zombietrace <args>` would run it.
fn replay(json: bool, report: bool) -> Vec<u8> {
    let lines: Vec<Value> = FIXTURE
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let head = &lines[0];
    let mut args = vec!["zombietrace".to_string()];
    if report {
        args.extend(["report".into(), "--for".into(), "1s".into()]);
    }
    let recorded: Vec<String> = serde_json::from_value(head["args"].clone()).unwrap();
    args.extend(recorded.into_iter().filter(|a| a != "--json"));
    if json {
        args.push("--json".into());
    }
    let cli = Cli::try_parse_from(&args).unwrap();
    let config = match cli.command {
        Some(zombietrace::cli::Command::Report(r)) => Config::report(r.trace, r.for_.unwrap()),
        _ => Config::live(cli.trace, None),
    }
    .unwrap();
    let host = Recorded::default();
    for l in &lines {
        if let Some(r) = l.get("role") {
            let role = match r["role"].as_str().unwrap() {
                "init" => ReaperRole::Init,
                "ns_init" => ReaperRole::NamespaceInit,
                _ => ReaperRole::Subreaper,
            };
            let pid = num(&r["pid"]) as u32;
            host.role
                .borrow_mut()
                .entry(pid)
                .or_default()
                .push_back(role);
        } else if let Some(a) = l.get("alive") {
            let pid = num(&a["pid"]) as u32;
            let alive = a["alive"].as_bool().unwrap();
            host.alive
                .borrow_mut()
                .entry(pid)
                .or_default()
                .push_back(alive);
        } else if let Some(d) = l.get("diagnosis") {
            let pid = num(&d["pid"]) as u32;
            let found = d
                .get("diagnosis")
                .map(|d| serde_json::from_value(d.clone()).unwrap());
            host.diagnosis
                .borrow_mut()
                .entry(pid)
                .or_default()
                .push_back(found);
        }
    }
    let out = Buffer::default();
    let clock = WallClock::with_offset(head["wall_offset_ns"].as_i64().unwrap() as i128, true);
    let consumers = output::consumers(&config, clock, ("stdout", out.clone()), "unused")
        .unwrap()
        .consumers;
    let started = num(&head["started_ns"]);
    let mut pipeline = Pipeline::new(
        config.pipeline_settings(),
        Box::new(host),
        consumers,
        started,
    );
    for l in &lines[1..] {
        if let Some(a) = l.get("adopt") {
            pipeline.adopt(Existing {
                pid: num(&a["pid"]) as u32,
                nspids: serde_json::from_value(a["nspids"].clone()).unwrap(),
                ppid: num(&a["ppid"]) as u32,
                comm: a["comm"].as_str().unwrap().into(),
                parent_comm: a["parent_comm"].as_str().unwrap().into(),
                cgroup: None,
            });
        } else if let Some(r) = l.get("record") {
            pipeline.record(&hex(r.as_str().unwrap()));
        } else if let Some(t) = l.get("tick") {
            pipeline.tick(num(t), counters(&l["counters"]));
        } else if let Some(f) = l.get("finish") {
            pipeline.finish(num(f), counters(&l["counters"])).unwrap();
            return out.0.lock().unwrap().clone();
        } else {
            continue;
        }
        pipeline.flush().unwrap();
    }
    panic!("the fixture has no `finish` line");
}

fn check(name: &str, json: bool, report: bool) {
    let got = replay(json, report);
    let path = dir().join(name);
    if std::env::var_os("ZOMBIETRACE_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = GOLDEN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| bytes.to_vec())
        .expect("a golden file of that name");
    if got != want {
        let got = String::from_utf8_lossy(&got);
        let want = String::from_utf8_lossy(&want);
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(g, w)| g != w)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        let cut = |l: Option<&str>| {
            let l = l.unwrap_or("<end>");
            l.chars().take(400).collect::<String>()
        };
        panic!(
            "{name} differs from the golden file at line {} (ZOMBIETRACE_BLESS=1 rewrites it):\n \
             got: {}\nwant: {}",
            first + 1,
            cut(got.lines().nth(first)),
            cut(want.lines().nth(first)),
        );
    }
}

#[test]
fn live_text_is_golden() {
    check("live.txt", false, false);
}

#[test]
fn live_json_is_golden() {
    check("live.jsonl", true, false);
}

#[test]
fn report_text_is_golden() {
    check("report.txt", false, true);
}

#[test]
fn report_json_is_golden() {
    check("report.json", true, true);
}

/// The live run's JSON Lines, replayed (`report --from`), give the report `report` gave for
/// the same records: byte for byte, text and JSON.
#[test]
fn the_live_recording_replays_to_the_report() {
    use zombietrace::{
        output::{Format, json::Json, text::Text},
        pipeline::replay::replay,
        report::REPORT_PARENTS,
    };
    let recording = std::str::from_utf8(GOLDEN[1].1).unwrap();
    let (summary, note) = replay(recording, 1_000_000_000, REPORT_PARENTS).unwrap();
    assert_eq!(note, None);
    let mut json = Vec::new();
    Json.summary(&mut json, &summary).unwrap();
    assert!(json == GOLDEN[3].1, "{}", String::from_utf8_lossy(&json));
    let mut text = Vec::new();
    Text::new(WallClock::with_offset(0, true))
        .summary(&mut text, &summary)
        .unwrap();
    assert!(text == GOLDEN[2].1, "{}", String::from_utf8_lossy(&text));
}
