use super::*;
use crate::pipeline::{
    event::{Reap, ReapCall, Since, Zombie},
    test_host::{HOST, NOBODY_ALIVE},
};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn zombie(pid: u32, ppid: u32, ts_ns: u64) -> Zombie {
    Zombie {
        pid,
        nspid: None,
        ppid,
        parent_start_ns: Some(7),
        comm: format!("child{pid}"),
        parent_comm: "leaker".into(),
        status: Default::default(),
        start_ns: Some(pid as u64),
        ts_ns,
        since: Since::Notified,
        cgroup: None,
        parent_cgroup: None,
    }
}

fn reap(z: Zombie, ts_ns: u64) -> Event {
    Event::Reap(Reap {
        zombie_ns: ts_ns - z.ts_ns,
        zombie: z,
        ts_ns,
        reaper_pid: 1,
        reaper_comm: "x".into(),
        kind: ReapKind::Wait4,
        call: Some(ReapCall::Wait4),
        reaper_role: None,
        approx: false,
        phases: Default::default(),
    })
}

#[test]
fn old_zombie_starts_a_leak_and_its_reap_ends_it() {
    let mut parents = Parents::new(S);
    let mut out = Vec::new();
    parents.observe(&Event::Zombie(zombie(10, 5, 0)));
    parents.tick(999 * MS, &HOST, &mut out);
    assert!(out.is_empty(), "not yet a second old");
    parents.tick(S, &HOST, &mut out);
    let [Event::Leak(leak)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!((leak.pid, leak.outstanding, leak.oldest_age_ns), (5, 1, S));
    assert_eq!(leak.reason, LeakReason::Old);
    assert_eq!(leak.oldest[0].pid, 10);
    out.clear();
    parents.tick(2 * S, &HOST, &mut out);
    assert!(out.is_empty(), "one leak event per episode");
    parents.observe(&reap(zombie(10, 5, 0), 3 * S));
    parents.tick(3 * S, &HOST, &mut out);
    let [Event::LeakEnd(end)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (end.pid, end.outstanding, end.leaked_for_ns, end.exited),
        (5, 0, 2 * S, false)
    );
    let ranked = parents.ranked(3 * S);
    assert_eq!(ranked[0].reaped, 1);
    assert_eq!(ranked[0].latency.max(), 3 * S);
    assert_eq!(ranked[0].kinds[&ReapKind::Wait4], 1);
}

#[test]
fn fast_reaper_never_leaks() {
    let mut parents = Parents::new(S);
    let mut out = Vec::new();
    for i in 0..100u32 {
        let t = i as u64 * 10 * MS;
        parents.observe(&Event::Zombie(zombie(100 + i, 5, t)));
        parents.observe(&reap(zombie(100 + i, 5, t), t + 100 * MS));
        parents.tick(t + 100 * MS, &HOST, &mut out);
    }
    assert!(out.is_empty(), "{out:?}");
    let p = parents.ranked(2 * S)[0];
    assert_eq!((p.zombies, p.reaped, p.outstanding.len()), (100, 100, 0));
    assert!(p.latency.quantile(0.5) >= 100 * MS);
    assert_eq!(parents.histogram().count(), 100);
}

#[test]
fn a_growing_backlog_is_a_leak_before_any_zombie_is_old() {
    let mut parents = Parents::new(3600 * S);
    let mut out = Vec::new();
    for i in 0..6u32 {
        parents.observe(&Event::Zombie(zombie(100 + i, 5, i as u64 * S)));
        parents.tick(i as u64 * S + 1, &HOST, &mut out);
    }
    let leaks: Vec<_> = out
        .iter()
        .filter_map(|r| match r {
            Event::Leak(l) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(leaks.len(), 1, "{out:?}");
    assert_eq!(leaks[0].reason, LeakReason::Growing);
    assert!(leaks[0].rate_per_min > 0.0);
}

#[test]
fn gone_parents_are_forgotten_and_exited_leakers_kept() {
    let mut parents = Parents::new(S);
    let mut out = Vec::new();
    // Parent 5 reaps its child and then disappears.
    parents.observe(&Event::Zombie(zombie(10, 5, 0)));
    parents.observe(&reap(zombie(10, 5, 0), MS));
    parents.tick(S, &NOBODY_ALIVE, &mut out);
    assert_eq!(parents.tracked(), 0);
    // Parent 6 leaks, exits (its own zombie event), and its zombie is adopted and reaped.
    parents.observe(&Event::Zombie(zombie(20, 6, S)));
    parents.tick(3 * S, &HOST, &mut out);
    let mut me = zombie(6, 1, 3 * S);
    me.start_ns = Some(7);
    parents.observe(&Event::Zombie(me));
    out.clear();
    parents.tick(3 * S + 500 * MS, &HOST, &mut out);
    assert!(
        matches!(&out[..], [Event::LeakEnd(e)] if e.exited && e.outstanding == 1),
        "{out:?}"
    );
    parents.observe(&reap(zombie(20, 6, S), 5 * S));
    parents.tick(6 * S, &HOST, &mut out);
    let ranked = parents.ranked(6 * S);
    let six = ranked
        .iter()
        .find(|p| p.pid == 6)
        .expect("the leaker is kept");
    assert_eq!((six.leaks, six.reaped, six.exited), (1, 1, true));
}

#[test]
fn exited_parents_stay_in_the_report_slowest_first() {
    let mut parents = Parents::new(S);
    let mut out = Vec::new();
    // 70 parents, each reaps one child after (parent) ms, then exits and is forgotten.
    for parent in 1..=70u32 {
        let child = zombie(1000 + parent, parent, 0);
        parents.observe(&Event::Zombie(child.clone()));
        parents.observe(&reap(child, parent as u64 * MS));
    }
    parents.tick(S, &NOBODY_ALIVE, &mut out);
    assert_eq!(parents.tracked(), 0);
    let ranked = parents.ranked(S);
    assert_eq!(ranked.len(), EXITED_KEPT);
    assert_eq!(ranked[0].pid, 70, "the slowest reaper first");
    assert!(
        ranked
            .iter()
            .all(|p| p.exited && p.pid > 70 - EXITED_KEPT as u32)
    );
}

#[test]
fn leaking_parents_rank_first() {
    let mut parents = Parents::new(S);
    let mut out = Vec::new();
    for i in 0..3u32 {
        parents.observe(&Event::Zombie(zombie(100 + i, 5, 10 * S)));
        parents.observe(&reap(zombie(100 + i, 5, 10 * S), 10 * S + MS));
    }
    parents.observe(&Event::Zombie(zombie(200, 9, 0)));
    parents.tick(10 * S, &HOST, &mut out);
    let ranked = parents.ranked(10 * S);
    assert_eq!(ranked[0].pid, 9);
    assert!(ranked[0].leaking.is_some());
}
