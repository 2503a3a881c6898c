//! The one place where raw ring-buffer records become owned kernel events. Every record is
//! length-checked against its kind before it is read.

use std::mem::size_of;

use zombietrace_common::{
    FreeEvent, Header, ReparentEvent, STATUS_UNKNOWN, ThreadExitEvent, WaitEvent, ZombieEvent,
    call, kind, zflag,
};

use super::kernel_event::{
    Autoreap, Call, Freed, KernelEvent, Reparent, ThreadExit, WaitReturn, ZombieExit,
};
use crate::sys::{text::lossless_cstr, wait_status::WaitStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Short(usize),
    UnknownKind(u32),
    Size { kind: u32, len: usize, want: usize },
    UnknownCall(u32),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Short(len) => write!(f, "record of {len} bytes has no header"),
            DecodeError::UnknownKind(kind) => write!(f, "unknown record kind {kind}"),
            DecodeError::Size { kind, len, want } => {
                write!(f, "record kind {kind} is {len} bytes, expected {want}")
            }
            DecodeError::UnknownCall(c) => write!(f, "unknown wait call {c}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Reads a `T` from a record of exactly its size.
fn read<T: Copy>(bytes: &[u8], kind: u32) -> Result<T, DecodeError> {
    let want = size_of::<T>();
    if bytes.len() != want {
        return Err(DecodeError::Size {
            kind,
            len: bytes.len(),
            want,
        });
    }
    // SAFETY: the length matches, and every `T` used here is a padding-free #[repr(C)] struct of
    // integers and byte arrays, valid for any bit pattern.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

pub fn decode(bytes: &[u8]) -> Result<KernelEvent, DecodeError> {
    if bytes.len() < size_of::<Header>() {
        return Err(DecodeError::Short(bytes.len()));
    }
    let header: Header = read(&bytes[..size_of::<Header>()], 0)?;
    Ok(match header.kind {
        kind::ZOMBIE => KernelEvent::Zombie(zombie(read(bytes, header.kind)?)),
        kind::REPARENT => KernelEvent::Reparent(reparent(read(bytes, header.kind)?)),
        kind::WAIT => KernelEvent::Wait(wait(read(bytes, header.kind)?)?),
        kind::FREE => {
            let e: FreeEvent = read(bytes, header.kind)?;
            KernelEvent::Free(Freed {
                ts_ns: e.ts_ns,
                tgid: e.tgid,
                start_ns: e.start_ns,
            })
        }
        kind::THREAD_EXIT => {
            let e: ThreadExitEvent = read(bytes, header.kind)?;
            KernelEvent::ThreadExit(ThreadExit {
                ts_ns: e.ts_ns,
                tgid: e.tgid,
                tid: e.tid,
                status: WaitStatus(e.status),
                comm: lossless_cstr(&e.comm),
            })
        }
        other => return Err(DecodeError::UnknownKind(other)),
    })
}

fn autoreap(flags: u32) -> Option<Autoreap> {
    if flags & zflag::AUTOREAP_IGNORED != 0 {
        Some(Autoreap::Ignored)
    } else if flags & zflag::AUTOREAP_NOCLDWAIT != 0 {
        Some(Autoreap::NoCldWait)
    } else {
        None
    }
}

fn zombie(e: ZombieEvent) -> ZombieExit {
    // Level 0 is always there; the levels below its own namespace are 0.
    let levels = 1 + e.nspid[1..].iter().take_while(|&&nr| nr != 0).count();
    ZombieExit {
        ts_ns: e.ts_ns,
        tgid: e.tgid,
        start_ns: e.start_ns,
        ppid: e.ppid,
        parent_start_ns: e.parent_start_ns,
        cgroup_id: (e.cgroup_id != 0).then_some(e.cgroup_id),
        parent_cgroup_id: (e.parent_cgroup_id != 0).then_some(e.parent_cgroup_id),
        orig_ppid: (e.orig_ppid != 0).then_some(e.orig_ppid),
        status: WaitStatus(e.status),
        autoreap: autoreap(e.flags),
        silent: e.flags & zflag::SILENT != 0,
        nspids: e.nspid[..levels].to_vec(),
        tracer: (e.tracer != 0).then_some(e.tracer),
        comm: lossless_cstr(&e.comm),
        parent_comm: lossless_cstr(&e.parent_comm),
    }
}

fn reparent(e: ReparentEvent) -> Reparent {
    Reparent {
        ts_ns: e.ts_ns,
        old_ppid: e.old_ppid,
        new_ppid: e.new_ppid,
        ns_pid: e.ns_pid,
        new_parent_ns_level: e.new_parent_ns_level,
        autoreap: autoreap(e.flags),
        new_parent_comm: lossless_cstr(&e.new_parent_comm),
    }
}

fn wait(e: WaitEvent) -> Result<WaitReturn, DecodeError> {
    let call = match e.call {
        call::WAIT4 => Call::Wait4,
        call::WAITID => Call::Waitid,
        call::WAITID_PIDFD => Call::WaitidPidfd,
        call::IO_URING_WAITID => Call::IoUringWaitid,
        other => return Err(DecodeError::UnknownCall(other)),
    };
    Ok(WaitReturn {
        ts_ns: e.ts_ns,
        reaper_tgid: e.reaper_tgid,
        pid: e.pid,
        ns_level: e.ns_level,
        call,
        status: (e.status != STATUS_UNKNOWN).then_some(WaitStatus(e.status)),
        comm: lossless_cstr(&e.comm),
        entered_ns: (e.entered_ns != 0).then_some(e.entered_ns),
        sigchld_ns: (e.sigchld_ns != 0).then_some(e.sigchld_ns),
    })
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
