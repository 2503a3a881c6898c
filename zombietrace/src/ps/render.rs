//! `zombietrace ps` output: aligned text for people, one JSON document for programs
//! (docs/ps.md).

use std::fmt::Write as _;

use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use super::{Defunct, Holder, Listing};
use crate::{
    duration::format_ns,
    output::escape::{cell, cut, escape},
};

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
            "workload",
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
                .map(|l| format!(" (login {})", escape(l)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "parent {}  {}  user {}{login}  {count}, oldest {oldest}",
                d.pid,
                escape(&d.comm),
                escape(&d.user)
            );
            if !d.cmdline.is_empty() {
                row(out, "cmdline", &cut(&d.cmdline, CMDLINE));
            }
            let wchan = match (&d.wchan, d.state) {
                (Some(w), _) => format!(" in {}", escape(w)),
                (None, 'S' | 'D') => " (where: unknown)".to_string(),
                _ => String::new(),
            };
            row(
                out,
                "state",
                &format!(
                    "{} ({}){wchan}, {}, started {} ago",
                    d.state,
                    escape(&d.state_text),
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
                row(out, "cgroup", &escape(c));
            }
            if let Some(w) = &d.workload {
                row(out, "in", &escape(&w.short()));
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
            let _ = writeln!(
                out,
                "parent {}  ({})  {count}, oldest {oldest}",
                p.pid,
                escape(e)
            );
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
        // Never cut: a name is at most 15 bytes, and all of it may matter.
        let comm = cell(&z.comm, 16);
        let _ = writeln!(out, "  {:<9}{:<9}{comm} {age:<15}{exit}", "", z.pid);
    }
    if p.zombies.len() > TEXT_ZOMBIES {
        let _ = writeln!(
            out,
            "  {:<9}… and {} more (--json lists all)",
            "",
            p.zombies.len() - TEXT_ZOMBIES
        );
    }
    for (i, line) in wrap(&escape(&p.verdict), WIDTH - 11).iter().enumerate() {
        let key = if i == 0 { "why" } else { "" };
        let _ = writeln!(out, "  {key:<9}{line}");
    }
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

    use proptest::prelude::*;

    use crate::{
        diagnose::{Diagnosis, Facts, Sigchld},
        output::props_tests::{name, raw_controls},
        sys::wait_status::WaitStatus,
    };

    fn listing(names: &[String; 6]) -> Listing {
        let [a, b, c, d, e, f] = names.clone();
        let diagnosis = Diagnosis {
            pid: 40,
            comm: a.clone(),
            cmdline: b,
            user: c.clone(),
            state: 'S',
            state_text: "sleeping".into(),
            wchan: Some(d.clone()),
            wchan_hidden: false,
            threads: 2,
            age_ns: 1,
            sigchld: Sigchld::Caught,
            sigchld_blocked: true,
            traced: true,
            cgroup: Some(e.clone()),
            workload: None,
            ns_init: true,
            nspid: Some(1),
        };
        let verdict = crate::diagnose::verdict(&diagnosis, 1, 5);
        let defunct = |comm: String| Defunct {
            pid: 41,
            comm,
            ppid: 40,
            nspid: Some(2),
            age_upper_bound_ns: 9,
            zombie_ns: Some(3),
            wait_status: Some(WaitStatus(9)),
            cpu: None,
            exec_start: None,
        };
        Listing {
            parents: vec![
                Holder {
                    pid: 40,
                    facts: Ok(Facts {
                        diagnosis,
                        ppid: 1,
                        tracer_pid: Some(7),
                        blocked_threads: 1,
                        login_user: Some(f.clone()),
                    }),
                    zombies: vec![defunct(a), defunct(f.clone())],
                    verdict,
                },
                Holder {
                    pid: 50,
                    facts: Err(d),
                    zombies: vec![defunct(e)],
                    verdict: f,
                },
            ],
            zombies: 3,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn ps_text_holds_no_raw_controls(names in prop::array::uniform6(name())) {
            let out = text(&listing(&names));
            prop_assert!(raw_controls(&out).is_empty(), "{:?}", out);
            prop_assert!(!out.lines().any(|l| l.starts_with("FAKE")), "{:?}", out);
        }

        #[test]
        fn ps_json_is_one_valid_document(names in prop::array::uniform6(name())) {
            let out = json(&listing(&names));
            let v: Value = serde_json::from_str(&out).expect("valid JSON");
            prop_assert_eq!(v["parents"][0]["comm"].as_str(), Some(names[0].as_str()));
        }
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
