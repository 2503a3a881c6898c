//! Property tests over arbitrary bytes: whatever a process names itself, no formatter lets a
//! raw control character or an unescaped newline out, and JSON stays valid UTF-8.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{Format, json::Json, text::Text};
use crate::{
    clock::WallClock,
    diagnose::{Diagnosis, Sigchld},
    kernel::loader::Counters,
    pipeline::{
        event::{
            Event, Leak, LeakEnd, LeakReason, Lost, OldZombie, Reap, ReapCall, ReapKind,
            ReaperRole, Since, Zombie,
        },
        summary::{Latency, Outstanding, ParentSummary, RunCounts, Summary},
    },
    sys::{text::lossless, wait_status::WaitStatus},
};

/// Anything a process could put in a name, with the classic attacks mixed in.
pub fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        Just(b"\x1b[2J\x1b]0;X\x07\nFAKE".to_vec()),
        Just(b"\xff\xfe\xfd\n\r\t\x7f".to_vec()),
        Just("\u{9b}2J\u{202e}\u{2028}".as_bytes().to_vec()),
    ]
    .prop_map(|bytes| lossless(&bytes))
}

fn zombie(comm: String, parent_comm: String, since: Since) -> Zombie {
    Zombie {
        pid: 4242,
        nspid: Some(7),
        ppid: 4000,
        parent_start_ns: Some(1),
        comm,
        parent_comm: parent_comm.clone(),
        status: WaitStatus(11 | 0x80),
        start_ns: Some(5),
        ts_ns: 1_000_000,
        since,
        // A cgroup path is any directory name someone with a delegated hierarchy made.
        cgroup: Some(std::sync::Arc::new(crate::sys::cgroup::Cgroup {
            id: 1,
            path: Some(format!("/a/{parent_comm}")),
            workload: None,
        })),
        parent_cgroup: None,
    }
}

fn diagnosis(comm: String, cmdline: String, user: String, cgroup: String) -> Diagnosis {
    Diagnosis {
        pid: 4000,
        comm,
        cmdline,
        user,
        state: 'S',
        state_text: "sleeping".into(),
        wchan: Some("do_wait".into()),
        wchan_hidden: false,
        threads: 1,
        age_ns: 1,
        sigchld: Sigchld::Default,
        sigchld_blocked: false,
        traced: false,
        cgroup: Some(cgroup),
        workload: None,
        ns_init: false,
        nspid: None,
    }
}

/// Every event kind, each naming processes with `names`; with the lines each makes in text.
fn events(names: &[String; 6]) -> Vec<(Event, usize)> {
    let [a, b, c, d, e, f] = names.clone();
    let z = zombie(a.clone(), b.clone(), Since::Notified);
    let diag = diagnosis(c.clone(), d.clone(), e.clone(), f.clone());
    let verdict = crate::diagnose::verdict(&diag, 2, 3);
    vec![
        (Event::Zombie(z.clone()), 1),
        (
            Event::Reap(Reap {
                zombie: z,
                ts_ns: 2_000_000,
                zombie_ns: 1_000_000,
                reaper_pid: 1,
                reaper_comm: c.clone(),
                kind: ReapKind::Reparented,
                call: Some(ReapCall::Wait4),
                reaper_role: Some(ReaperRole::Subreaper),
                approx: true,
                phases: Default::default(),
            }),
            1,
        ),
        (
            Event::Leak(Box::new(Leak {
                ts_ns: 3,
                pid: 4000,
                start_ns: 1,
                comm: c.clone(),
                reason: LeakReason::Old,
                outstanding: 2,
                oldest_age_ns: 3,
                oldest: vec![OldZombie {
                    pid: 4242,
                    comm: a,
                    age_ns: 3,
                }],
                rate_per_min: 1.5,
                diagnosis: Some(diag),
                verdict: Some(verdict),
                cgroup: Some(std::sync::Arc::new(crate::sys::cgroup::Cgroup {
                    id: 2,
                    path: Some(format!("/x/{f}")),
                    workload: None,
                })),
            })),
            3, // the leak, where its parent lives, and why
        ),
        (
            Event::LeakEnd(LeakEnd {
                ts_ns: 4,
                pid: 4000,
                start_ns: 1,
                comm: d,
                outstanding: 0,
                leaked_for_ns: 1,
                exited: true,
            }),
            1,
        ),
        (
            Event::Lost(Lost {
                ts_ns: 5,
                count: 1,
                total: 1,
            }),
            1,
        ),
    ]
}

fn summary(names: &[String; 6]) -> Summary {
    let [a, b, c, ..] = names.clone();
    Summary {
        ts_ns: 9,
        duration_ns: 9,
        counts: RunCounts::default(),
        zombies: 1,
        reaped: 0,
        reaps: BTreeMap::new(),
        outstanding: vec![Outstanding {
            pid: 1,
            ppid: 2,
            comm: a,
            parent_comm: b,
            age_ns: 3,
            at_least: false,
        }],
        counters: Counters::default(),
        unmatched_waits: 0,
        vanished: 0,
        parents: vec![ParentSummary {
            pid: 2,
            comm: c.clone(),
            outstanding: 1,
            oldest_age_ns: 3,
            zombies: 1,
            reaped: 0,
            reaps: BTreeMap::new(),
            latency: Latency::default(),
            ask: Latency::default(),
            wake: Latency::default(),
            leaking: true,
            leaks: 1,
            rate_per_min: 1.0,
            exited: false,
            verdict: Some(c.clone()),
            cgroup: Some(std::sync::Arc::new(crate::sys::cgroup::Cgroup {
                id: 3,
                path: Some(format!("/y/{c}")),
                workload: None,
            })),
        }],
        latency: Latency::default(),
        ask: Latency::default(),
        wake: Latency::default(),
    }
}

/// Text a terminal could act on: any control but the line ends, or reordering marks.
pub fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            c != '\n'
                && (c.is_control()
                    || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                    || matches!(c, '\u{2028}' | '\u{2029}'))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_lines_hold_no_raw_controls(names in prop::array::uniform6(name())) {
        let mut text = Text::new(WallClock::with_offset(0, true));
        for (event, lines) in events(&names) {
            let mut out = Vec::new();
            text.event(&mut out, &event).unwrap();
            let out = String::from_utf8(out).expect("text output is UTF-8");
            // The column header comes with the first line.
            let header = out.starts_with("TIME ") as usize;
            prop_assert_eq!(out.matches('\n').count(), lines + header, "{:?}", out);
            prop_assert!(out.ends_with('\n'));
            prop_assert!(raw_controls(&out).is_empty(), "{:?}", out);
        }
        let mut out = Vec::new();
        text.summary(&mut out, &summary(&names)).unwrap();
        let out = String::from_utf8(out).unwrap();
        prop_assert!(raw_controls(&out).is_empty(), "{:?}", out);
        prop_assert!(!out.lines().any(|l| l.starts_with("FAKE")), "{:?}", out);
    }

    #[test]
    fn json_lines_are_one_valid_object_each(names in prop::array::uniform6(name())) {
        let mut json = Json;
        for (event, _) in events(&names) {
            let mut out = Vec::new();
            json.event(&mut out, &event).unwrap();
            let out = String::from_utf8(out).expect("JSON is UTF-8");
            prop_assert_eq!(out.matches('\n').count(), 1);
            let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
            prop_assert!(v["event"].is_string());
        }
        let mut out = Vec::new();
        json.summary(&mut out, &summary(&names)).unwrap();
        let out = String::from_utf8(out).unwrap();
        prop_assert_eq!(out.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        prop_assert_eq!(v["parents"][0]["comm"].as_str(), Some(names[2].as_str()));
    }

    #[test]
    fn dropped_notices_stay_one_line(count in any::<u64>(), total in any::<u64>()) {
        let mut out = Vec::new();
        Text::new(WallClock::with_offset(0, true)).dropped(&mut out, count, total).unwrap();
        let out = String::from_utf8(out).unwrap();
        prop_assert_eq!(out.matches('\n').count(), 2, "header and notice");
    }
}
