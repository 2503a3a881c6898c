//! wait4 / waitid: a reap happens inside the wait call; its return is the reap time.
//! waitid's entry probe keeps what its return needs (the siginfo buffer that names the child and
//! holds its status, and the options); the return probes emit a `WaitEvent` for each child
//! reaped.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user},
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use aya_log_ebpf::warn;
use zombietrace_common::{
    STATUS_UNKNOWN, WaitArgs, WaitEvent, call, counter, kind, siginfo_status, slot,
};

use crate::{
    maps::{SIGCHLD_DELIVERED, WAIT_ARGS, WAIT_ENTERED, count, emit, finish, stamp, stamped},
    off, slots,
    task::{Direct, Mem, Probe, Task},
    zombie::now,
};

pub const WNOWAIT: u32 = 0x0100_0000;
const P_PID: u32 = 1;
const P_PIDFD: u32 = 3;

/// A field of a tracepoint record, at the offset tracefs gave.
#[inline(always)]
pub fn field<T>(ctx: &TracePointContext, offset: u32) -> Result<T, i32> {
    unsafe { ctx.read_at::<T>(offset as usize) }
}

#[inline(always)]
fn current_tid() -> u32 {
    bpf_get_current_pid_tgid() as u32
}

#[inline(always)]
fn remember(ctx: &TracePointContext, args: &WaitArgs) {
    let tid = current_tid();
    if WAIT_ARGS.insert(tid, args, 0).is_err() {
        count(counter::WAIT_MAP_FULL);
        warn!(
            ctx,
            "wait-call map full: the wait of thread {} is not followed", tid
        );
    }
}

/// A wait call begins (do_wait, for wait4 and waitid alike): stamps when, for its thread, so
/// that the reap it returns tells how long the parent took to ask and how long to be answered.
#[raw_tracepoint(tracepoint = "sched_process_wait")]
pub fn sched_process_wait(_ctx: RawTracePointContext) -> i32 {
    stamp(&WAIT_ENTERED, current_tid(), now());
    0
}

/// wait4 returns the pid of the child it reports: a reap, or (with WUNTRACED / WCONTINUED, or to
/// a ptracer) a stop or a continue. The child's slot tells them apart (see `emit_wait`), so wait4
/// needs no entry probe; the status came with the zombie event.
#[tracepoint(category = "syscalls", name = "sys_exit_wait4")]
pub fn sys_exit_wait4(ctx: TracePointContext) -> u32 {
    finish(try_exit_wait4::<Probe>(&ctx))
}

/// `sys_exit_wait4` reading the reaper with plain loads (Linux 5.11+).
#[tracepoint(category = "syscalls", name = "sys_exit_wait4")]
pub fn sys_exit_wait4_btf(ctx: TracePointContext) -> u32 {
    finish(try_exit_wait4::<Direct>(&ctx))
}

fn try_exit_wait4<M: Mem>(ctx: &TracePointContext) -> Result<(), i32> {
    let ret = field::<i64>(ctx, off!(tp_exit_ret))?;
    if ret <= 0 {
        return Ok(()); // error, or WNOHANG with nothing to report
    }
    emit_wait::<M>(ret as u32, call::WAIT4, STATUS_UNKNOWN)
}

#[tracepoint(category = "syscalls", name = "sys_enter_waitid")]
pub fn sys_enter_waitid(ctx: TracePointContext) -> u32 {
    finish(try_enter_waitid(&ctx))
}

fn try_enter_waitid(ctx: &TracePointContext) -> Result<(), i32> {
    let options = field::<u64>(ctx, off!(tp_waitid_options))? as u32;
    if options & WNOWAIT != 0 {
        return Ok(()); // a peek: the child stays a zombie
    }
    let which = field::<u64>(ctx, off!(tp_waitid_which))? as u32;
    remember(
        ctx,
        &WaitArgs {
            user_ptr: field::<u64>(ctx, off!(tp_waitid_infop))?,
            options,
            call: if which == P_PIDFD {
                call::WAITID_PIDFD
            } else {
                call::WAITID
            },
            which,
            id: field::<u64>(ctx, off!(tp_waitid_upid))? as u32,
        },
    );
    Ok(())
}

#[tracepoint(category = "syscalls", name = "sys_exit_waitid")]
pub fn sys_exit_waitid(ctx: TracePointContext) -> u32 {
    finish(try_exit_waitid::<Probe>(&ctx))
}

/// `sys_exit_waitid` reading the reaper with plain loads (Linux 5.11+).
#[tracepoint(category = "syscalls", name = "sys_exit_waitid")]
pub fn sys_exit_waitid_btf(ctx: TracePointContext) -> u32 {
    finish(try_exit_waitid::<Direct>(&ctx))
}

fn try_exit_waitid<M: Mem>(ctx: &TracePointContext) -> Result<(), i32> {
    let tid = current_tid();
    let Some(args) = (unsafe { WAIT_ARGS.get(tid) }).copied() else {
        return Ok(()); // a WNOWAIT peek, or entered before tracing began
    };
    let _ = WAIT_ARGS.remove(tid); // just read: present
    if field::<i64>(ctx, off!(tp_exit_ret))? != 0 {
        return Ok(());
    }
    if args.user_ptr == 0 {
        // No siginfo to read: only P_PID names the child.
        let pid = if args.which == P_PID { args.id } else { 0 };
        return emit_wait::<M>(pid, args.call, STATUS_UNKNOWN);
    }
    // siginfo: si_code @8, si_pid @16, si_status @24.
    let infop = args.user_ptr as *const u8;
    let si_pid: u32 = unsafe { bpf_probe_read_user(infop.wrapping_add(16).cast()) }?;
    if si_pid == 0 {
        return Ok(()); // WNOHANG and no child was ready
    }
    let si_code: i32 = unsafe { bpf_probe_read_user(infop.wrapping_add(8).cast()) }?;
    if !(1..=3).contains(&si_code) {
        return Ok(()); // stopped/continued/trapped: not a reap
    }
    let si_status: u32 = unsafe { bpf_probe_read_user(infop.wrapping_add(24).cast()) }?;
    emit_wait::<M>(si_pid, args.call, siginfo_status(si_code, si_status))
}

/// Sends the reap of `pid` (as the caller names it), by the current thread's process. A caller in the initial pid namespace
/// names the child by its global pid, which keys its slot: not sent for a zombie the filters
/// excluded, nor for a child forked while tracing that has not exited (a stop or a continue
/// report); a sent one spares its free.
#[inline(always)]
pub fn emit_wait<M: Mem>(pid: u32, call: u32, status: u32) -> Result<(), i32> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let current = Task::<M>::current();
    let ns_level = current.ns_level()?;
    let global = ns_level == 0 && pid != 0;
    if global && let Some(flags) = slots::flags(pid) {
        let alive = flags & slot::TRACED_FORK != 0 && flags & slot::ZOMBIE_SENT == 0;
        if alive || flags & slot::FILTERED != 0 {
            return Ok(());
        }
    }
    let (tid, tgid) = (pid_tgid as u32, (pid_tgid >> 32) as u32);
    let entered_ns = stamped(&WAIT_ENTERED, tid);
    // The process's name, not the reaping thread's.
    let leader = if tid == tgid {
        current
    } else {
        current.group_leader()?
    };
    let sent = emit(&WaitEvent {
        ts_ns: now(),
        kind: kind::WAIT,
        reaper_tgid: tgid,
        entered_ns,
        sigchld_ns: stamped(&SIGCHLD_DELIVERED, tgid),
        pid,
        ns_level,
        call,
        status,
        comm: leader.comm()?,
    });
    if sent && global {
        slots::mark(pid, slot::WAIT_SEEN);
    }
    Ok(())
}
