//! sched_process_{fork,exit,free}: who forked whom, exits that notify nobody, and the final free.
//! Each as a raw tracepoint reading with probe reads, and a BTF-typed twin (`…_btf`) with plain
//! loads that the loader prefers where the kernel allows it (Linux 5.11+).

use aya_ebpf::{
    EbpfContext,
    helpers::bpf_get_current_pid_tgid,
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use aya_log_ebpf::warn;
use zombietrace_common::{FreeEvent, ThreadExitEvent, kind, setting, zflag};

use crate::{
    maps::{emit, finish},
    setting, slots,
    task::{Direct, Mem, Probe, SIGCHLD, Task},
    zombie::{self, now, zombie_event},
};

/// Records each new process's first parent, so a later reap by someone else is `reparented`.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    finish(try_sched_process_fork::<Probe, _>(&ctx, ctx.arg(1))) as i32
}

#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_process_fork_btf(ctx: BtfTracePointContext) -> i32 {
    finish(try_sched_process_fork::<Direct, _>(&ctx, ctx.arg(1))) as i32
}

// TP_PROTO(struct task_struct *parent, struct task_struct *child)
fn try_sched_process_fork<M: Mem, C: EbpfContext>(ctx: &C, child: *const u8) -> Result<(), i32> {
    if child.is_null() {
        return Ok(());
    }
    let child = Task::<M>::new(child);
    let (pid, tgid) = child.pid_tgid()?;
    if pid != tgid {
        return Ok(()); // a new thread, not a new process
    }
    // real_parent, not the forking task: CLONE_PARENT makes the forker's parent the parent.
    let parent = child.real_parent()?.tgid()?;
    if !slots::remember_parent(tgid, parent) {
        warn!(
            ctx,
            "first-parent map full: a reap of {} by a new parent may show as kernel", tgid
        );
    }
    Ok(())
}

/// Exits that send no SIGCHLD (parent ignores it, or no exit signal) are seen here, at the start
/// of the exit; so are non-leader threads with `--threads`.
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(_ctx: RawTracePointContext) -> i32 {
    finish(try_sched_process_exit::<Probe>()) as i32
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit_btf(_ctx: BtfTracePointContext) -> i32 {
    finish(try_sched_process_exit::<Direct>()) as i32
}

fn try_sched_process_exit<M: Mem>() -> Result<(), i32> {
    // The exiting task (args[0]) is the current one (do_exit): taken as such, as the arguments
    // differ between kernels (6.16 added a second).
    let task = Task::<M>::current();
    // The exiting task is the current one (do_exit): the helper gives its ids without a read.
    let pid_tgid = bpf_get_current_pid_tgid();
    let (tid, tgid) = (pid_tgid as u32, (pid_tgid >> 32) as u32);
    if tid != tgid && setting!(flags) & setting::THREADS != 0 {
        emit(&ThreadExitEvent {
            ts_ns: now(),
            kind: kind::THREAD_EXIT,
            tgid,
            tid,
            status: task.exit_code()?,
            comm: task.comm()?,
        });
    }
    if task.live_threads()? != 0 {
        return Ok(()); // other threads live on: not reapable yet
    }
    let leader = if tid == tgid {
        task
    } else {
        task.group_leader()?
    };
    let parent = leader.real_parent()?;
    let exit_signal = leader.exit_signal()?;
    let disposition = parent.sigchld_disposition()?;
    let silent =
        exit_signal == 0 || (exit_signal == SIGCHLD && disposition & zflag::AUTOREAP_IGNORED != 0);
    if !silent {
        return Ok(()); // signal_generate will see the notification
    }
    let mut flags = zflag::SILENT;
    if exit_signal == SIGCHLD {
        flags |= disposition;
    } else {
        flags |= zflag::NON_SIGCHLD;
        // With no exit signal the kernel releases it at once only if the parent ignores SIGCHLD.
        flags |= disposition & zflag::AUTOREAP_IGNORED;
    }
    if let Some(event) = zombie_event(leader, tgid, parent, leader.wait_status()?, flags)? {
        zombie::send(&event);
    }
    Ok(())
}

/// The task is freed (after an RCU grace period, possibly seconds after the release): closes
/// the books on releases that no wait call showed. Sent only for those: not after a reap by a
/// wait call that was sent, nor for a zombie the filters excluded.
#[raw_tracepoint(tracepoint = "sched_process_free")]
pub fn sched_process_free(ctx: RawTracePointContext) -> i32 {
    finish(try_sched_process_free::<Probe>(ctx.arg(0))) as i32
}

#[btf_tracepoint(function = "sched_process_free")]
pub fn sched_process_free_btf(ctx: BtfTracePointContext) -> i32 {
    finish(try_sched_process_free::<Direct>(ctx.arg(0))) as i32
}

// TP_PROTO(struct task_struct *p)
fn try_sched_process_free<M: Mem>(task: *const u8) -> Result<(), i32> {
    if task.is_null() {
        return Ok(());
    }
    let task = Task::<M>::new(task);
    let (pid, tgid) = task.pid_tgid()?;
    if pid != tgid {
        return Ok(());
    }
    if !slots::release(tgid) {
        return Ok(());
    }
    emit(&FreeEvent {
        ts_ns: now(),
        kind: kind::FREE,
        tgid,
        start_ns: task.start_ns()?,
    });
    Ok(())
}
