use super::*;

const REAP: &str = r#"{"approx":false,"call":"wait4","comm":"ztsoak-parent","core_dumped":false,"event":"reap","exit_code":9,"nspid":null,"parent_comm":"ztsoak-parent","pid":20875,"ppid":16489,"reap":"wait4","reaper_comm":"ztsoak-parent","reaper_pid":16489,"reaper_role":null,"signal":null,"since":"notified","start_ns":1000,"ts_ns":5000,"zombie_ns":2000,"zombie_ts_ns":3000}"#;
const ZOMBIE: &str = r#"{"comm":"ztsoak-parent","core_dumped":false,"event":"zombie","exit_code":9,"nspid":null,"parent_comm":"ztsoak-parent","pid":20875,"ppid":16489,"signal":null,"since":"notified","start_ns":1000,"ts_ns":3000}"#;

/// A child's life: forked in [900, 1100], reaped by its parent in a wait call over
/// [4000, 6000], exit code 9.
fn truth() -> Truth {
    Truth {
        pid: 20875,
        ppid: 16489,
        reaper: 16489,
        status: 9 << 8,
        fork_before: 900,
        fork_after: 1100,
        wait_before: 4000,
        wait_after: 6000,
    }
}

fn lines() -> (Line, Line) {
    let (Event::Zombie(z), Event::Reap(r)) = (parse(ZOMBIE), parse(REAP)) else {
        panic!("not parsed")
    };
    (z, r)
}

#[test]
fn parses_the_tracer_lines_of_the_workload_only() {
    let (z, r) = lines();
    assert_eq!((r.pid, r.ppid, r.reaper_pid), (20875, 16489, 16489));
    assert_eq!((r.start_ns, r.ts_ns, r.zombie_ts_ns), (1000, 5000, 3000));
    assert_eq!(
        (r.exit_code, r.signal, r.wait4, r.approx),
        (Some(9), None, true, false)
    );
    assert_eq!((z.pid, z.ts_ns, z.exit_code), (20875, 3000, Some(9)));
    let other = REAP.replace(r#""comm":"ztsoak-parent""#, r#""comm":"bash""#);
    assert_eq!(parse(&other), Event::Other);
    assert_eq!(
        parse(r#"{"count":3,"event":"lost","total":7,"ts_ns":1}"#),
        Event::Lost(7)
    );
    assert_eq!(
        parse(r#"{"count":3,"event":"dropped","total":8,"ts_ns":1}"#),
        Event::Dropped(8)
    );
    assert!(matches!(
        parse(r#"{"event":"summary","lost":0}"#),
        Event::Summary(_)
    ));
}

#[test]
fn reads_the_workload_records() {
    let t = truth();
    let mut bytes = Vec::new();
    for v in [t.pid, t.ppid, t.reaper, t.status as u32] {
        bytes.extend_from_slice(&v.to_ne_bytes());
    }
    for v in [t.fork_before, t.fork_after, t.wait_before, t.wait_after] {
        bytes.extend_from_slice(&v.to_ne_bytes());
    }
    assert_eq!(bytes.len(), Truth::SIZE);
    assert_eq!(Truth::parse(&bytes), t);
    assert_eq!(t.fate(), (Some(9), None));
}

#[test]
fn pairs_in_either_order() {
    let (z, r) = lines();
    for truth_first in [true, false] {
        let mut c = Checker::new(32768);
        c.event(Event::Zombie(z.clone()), 0);
        if truth_first {
            c.truth(truth(), 0);
            c.event(Event::Reap(r.clone()), 0);
        } else {
            c.event(Event::Reap(r.clone()), 0);
            c.truth(truth(), 0);
        }
        c.expire(u64::MAX, 0);
        assert!(c.exact(), "{}", c.to_json());
        assert_eq!((c.records, c.matched, c.pending()), (1, 1, 0));
    }
}

#[test]
fn a_reap_paired_with_another_life_of_its_pid_is_caught() {
    let (z, r) = lines();
    let mut c = Checker::new(32768);
    // Life 1 exits with 9; the pid is reused by life 2 (forked in [7000, 7100], exit 10,
    // reaped by 16600 over [8000, 8100]).
    let first = truth();
    let second = Truth {
        ppid: 16600,
        reaper: 16600,
        status: 10 << 8,
        fork_before: 7000,
        fork_after: 7100,
        wait_before: 8000,
        wait_after: 8100,
        ..truth()
    };
    c.truth(first, 0);
    c.truth(second, 0);
    // A tracer that kept life 1's exit and paired it with life 2's reap.
    c.event(Event::Zombie(z), 0);
    let wrong = Line {
        ts_ns: 8050,
        reaper_pid: 16600,
        ..r
    };
    c.event(Event::Reap(wrong), 0);
    c.expire(u64::MAX, 0);
    assert!(!c.exact());
    assert_eq!((c.matched, c.mismatched, c.missing_reaps), (0, 1, 1));
    assert_eq!(c.reasons["reaper"], 1);
    assert_eq!(c.reasons["reap time outside the reaper's wait call"], 1);
    assert_eq!(c.reused_pids, 1);
    assert_eq!(c.examples.len(), 1);
}

#[test]
fn missing_and_unexpected_lines_are_counted_once_old() {
    let (_, r) = lines();
    let mut c = Checker::new(32768);
    c.truth(truth(), 0);
    c.event(
        Event::Reap(Line {
            pid: 31000,
            ..r.clone()
        }),
        0,
    );
    c.expire(AGE - 1, AGE);
    assert_eq!(
        (c.missing_reaps, c.unexpected_reaps, c.pending()),
        (0, 0, 2)
    );
    c.expire(AGE, AGE);
    assert_eq!(
        (c.missing_reaps, c.unexpected_reaps, c.pending()),
        (1, 1, 0)
    );
    // A reap without its zombie line: paired, but the zombie line is missing.
    c.truth(truth(), 0);
    c.event(Event::Reap(r), 0);
    assert_eq!((c.matched, c.missing_zombies), (1, 1));
    // The workload's own top process is not one of its records.
    c.ignore_pid = 42;
    c.event(
        Event::Reap(Line {
            pid: 42,
            ..Line::default()
        }),
        0,
    );
    assert_eq!(c.pending(), 0);
    assert!(!c.exact());
}

#[test]
fn fork_failures_come_in_pid_0_records() {
    let mut c = Checker::new(100);
    c.truth(
        Truth {
            status: 3,
            ..Truth::default()
        },
        0,
    );
    assert_eq!((c.fork_failures, c.records), (3, 0));
}
