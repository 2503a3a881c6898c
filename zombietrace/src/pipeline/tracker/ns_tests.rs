//! Pids inside namespaces: one number at one level names a different process in each
//! container, so a reparent or a wait there finds only the zombie of the parent that names it.

use super::tests;
use super::*;
use crate::pipeline::{
    kernel_event::{Call, Reparent, WaitReturn, ZombieExit},
    test_host::HOST,
};

/// Zombie `tgid` of parent `ppid`, pid `nspid` in its namespace at level 1.
fn zombie(tgid: u32, ppid: u32, nspid: u32) -> ZombieExit {
    let mut z = tests::zombie(tgid, 7, ppid, 10);
    z.nspids = vec![tgid, nspid];
    z
}

/// `reaper`'s wait4 in its namespace at level 1 returning `pid`.
fn wait(reaper: u32, pid: u32) -> WaitReturn {
    let mut w = tests::wait(reaper, pid, 50, Call::Wait4);
    w.ns_level = 1;
    w
}

fn reparent(old_ppid: u32, new_ppid: u32, ns_pid: u32) -> Reparent {
    Reparent {
        ts_ns: 20,
        old_ppid,
        new_ppid,
        ns_pid,
        new_parent_ns_level: 1,
        autoreap: None,
        new_parent_comm: format!("parent{new_ppid}"),
    }
}

/// (zombie, reaper) of each reap.
fn reaped(out: &[Event]) -> Vec<(u32, u32)> {
    tests::reaps(out)
        .iter()
        .map(|r| (r.zombie.pid, r.reaper_pid))
        .collect()
}

#[test]
fn a_wait_in_another_container_is_not_a_reap_of_this_one() {
    let mut t = tests::tracker();
    let mut out = Vec::new();
    // Container A's pid 7 (host 5000, parent 4000) is the one zombie tracked: container B's
    // pid 7 was filtered out.
    t.handle(KernelEvent::Zombie(zombie(5000, 4000, 7)), &HOST, &mut out);
    t.handle(KernelEvent::Wait(wait(6000, 7)), &HOST, &mut out);
    assert_eq!(reaped(&out), [], "B's parent reaped B's pid 7");
    assert_eq!(t.stats.unmatched_waits, 1);
    t.handle(KernelEvent::Wait(wait(4000, 7)), &HOST, &mut out);
    assert_eq!(reaped(&out), [(5000, 4000)]);
}

#[test]
fn a_reparent_in_another_container_leaves_this_one_alone() {
    let mut t = tests::tracker();
    let mut out = Vec::new();
    t.handle(KernelEvent::Zombie(zombie(5000, 4000, 7)), &HOST, &mut out);
    // Container B's parent 6000 exits; its pid 7 goes to B's init 5900.
    t.handle(
        KernelEvent::Reparent(reparent(6000, 5900, 7)),
        &HOST,
        &mut out,
    );
    assert!(
        !out.iter().any(|e| matches!(e, Event::Adopted(_))),
        "{out:?}"
    );
    // A's own parent exits: its pid 7 goes to A's init 3900, which reaps it.
    t.handle(
        KernelEvent::Reparent(reparent(4000, 3900, 7)),
        &HOST,
        &mut out,
    );
    assert!(
        out.iter()
            .any(|e| matches!(e, Event::Adopted(a) if a.pid == 5000 && a.ppid == 3900))
    );
    t.handle(KernelEvent::Wait(wait(3900, 7)), &HOST, &mut out);
    assert_eq!(reaped(&out), [(5000, 3900)]);
}

#[test]
fn two_containers_pid_7_each_go_to_their_own_parent() {
    let mut t = tests::tracker();
    let mut out = Vec::new();
    t.handle(KernelEvent::Zombie(zombie(5000, 4000, 7)), &HOST, &mut out);
    t.handle(KernelEvent::Zombie(zombie(6100, 6000, 7)), &HOST, &mut out);
    t.handle(KernelEvent::Wait(wait(6000, 7)), &HOST, &mut out);
    t.handle(KernelEvent::Wait(wait(4000, 7)), &HOST, &mut out);
    assert_eq!(reaped(&out), [(6100, 6000), (5000, 4000)]);
}
