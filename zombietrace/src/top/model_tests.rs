//! The model made from a real pipeline state: parents and their leaks counted by
//! `pipeline::parents`, diagnosed by a host that answers like procfs would.

use std::sync::Arc;

use super::*;
use crate::{
    diagnose::Sigchld,
    kernel::loader::Counters,
    pipeline::{
        Host,
        event::{Reap, ReapCall, ReaperRole, Zombie},
        filter::Filter,
        parents::Parents,
        phases::Phases,
        summary::RunCounts,
        tracker::Tracker,
    },
    sys::{cgroup::Cgroup, proc::ProcError},
};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// Pid 5 can be read (it sleeps with SIGCHLD at default); of the others, those `alive` are.
struct Procfs {
    alive: &'static [u32],
}

impl Host for Procfs {
    fn role(&self, _: u32) -> ReaperRole {
        ReaperRole::Init
    }
    fn alive(&self, pid: u32) -> bool {
        pid == 5 || self.alive.contains(&pid)
    }
    fn diagnose(&self, pid: u32) -> Result<Diagnosis, ProcError> {
        if pid != 5 {
            return Err(ProcError::Gone(pid));
        }
        Ok(Diagnosis {
            pid,
            comm: "leaker".into(),
            cmdline: "leaker --forever".into(),
            user: "root".into(),
            state: 'S',
            state_text: "sleeping".into(),
            wchan: Some("hrtimer_nanosleep".into()),
            wchan_hidden: false,
            threads: 1,
            age_ns: 60 * S,
            sigchld: Sigchld::Default,
            sigchld_blocked: false,
            traced: false,
            cgroup: None,
            workload: None,
            ns_init: false,
            nspid: None,
        })
    }
    fn cgroup(&self, id: u64) -> Arc<Cgroup> {
        Arc::new(Cgroup {
            id,
            path: None,
            workload: None,
        })
    }
}

fn zombie(pid: u32, ppid: u32, comm: &str, ts_ns: u64) -> Zombie {
    Zombie {
        pid,
        nspid: None,
        ppid,
        parent_start_ns: Some(7),
        comm: comm.into(),
        parent_comm: if ppid == 5 { "leaker" } else { "reaper" }.into(),
        status: Default::default(),
        start_ns: Some(pid as u64),
        ts_ns,
        since: Since::Notified,
        cgroup: None,
        parent_cgroup: None,
    }
}

fn reap(z: Zombie, ts_ns: u64, kind: ReapKind) -> Event {
    let z_ts = z.ts_ns;
    Event::Reap(Reap {
        zombie_ns: ts_ns - z.ts_ns,
        zombie: z,
        ts_ns,
        reaper_pid: 9,
        reaper_comm: "reaper".into(),
        kind,
        call: Some(ReapCall::Wait4),
        reaper_role: None,
        approx: false,
        phases: Phases {
            ask_ns: Some(1000),
            wake_ns: Some(ts_ns - z_ts - 1000),
            ..Phases::default()
        },
    })
}

/// The pipeline's statistics and this collector, fed the same events.
struct Run {
    host: Procfs,
    tracker: Tracker,
    parents: Parents,
    collector: Collector,
}

impl Run {
    fn new(alive: &'static [u32]) -> Run {
        Run {
            host: Procfs { alive },
            tracker: Tracker::new(Filter::default(), 0),
            parents: Parents::new(S),
            collector: Collector::new(S, WallClock::with_offset(0, true)),
        }
    }

    fn emit(&mut self, event: Event) {
        self.parents.observe(&event);
        self.collector.event(&event);
    }

    fn tick(&mut self, now_ns: u64) {
        let mut out = Vec::new();
        self.parents.tick(now_ns, &self.host, &mut out);
        out.into_iter().for_each(|e| self.emit(e));
    }

    fn roll(&mut self, now_ns: u64) {
        let view = view(&self.tracker, &self.parents, now_ns);
        self.collector.roll(&view);
    }

    fn model(&self, now_ns: u64, open: Option<u32>) -> Model {
        self.collector
            .model(&view(&self.tracker, &self.parents, now_ns), open)
    }
}

fn view<'a>(tracker: &'a Tracker, parents: &'a Parents, now_ns: u64) -> View<'a> {
    View {
        now_ns,
        tracker,
        parents,
        counters: Counters {
            lost: 3,
            ..Counters::default()
        },
        counts: RunCounts::default(),
    }
}

#[test]
fn a_leaking_parent_ranks_first_with_its_verdict_and_history() {
    let mut run = Run::new(&[9]);
    run.tick(0);
    run.roll(0);
    for (i, pid) in (100..103).enumerate() {
        run.emit(Event::Zombie(zombie(pid, 5, "child", i as u64 * 100 * MS)));
    }
    for pid in 200..210 {
        let z = zombie(pid, 9, "quick", 10 * MS);
        run.emit(Event::Zombie(z.clone()));
        let kind = if pid == 200 {
            ReapKind::Autoreap
        } else {
            ReapKind::Wait4
        };
        run.emit(reap(z, 20 * MS, kind));
    }
    run.tick(S);
    run.roll(S);
    run.tick(2 * S);
    run.roll(2 * S);
    let m = run.model(2 * S, Some(5));

    let h = &m.header;
    assert_eq!(h.time, "00:00:02");
    assert_eq!(
        (h.exits_per_s, h.reaps_per_s),
        (0.0, 0.0),
        "nothing since 1 s"
    );
    assert_eq!(h.lost, 3);
    assert_eq!(h.leaking, 1);

    let [leaker, reaper] = &m.rows[..] else {
        panic!("{:?}", m.rows)
    };
    assert_eq!((leaker.pid, leaker.rank, leaker.outstanding), (5, 0, 3));
    assert_eq!(leaker.oldest_ns, 2 * S);
    assert_eq!(
        (leaker.health, leaker.label, leaker.how.as_str()),
        (Health::Leaking, "never waits", "-")
    );
    assert!(
        leaker
            .verdict
            .as_deref()
            .unwrap()
            .contains("never waits for them")
    );
    assert_eq!((reaper.pid, reaper.outstanding, reaper.label), (9, 0, "ok"));
    assert_eq!(reaper.how, "wait4+", "mostly wait4, one autoreap");
    assert_eq!(reaper.p99_ns, 10 * MS);

    let d = m.detail.expect("pid 5 is open");
    assert_eq!(
        d.children.iter().map(|c| (c.0, c.2)).collect::<Vec<_>>(),
        [(100, 2 * S), (101, 1900 * MS), (102, 1800 * MS)]
    );
    assert_eq!(d.history, [3, 3], "one sample per roll since it appeared");
    assert_eq!(
        d.diagnosis.as_ref().map(|d| d.cmdline.as_str()),
        Some("leaker --forever")
    );
    assert_eq!(d.leaking.map(|l| l.0), Some(S), "leaking since 1 s");
    assert_eq!((d.zombies, d.reaped, d.leaks), (3, 0, 1));
    assert_eq!(d.phases, None, "it never reaped");
    let phases = run.model(2 * S, Some(9)).detail.unwrap().phases.unwrap();
    assert_eq!(phases.reaps, 10);
    assert!((1000..=1125).contains(&phases.ask_p99_ns), "{phases:?}");
    assert!(
        run.model(2 * S, Some(77)).detail.is_none(),
        "no such parent"
    );
}

#[test]
fn the_header_covers_the_last_interval() {
    let mut run = Run::new(&[9]);
    run.tick(0);
    assert!(run.collector.due(0), "the first tick starts an interval");
    run.roll(0);
    assert!(!run.collector.due(999 * MS));
    assert!(run.collector.due(S));
    for pid in 300..320u32 {
        let z = zombie(pid, 9, "quick", 100 * MS);
        run.emit(Event::Zombie(z.clone()));
        run.emit(reap(z, 100 * MS + pid as u64 * 1000, ReapKind::Wait4));
    }
    // Zombies found in procfs at the start are not exits of this interval.
    run.emit(Event::Zombie(Zombie {
        since: Since::TracingStart,
        ..zombie(400, 9, "old", 0)
    }));
    run.roll(2 * S);
    let h = run.model(2 * S, None).header;
    assert_eq!((h.exits_per_s, h.reaps_per_s), (10.0, 10.0));
    assert!(
        h.p50_ns >= 309_000 && h.p50_ns <= 310_000 * 9 / 8,
        "{}",
        h.p50_ns
    );
    assert!(
        h.p99_ns >= 319_000 && h.p99_ns <= 319_000 * 9 / 8,
        "{}",
        h.p99_ns
    );
    run.roll(3 * S);
    let h = run.model(3 * S, None).header;
    assert_eq!(
        (h.exits_per_s, h.reaps_per_s as u64, h.p99_ns),
        (0.0, 0, 0),
        "a new interval starts empty"
    );
}

#[test]
fn history_is_bounded_and_forgotten_with_its_parent() {
    let mut run = Run::new(&[]);
    run.emit(Event::Zombie(zombie(100, 5, "child", 0)));
    for i in 0..(HISTORY as u64 + 10) {
        run.tick(i * S);
        run.roll(i * S);
    }
    let now = (HISTORY as u64 + 9) * S;
    assert_eq!(
        run.model(now, Some(5)).detail.unwrap().history.len(),
        HISTORY
    );
    // Pid 9 reaps its one child and is gone from procfs: the pipeline forgets it.
    let z = zombie(200, 9, "quick", now);
    run.emit(Event::Zombie(z.clone()));
    run.emit(reap(z, now + MS, ReapKind::Wait4));
    run.tick(now + S);
    run.roll(now + S);
    assert!(run.collector.history.contains_key(&5));
    assert!(
        run.model(now + S, None)
            .rows
            .iter()
            .any(|r| r.pid == 9 && r.health == Health::Exited),
        "kept as an exited parent"
    );
}
