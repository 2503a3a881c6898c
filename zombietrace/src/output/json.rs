//! JSON Lines: one object per event, stable field names (documented in docs/json.md).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

use super::Format;
use crate::{
    pipeline::{
        event::{Event, Reap, ReapCall, Since, Zombie},
        summary::Summary,
    },
    sys::cgroup::Cgroup,
};

#[derive(Default)]
pub struct Json;

/// A `zombie` line. Serialized straight from borrowed fields (no intermediate map: these are
/// the lines written at the machine's exit rate); fields in alphabetical order, as the other
/// objects come out.
#[derive(Serialize)]
struct ZombieLine<'a> {
    cgroup: Option<&'a Cgroup>,
    comm: &'a str,
    core_dumped: bool,
    event: &'static str,
    exit_code: Option<i32>,
    nspid: Option<u32>,
    parent_cgroup: Option<&'a Cgroup>,
    parent_comm: &'a str,
    parent_start_ns: Option<u64>,
    pid: u32,
    ppid: u32,
    signal: Option<i32>,
    since: Since,
    start_ns: Option<u64>,
    ts_ns: u64,
}

/// A `reap` line: the zombie's fields, then how and when it was released.
#[derive(Serialize)]
struct ReapLine<'a> {
    approx: bool,
    ask_ns: Option<u64>,
    call: Option<ReapCall>,
    cgroup: Option<&'a Cgroup>,
    comm: &'a str,
    core_dumped: bool,
    event: &'static str,
    exit_code: Option<i32>,
    handler_ns: Option<u64>,
    nspid: Option<u32>,
    parent_cgroup: Option<&'a Cgroup>,
    parent_comm: &'a str,
    parent_start_ns: Option<u64>,
    pid: u32,
    ppid: u32,
    ptrace_ns: Option<u64>,
    reap: crate::pipeline::event::ReapKind,
    reaper_comm: &'a str,
    reaper_pid: u32,
    reaper_role: Option<crate::pipeline::event::ReaperRole>,
    signal: Option<i32>,
    since: Since,
    start_ns: Option<u64>,
    ts_ns: u64,
    wake_ns: Option<u64>,
    zombie_ns: u64,
    zombie_ts_ns: u64,
}

impl<'a> ZombieLine<'a> {
    fn of(z: &'a Zombie) -> Self {
        // The status of a zombie found in procfs is not known.
        let known = z.since != Since::TracingStart;
        ZombieLine {
            cgroup: z.cgroup.as_deref(),
            comm: &z.comm,
            core_dumped: known && z.status.core_dumped(),
            event: "zombie",
            exit_code: z.status.exit_code().filter(|_| known),
            nspid: z.nspid,
            parent_cgroup: z.parent_cgroup.as_deref(),
            parent_comm: &z.parent_comm,
            parent_start_ns: z.parent_start_ns,
            pid: z.pid,
            ppid: z.ppid,
            signal: z.status.signal().filter(|_| known),
            since: z.since,
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
            ask_ns: r.phases.ask_ns,
            call: r.call,
            cgroup: z.cgroup,
            comm: z.comm,
            core_dumped: z.core_dumped,
            event: "reap",
            exit_code: z.exit_code,
            handler_ns: r.phases.handler_ns,
            nspid: z.nspid,
            parent_cgroup: z.parent_cgroup,
            parent_comm: z.parent_comm,
            parent_start_ns: z.parent_start_ns,
            pid: z.pid,
            ppid: z.ppid,
            ptrace_ns: r.phases.ptrace_ns,
            reap: r.kind,
            reaper_comm: &r.reaper_comm,
            reaper_pid: r.reaper_pid,
            reaper_role: r.reaper_role,
            signal: z.signal,
            since: z.since,
            start_ns: z.start_ns,
            ts_ns: r.ts_ns,
            wake_ns: r.phases.wake_ns,
            zombie_ns: r.zombie_ns,
            zombie_ts_ns: r.zombie.ts_ns,
        }
    }
}

/// The serde form of a zombie is its JSON line.
impl Serialize for Zombie {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ZombieLine::of(self).serialize(s)
    }
}

/// The serde form of a reap is its JSON line.
impl Serialize for Reap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ReapLine::of(self).serialize(s)
    }
}

fn write_line(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// A line for a value with its own serde form, tagged with its `event` name; keys in
/// alphabetical order, as every object comes out.
fn tagged(out: &mut dyn Write, event: &str, value: &impl Serialize) -> io::Result<()> {
    let mut value = serde_json::to_value(value)?;
    if let Value::Object(map) = &mut value {
        map.insert("event".into(), Value::from(event));
    }
    write_line(out, &value)
}

#[derive(Serialize)]
struct Count {
    ts_ns: u64,
    count: u64,
    total: u64,
}

impl Format for Json {
    fn event(&mut self, out: &mut dyn Write, event: &Event) -> io::Result<()> {
        match event {
            Event::Zombie(z) => write_line(out, z),
            Event::Reap(r) => write_line(out, r),
            Event::Leak(l) => tagged(out, "leak", l),
            Event::LeakEnd(e) => tagged(out, "leak_end", e),
            Event::Lost(l) => tagged(out, "lost", l),
            Event::ParentGone(g) => tagged(out, "parent_gone", g),
            Event::Adopted(a) => tagged(out, "adopted", a),
        }
    }

    fn dropped(&mut self, out: &mut dyn Write, count: u64, total: u64) -> io::Result<()> {
        let ts_ns = crate::clock::monotonic_ns();
        tagged(
            out,
            "dropped",
            &Count {
                ts_ns,
                count,
                total,
            },
        )
    }

    fn summary(&mut self, out: &mut dyn Write, s: &Summary) -> io::Result<()> {
        tagged(out, "summary", s)
    }
}
