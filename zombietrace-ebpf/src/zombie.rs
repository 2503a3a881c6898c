//! Building a `ZombieEvent` (shared by the notification and the silent-exit paths) and the
//! in-kernel filters.

use aya_ebpf::helpers::{bpf_get_smp_processor_id, bpf_ktime_get_ns};
use zombietrace_common::{Header, TASK_COMM_LEN, ZombieEvent, kind, setting, slot};

use crate::{maps::emit, setting, slots, task::Task};

#[inline(always)]
pub fn header(kind: u32) -> Header {
    Header {
        kind,
        cpu: unsafe { bpf_get_smp_processor_id() },
        ts_ns: unsafe { bpf_ktime_get_ns() },
    }
}

/// The zombie event for thread group `tgid` led by `leader`, made reapable by thread `tid`,
/// whose exit goes to `parent`; `None` when the command-line filters exclude it (then its wait
/// and free are not sent either).
#[inline(always)]
pub fn zombie_event(
    leader: Task,
    (tid, tgid): (u32, u32),
    parent: Task,
    flags: u32,
) -> Result<Option<ZombieEvent>, i32> {
    let ppid = parent.tgid()?;
    let orig_ppid = slots::orig_parent(tgid);
    let comm = leader.comm()?;
    let parent_leader = parent.group_leader()?;
    let parent_comm = parent_leader.comm()?;
    if !wanted(tgid, ppid, orig_ppid, &comm, &parent_comm) {
        slots::mark(tgid, slot::FILTERED);
        return Ok(None);
    }
    let (ns_level, nspid) = leader.ns_pids(tgid)?;
    let (start_ns, start_boottime_ns) = leader.start_times()?;
    Ok(Some(ZombieEvent {
        header: header(kind::ZOMBIE),
        start_ns,
        start_boottime_ns,
        parent_start_ns: parent_leader.start_ns()?,
        tgid,
        tid,
        ppid,
        orig_ppid,
        status: leader.wait_status()?,
        flags,
        ns_level,
        nspid,
        // A parent (or tracer) sees its child's pid, so its namespace is the child's or an
        // ancestor of it: a child in the initial namespace has its parent there too.
        parent_ns_level: if ns_level == 0 { 0 } else { parent.ns_level()? },
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
