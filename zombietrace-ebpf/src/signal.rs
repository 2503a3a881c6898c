//! signal_generate: the moment a thread group becomes a zombie is when its exit is notified to
//! the parent (exit_notify → do_notify_parent), which queues the child-exit signal here. The same
//! notification, sent by an exiting parent to the new parent of one of its zombies, is a reparent.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use zombietrace_common::{ReparentEvent, cld, kind, siginfo_status, zflag};

use crate::{
    maps::{SIGCHLD_DELIVERED, emit, finish, stamp},
    off,
    task::{Direct, Mem, PF_EXITING, Probe, SIGCHLD, Task, read},
    zombie::{self, now, zombie_event},
};

// TP_PROTO(int sig, struct kernel_siginfo *info, struct task_struct *task, int group, int result)
#[raw_tracepoint(tracepoint = "signal_generate")]
pub fn signal_generate(ctx: RawTracePointContext) -> i32 {
    let sig = ctx.arg::<u64>(0) as u32;
    finish(try_signal_generate::<Probe>(sig, ctx.arg(1), ctx.arg(2))) as i32
}

/// `signal_generate` with plain loads (Linux 5.11+): loaded instead of it where the kernel can.
#[btf_tracepoint(function = "signal_generate")]
pub fn signal_generate_btf(ctx: BtfTracePointContext) -> i32 {
    let sig = ctx.arg::<u64>(0) as u32;
    finish(try_signal_generate::<Direct>(sig, ctx.arg(1), ctx.arg(2))) as i32
}

fn try_signal_generate<M: Mem>(sig: u32, info: *const u8, receiver: *const u8) -> Result<(), i32> {
    // SEND_SIG_NOINFO (0) and SEND_SIG_PRIV (1) are not pointers. The siginfo is probe-read:
    // what the verifier may type as possibly null.
    if (info as usize) < 4096 || receiver.is_null() {
        return Ok(());
    }
    let receiver = Task::<M>::new(receiver);
    let current = Task::<M>::current();
    if current.flags()? & PF_EXITING == 0 {
        return Ok(());
    }
    // kernel_siginfo: si_signo @0, si_errno @4, si_code @8, then _sigchld {pid @16, uid @20,
    // status @24}: a fixed ABI layout.
    let si_code: i32 = read(info, 8)?;
    if !(cld::EXITED..=cld::DUMPED).contains(&si_code) {
        return Ok(());
    }
    let disposition = if sig == SIGCHLD {
        receiver.sigchld_disposition()? & zflag::AUTOREAP_NOCLDWAIT
    } else {
        zflag::NON_SIGCHLD
    };
    if current.exit_state()? != 0 {
        // The group's own notification: sent by its last exiting thread (the leader, or the last
        // other thread releasing itself after the leader).
        // `current` is the exiting thread: the helper gives its ids without a probe read.
        let pid_tgid = bpf_get_current_pid_tgid();
        let (tid, tgid) = (pid_tgid as u32, (pid_tgid >> 32) as u32);
        let (leader, status) = if tid == tgid {
            // The leader notifies its own exit: the siginfo carries its wait status.
            let si_status: u32 = read(info, 24)?;
            (current, siginfo_status(si_code, si_status))
        } else {
            // The last thread releases a leader that exited first: wait(2) reports the group's
            // exit code, which the leader's own (in the siginfo) may not be.
            let leader = current.group_leader()?;
            (leader, leader.wait_status()?)
        };
        if let Some(event) = zombie_event(leader, tgid, receiver, status, disposition)? {
            zombie::send(&event);
        }
        return Ok(());
    }
    // An exiting parent (exit_state not yet set) re-notifying one of its zombie children to
    // the child's new parent (forget_original_parent → reparent_leader), which always sends
    // SIGCHLD (it resets the child's exit signal first). Anything else this process sends while
    // it exits is not a reparent: closing its files can send a queued SIGIO (F_SETSIG), whose
    // si_code POLL_IN is CLD_EXITED's value and whose si_band lies where a child's pid would.
    // A queued SIGIO whose F_SETSIG signal is SIGCHLD carries si_code SI_SIGIO, refused above.
    if sig != SIGCHLD {
        return Ok(());
    }
    let si_pid: u32 = read(info, 16)?;
    let new_parent = receiver.group_leader()?;
    emit(&ReparentEvent {
        ts_ns: now(),
        kind: kind::REPARENT,
        old_ppid: (bpf_get_current_pid_tgid() >> 32) as u32,
        new_ppid: receiver.tgid()?,
        ns_pid: si_pid,
        new_parent_ns_level: receiver.ns_level()?,
        flags: disposition,
        new_parent_comm: new_parent.comm()?,
    });
    Ok(())
}

/// A signal is delivered (get_signal, in the receiving thread): for SIGCHLD to a handler,
/// stamps when, for its process: the moment a parent that catches SIGCHLD starts handling it.
#[raw_tracepoint(tracepoint = "signal_deliver")]
pub fn signal_deliver(ctx: RawTracePointContext) -> i32 {
    finish(try_signal_deliver(&ctx)) as i32
}

fn try_signal_deliver(ctx: &RawTracePointContext) -> Result<(), i32> {
    // TP_PROTO(int sig, struct kernel_siginfo *info, struct k_sigaction *ka)
    if ctx.arg::<u64>(0) as u32 != SIGCHLD {
        return Ok(());
    }
    let handler: u64 = read(ctx.arg::<*const u8>(2), off!(k_sigaction_handler))?;
    if handler > 1 {
        // Neither SIG_DFL (0) nor SIG_IGN (1): a handler runs.
        stamp(
            &SIGCHLD_DELIVERED,
            (bpf_get_current_pid_tgid() >> 32) as u32,
            now(),
        );
    }
    Ok(())
}
