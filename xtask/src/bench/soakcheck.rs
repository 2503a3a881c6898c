//! The soak's checker: pairs each process the workload (soakload.rs) recorded with the tracer's
//! `zombie` and `reap` lines for it, as both stream in, and counts what does not agree.
//!
//! A record and a reap line are the same process when they have the same pid and the line's
//! `start_ns` lies in the record's fork bracket: pids are reused every few seconds, start times
//! never are. Then the line must say what the workload saw — parent, exit code, reaper, a wait4
//! reap at a time inside the reaper's own wait call, a zombie moment between the fork and the
//! reap — and its `zombie` line must be there and agree. An exit paired with another life's
//! reap after pid reuse shows as a reap time outside the call (and the other life's reap as
//! missing). Whatever stays unpaired for [`AGE`] is counted: records without a reap line
//! (missing), lines of the workload's processes without a record (unexpected).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

/// How long a record or a line may wait for its other half.
pub const AGE: u64 = 30_000_000_000;

/// One process's life as its reaper recorded it (soakload.rs `Truth`, 48 bytes, native endian).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Truth {
    pub pid: u32,
    /// Who forked it (0: unknown, an orphan).
    pub ppid: u32,
    pub reaper: u32,
    pub status: i32,
    pub fork_before: u64,
    pub fork_after: u64,
    pub wait_before: u64,
    pub wait_after: u64,
}

impl Truth {
    pub const SIZE: usize = 48;

    pub fn parse(b: &[u8]) -> Truth {
        let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap());
        let u64_at = |i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().unwrap());
        Truth {
            pid: u32_at(0),
            ppid: u32_at(4),
            reaper: u32_at(8),
            status: u32_at(12) as i32,
            fork_before: u64_at(16),
            fork_after: u64_at(24),
            wait_before: u64_at(32),
            wait_after: u64_at(40),
        }
    }

    /// (exit code, signal) as the wait status tells them.
    fn fate(&self) -> (Option<u64>, Option<u64>) {
        let s = self.status as u64;
        if s & 0x7f == 0 {
            (Some((s >> 8) & 0xff), None)
        } else {
            (None, Some(s & 0x7f))
        }
    }

    /// Whether the tracer's `start_ns` (or, for an orphan, its reap time) is this life's.
    fn is(&self, reap: &Line) -> bool {
        if self.fork_before == 0 {
            return (self.wait_before..=self.wait_after).contains(&reap.ts_ns);
        }
        (self.fork_before..=self.fork_after).contains(&reap.start_ns)
    }
}

/// The fields of a `zombie` or `reap` line the checker needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    pub pid: u32,
    pub ppid: u32,
    pub start_ns: u64,
    pub ts_ns: u64,
    pub exit_code: Option<u64>,
    pub signal: Option<u64>,
    /// Reap lines only.
    pub zombie_ts_ns: u64,
    pub reaper_pid: u32,
    pub wait4: bool,
    pub approx: bool,
}

/// A line of `zombietrace --json`, as far as the soak cares.
#[derive(Debug, PartialEq)]
pub enum Event {
    Zombie(Line),
    Reap(Line),
    /// `lost`: events lost in the kernel so far.
    Lost(u64),
    /// `dropped`: lines dropped so far.
    Dropped(u64),
    Summary(Value),
    /// Another process's event, or a kind the soak does not look at.
    Other,
}

/// The number after `"key":` (None for null or absent).
fn num(line: &str, key: &str) -> Option<u64> {
    let at = line.find(key)? + key.len();
    let rest = &line[at..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Reads one line; only the events of processes named `ztsoak…` (the workload's) are decoded.
pub fn parse(line: &str) -> Event {
    const EVENT: &str = r#""event":""#;
    let Some(at) = line.find(EVENT) else {
        return Event::Other;
    };
    let rest = &line[at + EVENT.len()..];
    let kind = |k: &str| rest.starts_with(k) && rest[k.len()..].starts_with('"');
    if kind("zombie") || kind("reap") {
        if !line.contains(r#""comm":"ztsoak"#) {
            return Event::Other;
        }
        let get = |k| num(line, k).unwrap_or(0);
        let l = Line {
            pid: get(r#""pid":"#) as u32,
            ppid: get(r#""ppid":"#) as u32,
            start_ns: get(r#""start_ns":"#),
            ts_ns: get(r#""ts_ns":"#),
            exit_code: num(line, r#""exit_code":"#),
            signal: num(line, r#""signal":"#),
            zombie_ts_ns: get(r#""zombie_ts_ns":"#),
            reaper_pid: get(r#""reaper_pid":"#) as u32,
            wait4: line.contains(r#""reap":"wait4""#),
            approx: line.contains(r#""approx":true"#),
        };
        return if kind("reap") {
            Event::Reap(l)
        } else {
            Event::Zombie(l)
        };
    }
    if kind("lost") {
        return Event::Lost(num(line, r#""total":"#).unwrap_or(0));
    }
    if kind("dropped") {
        return Event::Dropped(num(line, r#""total":"#).unwrap_or(0));
    }
    if kind("summary") {
        return serde_json::from_str(line).map_or(Event::Other, Event::Summary);
    }
    Event::Other
}

/// What one record and its lines disagree on (empty: they agree).
fn disagreements(t: &Truth, r: &Line, z: Option<&Line>) -> Vec<&'static str> {
    let mut why = Vec::new();
    let (code, signal) = t.fate();
    if r.exit_code != code || r.signal != signal {
        why.push("exit status");
    }
    if t.ppid != 0 && r.ppid != t.ppid {
        why.push("parent");
    }
    if r.reaper_pid != t.reaper {
        why.push("reaper");
    }
    if !r.wait4 || r.approx {
        why.push("reap kind (not an exact wait4)");
    }
    if !(t.wait_before..=t.wait_after).contains(&r.ts_ns) {
        why.push("reap time outside the reaper's wait call");
    }
    if r.zombie_ts_ns < t.fork_before || r.zombie_ts_ns > r.ts_ns {
        why.push("zombie time outside [fork, reap]");
    }
    if let Some(z) = z
        && (z.ts_ns != r.zombie_ts_ns || z.exit_code != r.exit_code || z.ppid != r.ppid)
    {
        why.push("zombie line differs from its reap line");
    }
    why
}

#[derive(Default)]
pub struct Checker {
    /// Records and reap lines waiting for their other half, by pid, with when they came.
    truths: HashMap<u32, Vec<(Truth, u64)>>,
    reaps: HashMap<u32, Vec<(Line, u64)>>,
    /// Zombie lines by (pid, start_ns), waiting for their reap.
    zombies: HashMap<(u32, u64), (Line, u64)>,
    /// Pids that have had a life in this run (a bitmap over pid_max).
    used: Vec<bool>,
    /// The workload's top process: reaped by the bench, not by a recorded reaper.
    pub ignore_pid: u32,
    pub records: u64,
    pub matched: u64,
    pub mismatched: u64,
    pub reasons: BTreeMap<&'static str, u64>,
    /// Records whose reap line never came.
    pub missing_reaps: u64,
    /// Paired reaps without their zombie line; zombie lines left without a reap.
    pub missing_zombies: u64,
    pub stray_zombies: u64,
    /// Reap lines of the workload's processes that no record claimed.
    pub unexpected_reaps: u64,
    pub reused_pids: u64,
    pub distinct_pids: u64,
    pub fork_failures: u64,
    pub orphans: u64,
    pub lost: u64,
    pub dropped: u64,
    pub summary: Option<Value>,
    /// The first few disagreements, spelled out.
    pub examples: Vec<String>,
}

impl Checker {
    pub fn new(pid_max: usize) -> Checker {
        Checker {
            used: vec![false; pid_max + 1],
            ..Checker::default()
        }
    }

    pub fn truth(&mut self, t: Truth, now: u64) {
        if t.pid == 0 {
            self.fork_failures += t.status as u64;
            return;
        }
        self.records += 1;
        if t.ppid == 0 {
            self.orphans += 1;
        }
        match self.used.get_mut(t.pid as usize) {
            Some(used) if *used => self.reused_pids += 1,
            Some(used) => {
                *used = true;
                self.distinct_pids += 1;
            }
            None => {}
        }
        let waiting = self.reaps.entry(t.pid).or_default();
        if let Some(i) = waiting.iter().position(|(r, _)| t.is(r)) {
            let (r, _) = waiting.swap_remove(i);
            if waiting.is_empty() {
                self.reaps.remove(&t.pid);
            }
            self.pair(&t, &r);
        } else {
            if waiting.is_empty() {
                self.reaps.remove(&t.pid);
            }
            self.truths.entry(t.pid).or_default().push((t, now));
        }
    }

    pub fn event(&mut self, event: Event, now: u64) {
        match event {
            Event::Zombie(z) if z.pid != self.ignore_pid => {
                self.zombies.insert((z.pid, z.start_ns), (z, now));
            }
            Event::Reap(r) if r.pid != self.ignore_pid => {
                let waiting = self.truths.entry(r.pid).or_default();
                if let Some(i) = waiting.iter().position(|(t, _)| t.is(&r)) {
                    let (t, _) = waiting.swap_remove(i);
                    if waiting.is_empty() {
                        self.truths.remove(&r.pid);
                    }
                    self.pair(&t, &r);
                } else {
                    if waiting.is_empty() {
                        self.truths.remove(&r.pid);
                    }
                    self.reaps.entry(r.pid).or_default().push((r, now));
                }
            }
            Event::Lost(total) => self.lost = self.lost.max(total),
            Event::Dropped(total) => self.dropped = self.dropped.max(total),
            Event::Summary(v) => self.summary = Some(v),
            _ => {}
        }
    }

    fn pair(&mut self, t: &Truth, r: &Line) {
        let z = self.zombies.remove(&(r.pid, r.start_ns)).map(|(z, _)| z);
        if z.is_none() {
            self.missing_zombies += 1;
        }
        let why = disagreements(t, r, z.as_ref());
        if why.is_empty() {
            self.matched += 1;
            return;
        }
        self.mismatched += 1;
        for reason in &why {
            *self.reasons.entry(reason).or_default() += 1;
        }
        if self.examples.len() < 10 {
            self.examples.push(format!(
                "{}: truth {t:?}, reap {r:?}, zombie {z:?}",
                why.join(", ")
            ));
        }
    }

    /// Counts what waited longer than `age` without its other half (everything, with 0).
    pub fn expire(&mut self, now: u64, age: u64) {
        let old = |since: u64| now.saturating_sub(since) >= age;
        let mut missing = 0;
        self.truths.retain(|_, v| {
            v.retain(|(_, since)| {
                !old(*since) || {
                    missing += 1;
                    false
                }
            });
            !v.is_empty()
        });
        let mut unexpected = 0;
        self.reaps.retain(|_, v| {
            v.retain(|(_, since)| {
                !old(*since) || {
                    unexpected += 1;
                    false
                }
            });
            !v.is_empty()
        });
        let before = self.zombies.len();
        self.zombies.retain(|_, (_, since)| !old(*since));
        self.stray_zombies += (before - self.zombies.len()) as u64;
        self.missing_reaps += missing;
        self.unexpected_reaps += unexpected;
    }

    /// Records and lines still waiting for their other half.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.truths.values().map(Vec::len).sum::<usize>()
            + self.reaps.values().map(Vec::len).sum::<usize>()
    }

    /// Every record paired with a reap line that agrees, and nothing else.
    pub fn exact(&self) -> bool {
        self.records > 0
            && self.matched == self.records
            && self.mismatched == 0
            && self.missing_zombies == 0
            && self.unexpected_reaps == 0
            && self.stray_zombies == 0
    }

    pub fn to_json(&self) -> Value {
        json!({
            "records": self.records,
            "matched": self.matched,
            "mismatched": self.mismatched,
            "mismatch_reasons": self.reasons,
            "missing_reaps": self.missing_reaps,
            "missing_zombie_lines": self.missing_zombies,
            "zombie_lines_without_reap": self.stray_zombies,
            "unexpected_reaps": self.unexpected_reaps,
            "distinct_pids": self.distinct_pids,
            "reused_pids": self.reused_pids,
            "fork_failures": self.fork_failures,
            "orphans": self.orphans,
            "lost_lines_total": self.lost,
            "dropped_lines_total": self.dropped,
            "examples": self.examples,
        })
    }
}

#[cfg(test)]
#[path = "soakcheck_tests.rs"]
mod tests;
