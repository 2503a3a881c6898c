//! io_uring's IORING_OP_WAITID (Linux 6.7+): a reap with no wait syscall. Its submission
//! stamps when the parent asked; its completion carries the child it released (the request's
//! own `waitid_info`), so the reap is timed and attributed exactly, not at the RCU-delayed free.
//! Attached only where the kernel has the opcode (the loader checks its BTF).

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid, macros::tracepoint, programs::TracePointContext,
};
use zombietrace_common::{call, siginfo_status};

use crate::{
    maps::{WAIT_ENTERED, finish, stamp},
    off,
    task::{Probe, read},
    wait::{WNOWAIT, emit_wait, field},
    zombie::now,
};

/// `IORING_OP_WAITID` in the uapi's `enum io_uring_op` (an ABI value: never renumbered).
const IORING_OP_WAITID: u8 = 50;

/// A waitid request is submitted: the parent asks now (the `entered` moment of its phases).
#[tracepoint(category = "io_uring", name = "io_uring_submit_req")]
pub fn io_uring_submit_req(ctx: TracePointContext) -> u32 {
    finish(try_submit_req(&ctx))
}

fn try_submit_req(ctx: &TracePointContext) -> Result<(), i32> {
    if field::<u8>(ctx, off!(tp_uring_submit_opcode))? == IORING_OP_WAITID {
        stamp(&WAIT_ENTERED, bpf_get_current_pid_tgid() as u32, now());
    }
    Ok(())
}

/// A request completes. For a waitid that reported an exited child (not a WNOWAIT peek, not
/// WNOHANG with nothing ready), the child was released just now, by this thread's process.
#[tracepoint(category = "io_uring", name = "io_uring_complete")]
pub fn io_uring_complete(ctx: TracePointContext) -> u32 {
    finish(try_complete(&ctx))
}

fn try_complete(ctx: &TracePointContext) -> Result<(), i32> {
    let req = field::<u64>(ctx, off!(tp_uring_complete_req))? as *const u8;
    if req.is_null() || read::<u8>(req, off!(io_kiocb_opcode))? != IORING_OP_WAITID {
        return Ok(());
    }
    if field::<i32>(ctx, off!(tp_uring_complete_res))? != 0 {
        return Ok(()); // an error, or cancelled
    }
    let waitid = req.wrapping_add(off!(io_kiocb_cmd) as usize);
    if read::<u32>(waitid, off!(io_waitid_options))? & WNOWAIT != 0 {
        return Ok(()); // a peek: the child stays a zombie
    }
    // struct waitid_info { pid_t pid; uid_t uid; int status; int cause; }
    let info: [u32; 4] = read(waitid, off!(io_waitid_info))?;
    let (pid, status, cause) = (info[0], info[2], info[3] as i32);
    if pid == 0 || !(1..=3).contains(&cause) {
        return Ok(()); // WNOHANG and nothing ready, or a stop/continue report
    }
    emit_wait::<Probe>(pid, call::IO_URING_WAITID, siginfo_status(cause, status))
}
