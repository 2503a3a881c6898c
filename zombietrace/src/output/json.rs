//! JSON Lines: one object per event, stable field names (documented in docs/json.md).

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use super::Output;
use crate::{
    record::{Record, Since, Zombie},
    summary::Summary,
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

/// The fields every zombie and reap object carries about the child.
fn child_fields(z: &Zombie) -> Map<String, Value> {
    let known = z.since != Since::TracingStart;
    let mut m = Map::new();
    m.insert("pid".into(), json!(z.pid));
    m.insert("nspid".into(), json!(z.nspid));
    m.insert("ppid".into(), json!(z.ppid));
    m.insert("comm".into(), json!(z.comm));
    m.insert("parent_comm".into(), json!(z.parent_comm));
    m.insert(
        "exit_code".into(),
        json!(z.status.exit_code().filter(|_| known)),
    );
    m.insert("signal".into(), json!(z.status.signal().filter(|_| known)));
    m.insert("core_dumped".into(), json!(known && z.status.core_dumped()));
    m.insert("start_ns".into(), json!(z.start_ns));
    m.insert("since".into(), json!(since(z.since)));
    m
}

fn line(out: &mut dyn Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

impl Output for Json {
    fn record(&mut self, out: &mut dyn Write, record: &Record) -> io::Result<()> {
        let value = match record {
            Record::Zombie(z) => {
                let mut m = Map::new();
                m.insert("event".into(), json!("zombie"));
                m.insert("ts_ns".into(), json!(z.ts_ns));
                m.extend(child_fields(z));
                Value::Object(m)
            }
            Record::Reap(r) => {
                let mut m = Map::new();
                m.insert("event".into(), json!("reap"));
                m.insert("ts_ns".into(), json!(r.ts_ns));
                m.extend(child_fields(&r.zombie));
                m.insert("zombie_ts_ns".into(), json!(r.zombie.ts_ns));
                m.insert("zombie_ns".into(), json!(r.zombie_ns));
                m.insert("reaper_pid".into(), json!(r.reaper_pid));
                m.insert("reaper_comm".into(), json!(r.reaper_comm));
                m.insert("reap".into(), json!(r.kind.name()));
                m.insert("call".into(), json!(r.call));
                m.insert("reaper_role".into(), json!(r.reaper_role.map(|x| x.name())));
                m.insert("approx".into(), json!(r.approx));
                Value::Object(m)
            }
            Record::Lost { count, total } => json!({
                "event": "lost",
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
        let value = json!({
            "event": "summary",
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
        });
        line(out, &value)
    }
}
