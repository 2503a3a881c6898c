//! JSON Lines: one object per event, stable field names (documented in docs/json.md).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Output;
use crate::{
    diagnose::{Diagnosis, Sigchld},
    record::{Reap, Record, Since, Zombie},
    summary::{Latency, ParentSummary, Summary},
};

#[derive(Default)]
pub struct Json;

fn since(since: Since) -> &'static str {
    match since {
        Since::Notified => "notified",
        Since::ExitStart => "exit_start",
        Since::TracingStart => "tracing_start",
    }
}

/// A `zombie` line. Serialized straight from borrowed fields (no intermediate map: these are
/// the lines written at the machine's exit rate); fields in alphabetical order, as the other
/// objects come out.
#[derive(Serialize)]
struct ZombieLine<'a> {
    comm: &'a str,
    core_dumped: bool,
    event: &'static str,
    exit_code: Option<i32>,
    nspid: Option<u32>,
    parent_comm: &'a str,
    pid: u32,
    ppid: u32,
    signal: Option<i32>,
    since: &'static str,
    start_ns: Option<u64>,
    ts_ns: u64,
}

/// A `reap` line: the zombie's fields, then how and when it was released.
#[derive(Serialize)]
struct ReapLine<'a> {
    approx: bool,
    call: Option<&'static str>,
    comm: &'a str,
    core_dumped: bool,
    event: &'static str,
    exit_code: Option<i32>,
    nspid: Option<u32>,
    parent_comm: &'a str,
    pid: u32,
    ppid: u32,
    reap: &'static str,
    reaper_comm: &'a str,
    reaper_pid: u32,
    reaper_role: Option<&'static str>,
    signal: Option<i32>,
    since: &'static str,
    start_ns: Option<u64>,
    ts_ns: u64,
    zombie_ns: u64,
    zombie_ts_ns: u64,
}

impl<'a> ZombieLine<'a> {
    fn of(z: &'a Zombie) -> Self {
        // The status of a zombie found in procfs is not known.
        let known = z.since != Since::TracingStart;
        ZombieLine {
            comm: &z.comm,
            core_dumped: known && z.status.core_dumped(),
            event: "zombie",
            exit_code: z.status.exit_code().filter(|_| known),
            nspid: z.nspid,
            parent_comm: &z.parent_comm,
            pid: z.pid,
            ppid: z.ppid,
            signal: z.status.signal().filter(|_| known),
            since: since(z.since),
            start_ns: z.start_ns,
            ts_ns: z.ts_ns,
        }
    }
}

impl<'a> ReapLine<'a> {
    fn of(r: &'a Reap) -> Self {
        let z = ZombieLine::of(&r.zombie);
        ReapLine {
            approx: r.approx,
            call: r.call,
            comm: z.comm,
            core_dumped: z.core_dumped,
            event: "reap",
            exit_code: z.exit_code,
            nspid: z.nspid,
            parent_comm: z.parent_comm,
            pid: z.pid,
            ppid: z.ppid,
            reap: r.kind.name(),
            reaper_comm: &r.reaper_comm,
            reaper_pid: r.reaper_pid,
            reaper_role: r.reaper_role.map(|x| x.name()),
            signal: z.signal,
            since: z.since,
            start_ns: z.start_ns,
            ts_ns: r.ts_ns,
            zombie_ns: r.zombie_ns,
            zombie_ts_ns: r.zombie.ts_ns,
        }
    }
}

fn write_line(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

fn line(out: &mut dyn Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

impl Output for Json {
    fn record(&mut self, out: &mut dyn Write, record: &Record) -> io::Result<()> {
        let value = match record {
            Record::Zombie(z) => return write_line(out, &ZombieLine::of(z)),
            Record::Reap(r) => return write_line(out, &ReapLine::of(r)),
            Record::Leak(l) => json!({
                "event": "leak",
                "ts_ns": l.ts_ns,
                "pid": l.pid,
                "comm": l.comm,
                "reason": l.reason.name(),
                "outstanding": l.outstanding,
                "oldest_age_ns": l.oldest_age_ns,
                "oldest": l.oldest.iter().map(|(pid, comm, age)| json!({"pid": pid, "comm": comm, "age_ns": age})).collect::<Vec<_>>(),
                "rate_per_min": l.rate_per_min,
                "diagnosis": l.diagnosis.as_ref().map(diagnosis),
                "verdict": l.verdict,
            }),
            Record::LeakEnd(e) => json!({
                "event": "leak_end",
                "ts_ns": e.ts_ns,
                "pid": e.pid,
                "comm": e.comm,
                "outstanding": e.outstanding,
                "leaked_for_ns": e.leaked_for_ns,
                "exited": e.exited,
            }),
            Record::Lost { count, total } => json!({
                "event": "lost",
                "ts_ns": crate::clock::monotonic_ns(),
                "count": count,
                "total": total,
            }),
            Record::Dropped { count, total } => json!({
                "event": "dropped",
                "ts_ns": crate::clock::monotonic_ns(),
                "count": count,
                "total": total,
            }),
        };
        line(out, &value)
    }

    fn summary(&mut self, out: &mut dyn Write, s: &Summary) -> io::Result<()> {
        let reaps: Map<String, Value> = s
            .reaps
            .iter()
            .map(|(k, v)| (k.name().to_string(), json!(v)))
            .collect();
        let outstanding: Vec<Value> = s
            .outstanding
            .iter()
            .map(|z| {
                json!({
                    "pid": z.pid, "ppid": z.ppid, "comm": z.comm, "parent_comm": z.parent_comm,
                    "age_ns": z.age_ns, "at_least": z.at_least,
                })
            })
            .collect();
        let parents: Vec<Value> = s.parents.iter().map(parent).collect();
        let value = json!({
            "event": "summary",
            "parents": parents,
            "latency": latency(&s.latency),
            "ts_ns": s.ts_ns,
            "duration_ns": s.duration_ns,
            "events": s.events,
            "zombies": s.zombies,
            "reaped": s.reaped(),
            "reaps": reaps,
            "outstanding": outstanding,
            "lost": s.counters.lost,
            "parent_map_full": s.counters.parent_map_full,
            "wait_map_full": s.counters.wait_map_full,
            "read_failed": s.counters.read_failed,
            "unmatched_waits": s.unmatched_waits,
            "vanished": s.vanished,
            "decode_errors": s.decode_errors,
            "lines_dropped": s.lines_dropped,
        });
        line(out, &value)
    }
}

fn latency(l: &Latency) -> Value {
    json!({
        "count": l.count, "p50_ns": l.p50, "p90_ns": l.p90, "p99_ns": l.p99, "max_ns": l.max,
        "log2_ns": l.log2.iter().map(|(low, high, n)| json!({"low": low, "high": high, "count": n})).collect::<Vec<_>>(),
    })
}

fn parent(p: &ParentSummary) -> Value {
    let reaps: Map<String, Value> = p
        .reaps
        .iter()
        .map(|(k, v)| (k.name().to_string(), json!(v)))
        .collect();
    json!({
        "pid": p.pid, "comm": p.comm, "outstanding": p.outstanding, "oldest_age_ns": p.oldest_age_ns,
        "zombies": p.zombies, "reaped": p.reaped, "reaps": reaps, "latency": latency(&p.latency),
        "leaking": p.leaking, "leaks": p.leaks, "rate_per_min": p.rate_per_min, "exited": p.exited,
        "verdict": p.verdict,
    })
}

fn diagnosis(d: &Diagnosis) -> Value {
    json!({
        "pid": d.pid, "comm": d.comm, "cmdline": d.cmdline, "user": d.user,
        "state": d.state.to_string(), "state_text": d.state_text, "wchan": d.wchan,
        "threads": d.threads, "age_ns": d.age_ns,
        "sigchld": match d.sigchld { Sigchld::Default => "default", Sigchld::Caught => "caught", Sigchld::Ignored => "ignored" },
        "sigchld_blocked": d.sigchld_blocked, "traced": d.traced, "cgroup": d.cgroup,
        "ns_init": d.ns_init, "nspid": d.nspid,
    })
}
