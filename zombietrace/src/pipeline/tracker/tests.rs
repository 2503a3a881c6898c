use super::*;
use crate::pipeline::{
    kernel_event::{Call, Freed, Reparent, ThreadExit, WaitReturn, ZombieExit},
    test_host::HOST,
};
use crate::sys::wait_status::WaitStatus;

const MS: u64 = 1_000_000;

pub(super) fn tracker() -> Tracker {
    Tracker::new(Filter::default(), 0)
}

pub(super) fn zombie(tgid: u32, start_ns: u64, ppid: u32, ts_ns: u64) -> ZombieExit {
    ZombieExit {
        ts_ns,
        tgid,
        start_ns,
        ppid,
        parent_start_ns: 1,
        cgroup_id: None,
        parent_cgroup_id: None,
        orig_ppid: Some(ppid),
        status: WaitStatus(0),
        autoreap: None,
        silent: false,
        nspids: vec![tgid],
        tracer: None,
        comm: format!("child{tgid}"),
        parent_comm: format!("parent{ppid}"),
    }
}

pub(super) fn wait(reaper: u32, pid: u32, ts_ns: u64, call: Call) -> WaitReturn {
    WaitReturn {
        ts_ns,
        reaper_tgid: reaper,
        pid,
        ns_level: 0,
        call,
        status: Some(WaitStatus(3 << 8)),
        comm: format!("parent{reaper}"),
        entered_ns: None,
        sigchld_ns: None,
    }
}

pub(super) fn reaps(records: &[Event]) -> Vec<&Reap> {
    records
        .iter()
        .filter_map(|r| match r {
            Event::Reap(reap) => Some(reap),
            _ => None,
        })
        .collect()
}

#[test]
fn pairs_a_zombie_with_its_wait() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.handle(
        KernelEvent::Zombie(zombie(100, 7, 50, 1_000 * MS)),
        &HOST,
        &mut out,
    );
    assert!(matches!(&out[..], [Event::Zombie(z)] if z.pid == 100 && z.since == Since::Notified));
    t.handle(
        KernelEvent::Wait(wait(50, 100, 1_300 * MS, Call::Wait4)),
        &HOST,
        &mut out,
    );
    let reaps = reaps(&out);
    assert_eq!(reaps.len(), 1);
    let r = reaps[0];
    assert_eq!(
        (r.kind, r.zombie_ns, r.reaper_pid),
        (ReapKind::Wait4, 300 * MS, 50)
    );
    assert_eq!(r.call, Some(ReapCall::Wait4));
    assert_eq!(
        r.zombie.status.exit_code(),
        Some(3),
        "the wait's own status wins"
    );
    assert!(!r.approx);
    assert!(t.outstanding().is_empty());
    // The later free of a reaped task changes nothing.
    out.clear();
    t.handle(
        KernelEvent::Free(Freed {
            ts_ns: 2_000 * MS,
            tgid: 100,
            start_ns: 7,
        }),
        &HOST,
        &mut out,
    );
    t.tick(3_000 * MS, &HOST, &mut out);
    assert!(out.is_empty());
    assert_eq!(t.stats().reaps[&ReapKind::Wait4], 1);
}

#[test]
fn waitid_and_pidfd_are_waitid_reaps() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.handle(KernelEvent::Zombie(zombie(10, 1, 5, 0)), &HOST, &mut out);
    t.handle(KernelEvent::Zombie(zombie(11, 1, 5, 0)), &HOST, &mut out);
    t.handle(
        KernelEvent::Wait(wait(5, 10, 10, Call::Waitid)),
        &HOST,
        &mut out,
    );
    t.handle(
        KernelEvent::Wait(wait(5, 11, 20, Call::WaitidPidfd)),
        &HOST,
        &mut out,
    );
    let reaps = reaps(&out);
    assert_eq!(reaps[0].kind, ReapKind::Waitid);
    assert_eq!(reaps[1].kind, ReapKind::Waitid);
    assert_eq!(reaps[1].call, Some(ReapCall::WaitidPidfd));
}

#[test]
fn io_uring_waitid_is_its_own_exact_kind() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.handle(KernelEvent::Zombie(zombie(12, 1, 5, 0)), &HOST, &mut out);
    t.handle(
        KernelEvent::Wait(wait(5, 12, 30, Call::IoUringWaitid)),
        &HOST,
        &mut out,
    );
    let reaps = reaps(&out);
    assert_eq!(reaps[0].kind, ReapKind::IoUring);
    assert_eq!(reaps[0].call, Some(ReapCall::IoUringWaitid));
    assert!(!reaps[0].approx);
    assert_eq!(t.stats().reaps[&ReapKind::IoUring], 1);
}

#[test]
fn pid_reuse_never_joins_two_processes() {
    let mut t = tracker();
    let mut out = Vec::new();
    // Process A (pid 100, started at 7) becomes a zombie; its release is never seen.
    t.handle(KernelEvent::Zombie(zombie(100, 7, 50, 10)), &HOST, &mut out);
    // Process B reuses pid 100 (started at 9) and becomes a zombie.
    t.handle(KernelEvent::Zombie(zombie(100, 9, 60, 20)), &HOST, &mut out);
    assert_eq!(t.stats().vanished, 1);
    // A's free (start 7) must not close B.
    t.handle(
        KernelEvent::Free(Freed {
            ts_ns: 30,
            tgid: 100,
            start_ns: 7,
        }),
        &HOST,
        &mut out,
    );
    t.tick(u64::MAX / 2, &HOST, &mut out);
    assert!(reaps(&out).is_empty());
    assert_eq!(t.outstanding().len(), 1);
    assert_eq!(t.outstanding()[0].ppid, 60);
    // B's wait pairs with B, measured from B's zombie time.
    t.handle(
        KernelEvent::Wait(wait(60, 100, 120, Call::Wait4)),
        &HOST,
        &mut out,
    );
    assert_eq!(reaps(&out)[0].zombie_ns, 100);
    assert_eq!(reaps(&out)[0].zombie.start_ns, Some(9));
}

#[test]
fn a_free_without_a_wait_closes_the_books_after_the_grace() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.handle(KernelEvent::Zombie(zombie(100, 7, 50, 0)), &HOST, &mut out);
    t.handle(
        KernelEvent::Free(Freed {
            ts_ns: 40 * MS,
            tgid: 100,
            start_ns: 7,
        }),
        &HOST,
        &mut out,
    );
    t.tick(40 * MS + FREE_GRACE_NS - 1, &HOST, &mut out);
    assert!(reaps(&out).is_empty(), "a wait may still be on its way");
    t.tick(40 * MS + FREE_GRACE_NS, &HOST, &mut out);
    let r = reaps(&out)[0];
    assert_eq!(
        (r.kind, r.approx, r.zombie_ns),
        (ReapKind::Kernel, true, 40 * MS)
    );
}

#[test]
fn a_wait_arriving_after_the_free_still_wins() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.handle(KernelEvent::Zombie(zombie(100, 7, 50, 0)), &HOST, &mut out);
    t.handle(
        KernelEvent::Free(Freed {
            ts_ns: 5 * MS,
            tgid: 100,
            start_ns: 7,
        }),
        &HOST,
        &mut out,
    );
    t.handle(
        KernelEvent::Wait(wait(50, 100, 4 * MS, Call::Wait4)),
        &HOST,
        &mut out,
    );
    t.tick(u64::MAX / 2, &HOST, &mut out);
    let reaps = reaps(&out);
    assert_eq!(reaps.len(), 1);
    assert_eq!(
        (reaps[0].kind, reaps[0].zombie_ns, reaps[0].approx),
        (ReapKind::Wait4, 4 * MS, false)
    );
}

#[test]
fn autoreap_is_reported_at_once() {
    let mut t = tracker();
    let mut out = Vec::new();
    let mut z = zombie(100, 7, 50, 10);
    z.autoreap = Some(crate::pipeline::kernel_event::Autoreap::Ignored);
    z.silent = true;
    t.handle(KernelEvent::Zombie(z), &HOST, &mut out);
    let r = reaps(&out)[0];
    assert_eq!(
        (r.kind, r.zombie_ns, r.reaper_pid, r.approx),
        (ReapKind::Autoreap, 0, 50, false)
    );
    assert!(t.outstanding().is_empty());
}

#[test]
fn orphaned_zombie_reaped_by_a_subreaper_is_reparented() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.handle(KernelEvent::Zombie(zombie(100, 7, 50, 10)), &HOST, &mut out);
    // The parent exits: its zombie child is handed to subreaper 40.
    t.handle(KernelEvent::Zombie(zombie(50, 3, 40, 20)), &HOST, &mut out);
    t.handle(
        KernelEvent::Reparent(Reparent {
            ts_ns: 20,
            old_ppid: 50,
            new_ppid: 40,
            ns_pid: 100,
            new_parent_ns_level: 0,
            autoreap: None,
            new_parent_comm: "reaper".into(),
        }),
        &HOST,
        &mut out,
    );
    t.handle(
        KernelEvent::Wait(wait(40, 100, 110, Call::Wait4)),
        &HOST,
        &mut out,
    );
    let r = reaps(&out)[0];
    assert_eq!(r.kind, ReapKind::Reparented);
    assert_eq!(r.reaper_role, Some(ReaperRole::Subreaper));
    assert_eq!((r.reaper_pid, r.zombie.ppid, r.zombie_ns), (40, 40, 100));
    assert_eq!(r.call, Some(ReapCall::Wait4));
}

#[test]
fn child_adopted_before_it_died_is_reparented() {
    let mut t = tracker();
    let mut out = Vec::new();
    let mut z = zombie(100, 7, 1, 10);
    z.orig_ppid = Some(50); // forked by 50, which exited first
    t.handle(KernelEvent::Zombie(z), &HOST, &mut out);
    t.handle(
        KernelEvent::Free(Freed {
            ts_ns: 2_000 * MS,
            tgid: 100,
            start_ns: 7,
        }),
        &HOST,
        &mut out,
    );
    t.tick(3_000 * MS, &HOST, &mut out);
    let r = reaps(&out)[0];
    assert_eq!(
        (r.kind, r.reaper_role, r.approx),
        (ReapKind::Reparented, Some(ReaperRole::Init), true)
    );
}

#[test]
fn waits_inside_a_pid_namespace_name_the_namespace_pid() {
    let mut t = tracker();
    let mut out = Vec::new();
    let mut z = zombie(5000, 7, 4000, 10);
    z.nspids = vec![5000, 3];
    t.handle(KernelEvent::Zombie(z), &HOST, &mut out);
    assert!(matches!(&out[0], Event::Zombie(z) if z.nspid == Some(3)));
    let mut w = wait(4000, 3, 50, Call::Waitid);
    w.ns_level = 1;
    t.handle(KernelEvent::Wait(w), &HOST, &mut out);
    let r = reaps(&out)[0];
    assert_eq!(
        (r.zombie.pid, r.kind, r.zombie_ns),
        (5000, ReapKind::Waitid, 40)
    );
}

#[test]
fn unknown_waits_are_counted() {
    let mut t = tracker();
    let mut out = Vec::new();
    t.handle(
        KernelEvent::Wait(wait(1, 99, 5, Call::Wait4)),
        &HOST,
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(t.stats().unmatched_waits, 1);
}

#[test]
fn min_zombie_announces_only_long_waiters() {
    let mut t = Tracker::new(Filter::default(), 100 * MS);
    let mut out = Vec::new();
    t.handle(KernelEvent::Zombie(zombie(1, 1, 9, 0)), &HOST, &mut out);
    t.handle(
        KernelEvent::Zombie(zombie(2, 1, 9, 10 * MS)),
        &HOST,
        &mut out,
    );
    assert!(out.is_empty());
    t.handle(
        KernelEvent::Wait(wait(9, 2, 20 * MS, Call::Wait4)),
        &HOST,
        &mut out,
    );
    out.clear();
    t.tick(105 * MS, &HOST, &mut out);
    assert!(
        matches!(&out[..], [Event::Zombie(z)] if z.pid == 1),
        "{out:?}"
    );
    out.clear();
    t.tick(200 * MS, &HOST, &mut out);
    assert!(out.is_empty(), "announced once");
}

#[test]
fn existing_zombies_are_adopted_with_unknown_age() {
    let mut t = tracker();
    let mut out = Vec::new();
    let existing = Existing {
        pid: 77,
        nspids: vec![77],
        ppid: 70,
        comm: "defunct".into(),
        parent_comm: "leaker".into(),
        cgroup: Some("/system.slice/leaker.service".into()),
    };
    t.adopt(existing, 1_000, &mut out);
    let Event::Zombie(z) = &out[0] else { panic!() };
    assert_eq!(
        z.cgroup.as_ref().and_then(|c| c.short()).as_deref(),
        Some("leaker.service")
    );
    assert!(matches!(&out[..], [Event::Zombie(z)] if z.since == Since::TracingStart));
    t.handle(
        KernelEvent::Wait(wait(70, 77, 5_000, Call::Wait4)),
        &HOST,
        &mut out,
    );
    let r = reaps(&out)[0];
    assert!(r.approx, "its zombie time is only a lower bound");
    assert_eq!(r.zombie_ns, 4_000);
}

#[test]
fn threads_are_reported_with_threads() {
    let mut t = tracker();
    let mut out = Vec::new();
    let exit = ThreadExit {
        ts_ns: 5,
        tgid: 10,
        tid: 12,
        status: WaitStatus(0),
        comm: "worker".into(),
    };
    t.handle(KernelEvent::ThreadExit(exit), &HOST, &mut out);
    let r = reaps(&out)[0];
    assert_eq!(
        (r.kind, r.zombie.pid, r.reaper_pid, r.zombie_ns),
        (ReapKind::Thread, 12, 10, 0)
    );
}

#[test]
fn a_ptracers_wait_is_not_a_reap_and_the_real_parent_has_the_phases() {
    let mut t = tracker();
    let mut out = Vec::new();
    // strace (900) is told of the exit of 100, whose real parent is 50.
    let mut z = zombie(100, 7, 50, 1_000 * MS);
    z.tracer = Some(900);
    t.handle(KernelEvent::Zombie(z), &HOST, &mut out);
    t.handle(
        KernelEvent::Wait(wait(900, 100, 1_000 * MS + 38_000, Call::Wait4)),
        &HOST,
        &mut out,
    );
    assert!(
        reaps(&out).is_empty(),
        "strace collecting the exit is no reap"
    );
    // The real parent sleeps 1 s, then waits.
    let mut w = wait(50, 100, 2_000 * MS + 50_000, Call::Wait4);
    w.entered_ns = Some(2_000 * MS);
    t.handle(KernelEvent::Wait(w), &HOST, &mut out);
    let r = reaps(&out)[0];
    assert_eq!(
        (r.kind, r.reaper_pid, r.zombie.ppid),
        (ReapKind::Wait4, 50, 50)
    );
    assert_eq!(r.zombie_ns, 1_000 * MS + 50_000);
    assert_eq!(r.phases.ptrace_ns, Some(38_000));
    assert_eq!(r.phases.ask_ns, Some(1_000 * MS - 38_000));
    assert_eq!(r.phases.wake_ns, Some(50_000));
    assert_eq!(t.stats().unmatched_waits, 0);
}
