//! Building a `ZombieEvent` (shared by the notification and the silent-exit paths) and the
//! in-kernel filters.

use aya_ebpf::helpers::{bpf_get_current_cgroup_id, bpf_ktime_get_ns};
use zombietrace_common::{TASK_COMM_LEN, ZombieEvent, kind, setting, slot};

use crate::{
    maps::emit,
    setting, slots,
    task::{Mem, Task},
};

/// A record's timestamp: CLOCK_MONOTONIC.
#[inline(always)]
pub fn now() -> u64 {
    unsafe { bpf_ktime_get_ns() }
}

/// The zombie event for thread group `tgid` led by `leader`, whose exit goes to `parent`, with
/// wait status `status`; `None` when the command-line filters exclude it (then its wait and
/// free are not sent either). Called in the exiting task's own context (its cgroup is
/// current's).
#[inline(always)]
pub fn zombie_event<M: Mem>(
    leader: Task<M>,
    tgid: u32,
    parent: Task<M>,
    status: u32,
    flags: u32,
) -> Result<Option<ZombieEvent>, i32> {
    // A ptracer (strace, gdb) is told of the exit instead of the real parent: the zombie is
    // still the real parent's to reap, once the tracer has collected the exit.
    let real = leader.real_parent()?;
    let (parent, tracer) = if real.0 == parent.0 {
        (parent, 0)
    } else {
        (real, parent.tgid()?)
    };
    let ppid = parent.tgid()?;
    let orig_ppid = slots::orig_parent(tgid);
    let comm = leader.comm()?;
    let parent_leader = parent.group_leader()?;
    let parent_comm = parent_leader.comm()?;
    if !wanted(tgid, ppid, orig_ppid, &comm, &parent_comm) || !in_cgroup::<M>()? {
        slots::mark(tgid, slot::FILTERED);
        return Ok(None);
    }
    Ok(Some(ZombieEvent {
        ts_ns: now(),
        kind: kind::ZOMBIE,
        tgid,
        start_ns: leader.start_ns()?,
        parent_start_ns: parent_leader.start_ns()?,
        cgroup_id: unsafe { bpf_get_current_cgroup_id() },
        parent_cgroup_id: parent.cgroup_id()?,
        ppid,
        orig_ppid,
        status,
        flags,
        nspid: leader.ns_pids(tgid)?,
        tracer,
        _reserved: 0,
        comm,
        parent_comm,
    }))
}

/// Sends a zombie event, and notes on its slot that it was sent.
#[inline(always)]
pub fn send(event: &ZombieEvent) {
    if emit(event) {
        slots::mark(event.tgid, slot::ZOMBIE_SENT);
    }
}

#[inline(always)]
fn wanted(
    tgid: u32,
    ppid: u32,
    orig_ppid: u32,
    comm: &[u8; TASK_COMM_LEN],
    parent_comm: &[u8; TASK_COMM_LEN],
) -> bool {
    let pid = setting!(filter_pid);
    if pid != 0 && pid != tgid {
        return false;
    }
    let want_ppid = setting!(filter_ppid);
    if want_ppid != 0 && want_ppid != ppid && want_ppid != orig_ppid {
        return false;
    }
    if setting!(flags) & setting::FILTER_COMM != 0 {
        let want = setting!(comm);
        return comm_eq(comm, &want) || comm_eq(parent_comm, &want);
    }
    true
}

/// With `--cgroup`/`--container`: whether the exiting task (current) is in that cgroup or below.
#[inline(always)]
fn in_cgroup<M: Mem>() -> Result<bool, i32> {
    if setting!(flags) & setting::FILTER_CGROUP == 0 {
        return Ok(true);
    }
    Task::<M>::current().in_cgroup(setting!(cgroup_id))
}

/// Compares two command names up to their NUL: older kernels do not clear the bytes after it
/// when a process renames itself (exec), so whole-array equality would miss matches.
#[inline(always)]
fn comm_eq(a: &[u8; TASK_COMM_LEN], b: &[u8; TASK_COMM_LEN]) -> bool {
    for i in 0..TASK_COMM_LEN {
        if a[i] != b[i] {
            return false;
        }
        if a[i] == 0 {
            return true;
        }
    }
    true
}
