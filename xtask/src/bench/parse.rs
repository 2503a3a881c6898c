//! Reading what the collectors wrote: per-event lines of the load's children, and
//! zombietrace's summary (text or JSON).

use std::{
    collections::HashSet,
    fs::File,
    io::{BufRead as _, BufReader},
    path::Path,
};

use serde_json::Value;

use super::tracer::Tracer;

/// What a collector's output says about the load.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Output lines.
    pub lines: u64,
    /// Per-event lines for the load's children: exits (exitsnoop, bpftrace), or zombietrace's
    /// `zombie` lines.
    pub exits: u64,
    /// zombietrace's `reap` lines for the load's children.
    pub reaps: u64,
    /// zombietrace's summary, when there is one.
    pub summary: Option<Summary>,
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub events: u64,
    pub zombies: u64,
    pub reaped: u64,
    pub lost: u64,
    /// `reaps.wait4`
    pub wait4: u64,
    /// (zombies, reaped) added up over the load's parents in the ranked `parents` list
    /// (JSON only; None when none of them is listed: zombietrace forgets a parent that exited
    /// without leaking).
    pub load_zombies: Option<u64>,
    pub load_reaped: Option<u64>,
    pub outstanding: usize,
    /// The raw JSON object.
    pub json: Option<Value>,
}

impl Seen {
    /// Reaps of the load's children as zombietrace tells them: the per-event lines, or the
    /// per-parent aggregates when there are none.
    pub fn load_reaps(&self, tracer: Tracer) -> Option<u64> {
        match tracer {
            Tracer::ZtText | Tracer::ZtJson => Some(self.reaps),
            Tracer::ZtReport | Tracer::ZtReportProbe | Tracer::ZtMinZombie => {
                self.summary.as_ref()?.load_reaped
            }
            _ => None,
        }
    }

    /// The summary's `reaped`: every process on the machine, not only the load's.
    pub fn machine_reaped(&self) -> Option<u64> {
        self.summary.as_ref().map(|s| s.reaped)
    }
}

/// Reads `path` as `tracer` writes it; `parents` are the load's forking processes, `comm`
/// its children's command name.
pub fn read(path: &Path, tracer: Tracer, parents: &[u32], comm: &str) -> Seen {
    let parents: HashSet<u32> = parents.iter().copied().collect();
    // The load's zombies by pid: a reap line carries the zombie's parent at death, but a
    // zombie handed to a subreaper may carry its new one.
    let mut zombies: HashSet<u32> = HashSet::new();
    let mut seen = Seen::default();
    let Ok(file) = File::open(path) else {
        return seen;
    };
    let mut text_summary = Vec::new();
    for line in BufReader::new(file).lines().map_while(Result::ok) {
        seen.lines += 1;
        match tracer {
            Tracer::ZtText => {
                if !text_summary.is_empty() || line.starts_with("Summary:") {
                    text_summary.push(line);
                    continue;
                }
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() > 4 {
                    let (pid, ppid) = (parse_u32(f[2]), parse_u32(f[3]));
                    count(f[1], pid, ppid, &parents, &mut zombies, &mut seen);
                }
            }
            Tracer::ZtJson
            | Tracer::ZtReport
            | Tracer::ZtReportProbe
            | Tracer::ZtMinZombie
            | Tracer::ZtNull
            | Tracer::ZtServe => {
                json_line(&line, &parents, &mut zombies, &mut seen);
            }
            Tracer::Exitsnoop => {
                // PCOMM PID PPID TID AGE(s) EXIT_CODE
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() > 3 && parse_u32(f[2]).is_some_and(|p| parents.contains(&p)) {
                    seen.exits += 1;
                }
            }
            Tracer::BpftracePrint => {
                // pid tid comm (the loop processes' own exits carry that name too)
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() > 2
                    && f[2] == comm
                    && parse_u32(f[0]).is_some_and(|p| !parents.contains(&p))
                {
                    seen.exits += 1;
                }
            }
            Tracer::BpftraceCount => {
                // @exits: N (every exit on the machine)
                if let Some(n) = line.strip_prefix("@exits: ") {
                    seen.exits = n.trim().parse().unwrap_or(0);
                }
            }
        }
    }
    if !text_summary.is_empty() {
        seen.summary = Some(text_summary_of(&text_summary));
    }
    seen
}

fn parse_u32(s: &str) -> Option<u32> {
    s.parse().ok()
}

/// A zombie or reap line of zombietrace's: counted when it is one of the load's children.
fn count(
    event: &str,
    pid: Option<u32>,
    ppid: Option<u32>,
    parents: &HashSet<u32>,
    zombies: &mut HashSet<u32>,
    seen: &mut Seen,
) {
    let ours = ppid.is_some_and(|p| parents.contains(&p));
    match (event, pid) {
        ("zombie", Some(pid)) if ours => {
            seen.exits += 1;
            zombies.insert(pid);
        }
        ("reap", Some(pid)) if zombies.remove(&pid) || ours => seen.reaps += 1,
        _ => {}
    }
}

fn json_line(line: &str, parents: &HashSet<u32>, zombies: &mut HashSet<u32>, seen: &mut Seen) {
    let is_reap = line.contains(r#""event":"reap""#);
    let is_zombie = !is_reap && line.contains(r#""event":"zombie""#);
    if is_reap || is_zombie {
        let id = |key| field_u64(line, key).map(|n| n as u32);
        let event = if is_reap { "reap" } else { "zombie" };
        count(
            event,
            id(r#""pid":"#),
            id(r#""ppid":"#),
            parents,
            zombies,
            seen,
        );
        return;
    }
    if !line.contains(r#""event":"summary""#) {
        return;
    }
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return;
    };
    let n = |key: &str| v[key].as_u64().unwrap_or(0);
    let mut s = Summary {
        events: n("events"),
        zombies: n("zombies"),
        reaped: n("reaped"),
        lost: n("lost"),
        wait4: v["reaps"]["wait4"].as_u64().unwrap_or(0),
        outstanding: v["outstanding"].as_array().map_or(0, Vec::len),
        ..Summary::default()
    };
    if let Some(list) = v["parents"].as_array() {
        let ours: Vec<&Value> = list
            .iter()
            .filter(|p| {
                p["pid"]
                    .as_u64()
                    .is_some_and(|p| parents.contains(&(p as u32)))
            })
            .collect();
        if !ours.is_empty() {
            let sum = |key: &str| ours.iter().map(|p| p[key].as_u64().unwrap_or(0)).sum();
            s.load_zombies = Some(sum("zombies"));
            s.load_reaped = Some(sum("reaped"));
        }
    }
    s.json = Some(v);
    seen.summary = Some(s);
}

/// The number after `key` in a JSON line (fields are flat numbers there).
fn field_u64(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// "Summary: N events in T; Z zombies, R reaped" / "  reaped by: wait4 N, …" /
/// "  lost events: N …".
fn text_summary_of(lines: &[String]) -> Summary {
    let mut s = Summary::default();
    for line in lines {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Summary: ") {
            s.events = first_number(rest).unwrap_or(0);
            if let Some((_, tail)) = rest.split_once("; ") {
                s.zombies = first_number(tail).unwrap_or(0);
                if let Some((_, r)) = tail.split_once(", ") {
                    s.reaped = first_number(r).unwrap_or(0);
                }
            }
        } else if let Some(rest) = line.strip_prefix("lost events: ") {
            s.lost = first_number(rest).unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("reaped by: ") {
            for part in rest.split(", ") {
                if let Some(n) = part.strip_prefix("wait4 ") {
                    s.wait4 = first_number(n).unwrap_or(0);
                }
            }
        }
    }
    s
}

fn first_number(s: &str) -> Option<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_summary() {
        let lines: Vec<String> = [
            "Summary: 1234 events in 2.11s; 600 zombies, 598 reaped",
            "  reaped by: wait4 590, autoreap 8",
            "  lost events: 3 (ring buffer full: per-event lines are missing)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = text_summary_of(&lines);
        assert_eq!(
            (s.events, s.zombies, s.reaped, s.wait4, s.lost),
            (1234, 600, 598, 590, 3)
        );
    }

    #[test]
    fn reads_json_fields() {
        let line = r#"{"comm":"x","event":"reap","pid":12,"ppid":345,"ts_ns":1}"#;
        assert_eq!(field_u64(line, r#""ppid":"#), Some(345));
        assert_eq!(field_u64(line, r#""pid":"#), Some(12));
        let mut seen = Seen::default();
        let mut zombies = HashSet::new();
        json_line(line, &HashSet::from([345]), &mut zombies, &mut seen);
        assert_eq!((seen.reaps, seen.exits), (1, 0));
        // Handed to a subreaper: the reap line names the new parent.
        let zombie = r#"{"event":"zombie","pid":13,"ppid":345}"#;
        let reap = r#"{"event":"reap","pid":13,"ppid":1}"#;
        json_line(zombie, &HashSet::from([345]), &mut zombies, &mut seen);
        json_line(reap, &HashSet::from([345]), &mut zombies, &mut seen);
        assert_eq!((seen.reaps, seen.exits), (2, 1));
    }
}
