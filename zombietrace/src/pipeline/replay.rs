//! A recording replayed into the report the live run gave. A recording is what `--record FILE`
//! (or `--json`) writes: every event as a JSON line (docs/json.md), the summary last. The
//! per-parent statistics are rebuilt from the events, taking the live run's decisions (leaks,
//! their ends, parents forgotten) as recorded; what needed procfs then (diagnoses, reaper
//! roles, cgroups) is in the events. The run's own counts (records read, kernel counters, waits
//! that matched nothing) come from its summary line.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::{
    event::{
        Adopted, Event, LeakEnd, Lost, ParentGone, Reap, ReapCall, ReapKind, ReaperRole, Since,
        Zombie,
    },
    parents::Parents,
    phases::Phases,
    summary::{RunCounts, Summary},
    tracker::Stats,
};
use crate::{kernel::loader::Counters, sys::wait_status::WaitStatus};

/// The report of a recording, ranking `shown` parents; and a note when the recording cannot
/// give the live report exactly (lines it dropped, events it lacks).
pub fn replay(text: &str, leak_after_ns: u64, shown: usize) -> Result<(Summary, Option<String>)> {
    let mut parents = Parents::new(leak_after_ns);
    let mut open: BTreeMap<u32, Zombie> = BTreeMap::new();
    let mut seen = Stats::default();
    let mut dropped = 0;
    let mut summary: Option<Value> = None;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("line {} of the recording is not JSON", n + 1))?;
        let event = match v["event"].as_str() {
            Some("zombie") => Event::Zombie(zombie(&v).with_context(|| format!("line {}", n + 1))?),
            Some("reap") => Event::Reap(reap(&v).with_context(|| format!("line {}", n + 1))?),
            Some("leak") => Event::Leak(Box::new(serde_json::from_value(v)?)),
            Some("leak_end") => Event::LeakEnd(serde_json::from_value::<LeakEnd>(v)?),
            Some("lost") => Event::Lost(serde_json::from_value::<Lost>(v)?),
            Some("parent_gone") => Event::ParentGone(serde_json::from_value::<ParentGone>(v)?),
            Some("adopted") => Event::Adopted(serde_json::from_value::<Adopted>(v)?),
            Some("dropped") => {
                dropped += v["count"].as_u64().unwrap_or(0);
                continue;
            }
            Some("summary") => {
                summary = Some(v);
                continue;
            }
            _ => continue,
        };
        match &event {
            Event::Zombie(z) => {
                seen.zombies += 1;
                open.insert(z.pid, z.clone());
            }
            Event::Reap(r) => {
                *seen.reaps.entry(r.kind).or_default() += 1;
                open.remove(&r.zombie.pid);
            }
            Event::Adopted(a) => {
                if let Some(z) = open.get_mut(&a.pid) {
                    z.ppid = a.ppid;
                    z.parent_comm.clone_from(&a.parent_comm);
                }
            }
            _ => {}
        }
        parents.replay(&event);
    }
    let Some(s) = summary else {
        bail!("the recording has no summary line: it was cut short (the run did not end)")
    };
    let num = |key: &str| s[key].as_u64().unwrap_or(0);
    let counters: Counters = serde_json::from_value(s.clone()).context("the summary line")?;
    let counts: RunCounts = serde_json::from_value(s.clone()).context("the summary line")?;
    let stats = Stats {
        zombies: num("zombies"),
        reaps: serde_json::from_value(s["reaps"].clone()).context("the summary's reaps")?,
        unmatched_waits: num("unmatched_waits"),
        vanished: num("vanished"),
    };
    let mut notes = Vec::new();
    if dropped > 0 {
        notes.push(format!("the recording dropped {dropped} lines"));
    }
    if seen.zombies != stats.zombies || seen.reaps != stats.reaps {
        notes.push(format!(
            "it holds {} of the run's {} zombies and {} of its {} reaps (made with \
             --min-zombie, or lines dropped)",
            seen.zombies,
            stats.zombies,
            seen.reaps.values().sum::<u64>(),
            stats.reaps.values().sum::<u64>()
        ));
    }
    let now = num("ts_ns");
    let mut outstanding: Vec<&Zombie> = open.values().collect();
    outstanding.sort_by_key(|z| (z.ts_ns, z.pid));
    let summary = Summary::new(
        (&stats, outstanding),
        &parents,
        counters,
        counts,
        now.saturating_sub(num("duration_ns")),
        now,
        shown,
    );
    let note = (!notes.is_empty()).then(|| {
        format!(
            "this report may differ from the live one: {}",
            notes.join("; ")
        )
    });
    Ok((summary, note))
}

fn field<T: serde::de::DeserializeOwned>(v: &Value, key: &str) -> Result<T> {
    serde_json::from_value(v[key].clone()).with_context(|| format!("field {key}"))
}

fn status(v: &Value) -> WaitStatus {
    match (v["exit_code"].as_u64(), v["signal"].as_u64()) {
        (Some(code), _) => WaitStatus(((code as u32) & 0xff) << 8),
        (None, Some(sig)) => {
            WaitStatus((sig as u32 & 0x7f) | if v["core_dumped"] == true { 0x80 } else { 0 })
        }
        _ => WaitStatus::default(),
    }
}

/// The zombie a `zombie` line (or the zombie part of a `reap` line) tells; `ts_key` names the
/// field of its zombie moment.
fn zombie_at(v: &Value, ts_key: &str) -> Result<Zombie> {
    Ok(Zombie {
        pid: field(v, "pid")?,
        nspid: field(v, "nspid")?,
        ppid: field(v, "ppid")?,
        parent_start_ns: field(v, "parent_start_ns")?,
        comm: field(v, "comm")?,
        parent_comm: field(v, "parent_comm")?,
        status: status(v),
        start_ns: field(v, "start_ns")?,
        ts_ns: field(v, ts_key)?,
        since: field::<Since>(v, "since")?,
        cgroup: field(v, "cgroup")?,
        parent_cgroup: field(v, "parent_cgroup")?,
    })
}

fn zombie(v: &Value) -> Result<Zombie> {
    zombie_at(v, "ts_ns")
}

fn reap(v: &Value) -> Result<Reap> {
    Ok(Reap {
        zombie: zombie_at(v, "zombie_ts_ns")?,
        ts_ns: field(v, "ts_ns")?,
        zombie_ns: field(v, "zombie_ns")?,
        reaper_pid: field(v, "reaper_pid")?,
        reaper_comm: field(v, "reaper_comm")?,
        kind: field::<ReapKind>(v, "reap")?,
        call: field::<Option<ReapCall>>(v, "call")?,
        reaper_role: field::<Option<ReaperRole>>(v, "reaper_role")?,
        approx: field(v, "approx")?,
        phases: Phases {
            ptrace_ns: field(v, "ptrace_ns")?,
            ask_ns: field(v, "ask_ns")?,
            wake_ns: field(v, "wake_ns")?,
            handler_ns: field(v, "handler_ns")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_without_its_summary_is_refused() {
        let err = replay(
            "{\"event\":\"lost\",\"ts_ns\":1,\"count\":1,\"total\":1}\n",
            1,
            10,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no summary line"), "{err}");
        assert!(replay("not json\n", 1, 10).is_err());
    }
}
