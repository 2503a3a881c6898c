//! `zombietrace ps` output: aligned text for people, one JSON document for programs
//! (docs/ps.md).

use std::fmt::Write as _;

use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use super::{Defunct, Holder, Listing};
use crate::duration::format_ns;

/// Zombies listed per parent in text (JSON lists all).
const TEXT_ZOMBIES: usize = 10;
/// Width the verdict is wrapped to.
const WIDTH: usize = 100;
/// Characters of a command line shown in text.
const CMDLINE: usize = 200;

pub fn json(listing: &Listing) -> String {
    match serde_json::to_value(listing) {
        Ok(doc) => format!("{doc:#}\n"),
        Err(e) => format!("{{\"error\": {}}}\n", json!(e.to_string())),
    }
}

/// The serde form of a parent in `ps --json` (docs/ps.md): every field always present, null
/// when procfs did not say.
impl Serialize for Holder {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = json!({
            "pid": self.pid,
            "zombie_count": self.zombies.len(),
            "oldest_age_upper_bound_ns": self.oldest_upper_bound_ns(),
            "oldest_zombie_ns": self.oldest_zombie_ns(),
            "zombies": self.zombies,
            "verdict": self.verdict,
        });
        let fields = [
            "comm",
            "cmdline",
            "user",
            "login_user",
            "state",
            "state_text",
            "wchan",
            "threads",
            "age_ns",
            "sigchld",
            "sigchld_blocked",
            "sigchld_blocked_threads",
            "traced",
            "tracer_pid",
            "cgroup",
            "ns_init",
            "nspid",
            "ppid",
            "error",
        ];
        let map = v.as_object_mut().expect("an object");
        for f in fields {
            map.insert(f.into(), Value::Null);
        }
        match &self.facts {
            Ok(f) => {
                if let Ok(Value::Object(d)) = serde_json::to_value(&f.diagnosis) {
                    map.extend(d);
                }
                map.insert("login_user".into(), json!(f.login_user));
                map.insert("sigchld_blocked_threads".into(), json!(f.blocked_threads));
                map.insert("tracer_pid".into(), json!(f.tracer_pid));
                map.insert("ppid".into(), json!(f.ppid));
            }
            Err(e) => {
                map.insert("error".into(), json!(e));
            }
        }
        v.serialize(s)
    }
}

/// The serde form of a zombie in `ps --json`.
impl Serialize for Defunct {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        json!({
            "pid": self.pid,
            "comm": self.comm,
            "nspid": self.nspid,
            "age_upper_bound_ns": self.age_upper_bound_ns,
            "zombie_ns": self.zombie_ns,
            "exit_code": self.wait_status.and_then(|w| w.exit_code()),
            "signal": self.wait_status.and_then(|w| w.signal()),
            "core_dumped": self.wait_status.map(|w| w.core_dumped()),
        })
        .serialize(s)
    }
}

pub fn text(report: &Listing) -> String {
    let mut out = String::new();
    if report.parents.is_empty() {
        out.push_str("No zombies.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{} under {}. Ages with ~ come from the scheduler clock; \"up to\" ages count from \
         process start.",
        plural(report.zombies, "zombie"),
        plural(report.parents.len(), "parent"),
    );
    for p in &report.parents {
        out.push('\n');
        parent_text(&mut out, p);
    }
    out
}

fn parent_text(out: &mut String, p: &Holder) {
    let oldest = match p.oldest_zombie_ns() {
        Some(ns) => format!("~{}", format_ns(ns)),
        None => format!("up to {}", format_ns(p.oldest_upper_bound_ns())),
    };
    let count = plural(p.zombies.len(), "zombie");
    let row = |out: &mut String, key: &str, value: &str| {
        let _ = writeln!(out, "  {key:<9}{value}");
    };
    match &p.facts {
        Ok(f) => {
            let d = &f.diagnosis;
            let login = f
                .login_user
                .as_ref()
                .map(|l| format!(" (login {l})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "parent {}  {}  user {}{login}  {count}, oldest {oldest}",
                d.pid,
                printable(&d.comm, 16),
                d.user
            );
            if !d.cmdline.is_empty() {
                row(out, "cmdline", &printable(&d.cmdline, CMDLINE));
            }
            let wchan = match (&d.wchan, d.state) {
                (Some(w), _) => format!(" in {w}"),
                (None, 'S' | 'D') => " (where: unknown)".to_string(),
                _ => String::new(),
            };
            row(
                out,
                "state",
                &format!(
                    "{} ({}){wchan}, {}, started {} ago",
                    d.state,
                    d.state_text,
                    plural(d.threads as usize, "thread"),
                    format_ns(d.age_ns)
                ),
            );
            let blocked = match (f.blocked_threads, d.threads) {
                (0, _) => "not blocked".to_string(),
                (_, 0 | 1) => "blocked".to_string(),
                (b, n) if b >= n => format!("blocked in all {n} threads"),
                (b, n) => format!("blocked in {b} of {n} threads"),
            };
            row(out, "SIGCHLD", &format!("{}, {blocked}", d.sigchld.name()));
            if d.traced {
                let by = f
                    .tracer_pid
                    .map(|t| format!(" by pid {t}"))
                    .unwrap_or_default();
                row(out, "traced", &format!("yes{by}"));
            }
            if let Some(c) = &d.cgroup {
                row(out, "cgroup", c);
            }
            if let Some(n) = d.nspid {
                let what = if d.ns_init {
                    "PID 1 of its pid namespace (a container init)".to_string()
                } else {
                    format!("pid {n} in its pid namespace")
                };
                row(out, "pid ns", &what);
            }
        }
        Err(e) => {
            let _ = writeln!(out, "parent {}  ({e})  {count}, oldest {oldest}", p.pid);
        }
    }
    let _ = writeln!(
        out,
        "  {:<9}{:<9}{:<17}{:<15}EXIT",
        "zombies", "PID", "COMM", "ZOMBIE FOR"
    );
    for z in p.zombies.iter().take(TEXT_ZOMBIES) {
        let age = match z.zombie_ns {
            Some(ns) => format!("~{}", format_ns(ns)),
            None => format!("up to {}", format_ns(z.age_upper_bound_ns)),
        };
        let exit = match z.wait_status {
            Some(w) if w.exit_code().is_some() => format!("code {}", w.exit_code().unwrap_or(0)),
            Some(w) if w.core_dumped() => {
                format!("signal {} (core dumped)", w.signal().unwrap_or(0))
            }
            Some(w) if w.signal().is_some() => format!("signal {}", w.signal().unwrap_or(0)),
            _ => "unknown".to_string(),
        };
        let comm = printable(&z.comm, 16);
        let _ = writeln!(out, "  {:<9}{:<9}{comm:<17}{age:<15}{exit}", "", z.pid);
    }
    if p.zombies.len() > TEXT_ZOMBIES {
        let _ = writeln!(
            out,
            "  {:<9}… and {} more (--json lists all)",
            "",
            p.zombies.len() - TEXT_ZOMBIES
        );
    }
    for (i, line) in wrap(&p.verdict, WIDTH - 11).iter().enumerate() {
        let key = if i == 0 { "why" } else { "" };
        let _ = writeln!(out, "  {key:<9}{line}");
    }
}

/// Control characters escaped (a command line may hold newlines), cut to `max` characters.
fn printable(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Splits text into lines of at most `width` characters at spaces (longer words stay whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_words() {
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("", 6), Vec::<String>::new());
        assert_eq!(wrap("abcdefgh ij", 4), vec!["abcdefgh", "ij"]);
    }

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(printable("a\nb\tc", 10), "a\\nb\\tc");
        assert_eq!(printable("abcdef", 3), "abc…");
        assert_eq!(printable("abc", 3), "abc");
    }

    #[test]
    fn no_zombies() {
        let empty = Listing {
            parents: Vec::new(),
            zombies: 0,
        };
        assert_eq!(text(&empty), "No zombies.\n");
        let v: Value = serde_json::from_str(&json(&empty)).unwrap();
        assert_eq!(v, json!({"parents": [], "zombies": 0}));
    }
}
