//! `io-uring`: the parent reaps with io_uring's IORING_OP_WAITID (Linux 6.7+), through a
//! minimal ring driven with raw syscalls. Refuses clearly where io_uring or the opcode is
//! missing (io_uring_setup ENOSYS/EPERM, or IORING_REGISTER_PROBE says unsupported).

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context as _, bail};

use super::cli::{IoUringArgs, human};
use super::direct::reap_each_after;
use super::process::{Pid, Status, now_ns};
use super::session::Session;
use super::truth::{Done, Reap, Reaped};

const IORING_OP_WAITID: u8 = 50;
const IORING_REGISTER_PROBE: libc::c_uint = 8;
const IO_URING_OP_SUPPORTED: u16 = 1;
const IORING_ENTER_GETEVENTS: libc::c_uint = 1;
const IORING_OFF_SQ_RING: libc::off_t = 0;
const IORING_OFF_CQ_RING: libc::off_t = 0x8000000;
const IORING_OFF_SQES: libc::off_t = 0x10000000;

#[repr(C)]
#[derive(Default)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

/// `struct io_uring_sqe`, with the fields IORING_OP_WAITID uses named for it.
#[repr(C)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    /// waitid: the id (pid).
    fd: i32,
    /// waitid: the siginfo pointer (`addr2`).
    off: u64,
    addr: u64,
    /// waitid: the idtype.
    len: u32,
    op_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    /// waitid: the options (`file_index`).
    file_index: u32,
    addr3: u64,
    pad2: u64,
}

#[repr(C)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(fd: &OwnedFd, len: usize, offset: libc::off_t) -> io::Result<Map> {
        // SAFETY: maps the ring region the kernel offers at `offset` for this ring fd.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Map {
            ptr: ptr.cast(),
            len,
        })
    }

    /// SAFETY: `off` must be inside the mapping and aligned for `T`.
    unsafe fn at<T>(&self, off: u32) -> *mut T {
        // SAFETY: per the caller.
        unsafe { self.ptr.add(off as usize).cast() }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A one-request-at-a-time ring for IORING_OP_WAITID.
pub struct Ring {
    sq: Map,
    cq: Map,
    sqes: Map,
    p: Params,
    fd: OwnedFd,
}

impl Ring {
    pub fn new() -> anyhow::Result<Ring> {
        let mut p = Params::default();
        // SAFETY: io_uring_setup with a valid params struct.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 8u32, &mut p as *mut Params) };
        if fd < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOSYS) => {
                    bail!("io_uring is not available in this kernel (io_uring_setup: ENOSYS)")
                }
                Some(libc::EPERM) => bail!(
                    "io_uring is not allowed here (io_uring_setup: EPERM; see the kernel.io_uring_disabled sysctl or a seccomp policy)"
                ),
                _ => return Err(err).context("io_uring_setup"),
            }
        }
        // SAFETY: a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        probe_waitid(&fd)?;
        let sq = Map::new(
            &fd,
            p.sq_off.array as usize + p.sq_entries as usize * 4,
            IORING_OFF_SQ_RING,
        )?;
        let cq = Map::new(
            &fd,
            p.cq_off.cqes as usize + p.cq_entries as usize * size_of::<Cqe>(),
            IORING_OFF_CQ_RING,
        )?;
        let sqes = Map::new(
            &fd,
            p.sq_entries as usize * size_of::<Sqe>(),
            IORING_OFF_SQES,
        )?;
        Ok(Ring {
            sq,
            cq,
            sqes,
            p,
            fd,
        })
    }

    fn enter(&self, to_submit: u32) -> io::Result<()> {
        // SAFETY: io_uring_enter on our ring, no signal mask argument.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd.as_raw_fd(),
                to_submit,
                1u32,
                IORING_ENTER_GETEVENTS,
                ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reaps `pid` with IORING_OP_WAITID(P_PID, pid, WEXITED); returns its status and
    /// CLOCK_MONOTONIC right before the io_uring_enter that submitted the request and right
    /// after the one that brought the completion returned.
    pub fn waitid(&mut self, pid: Pid) -> anyhow::Result<Reaped> {
        // SAFETY: an all-zero siginfo_t is valid; the kernel writes the SIGCHLD fields.
        let mut info: Box<libc::siginfo_t> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: offsets come from the kernel's io_uring_params for these mappings; we are
        // the only submitter and the only consumer.
        unsafe {
            let tail = &*self.sq.at::<AtomicU32>(self.p.sq_off.tail);
            let mask = *self.sq.at::<u32>(self.p.sq_off.ring_mask);
            let t = tail.load(Ordering::Acquire);
            let idx = t & mask;
            let sqe = self.sqes.ptr.cast::<Sqe>().add(idx as usize);
            ptr::write(
                sqe,
                Sqe {
                    opcode: IORING_OP_WAITID,
                    flags: 0,
                    ioprio: 0,
                    fd: pid,
                    off: &mut *info as *mut libc::siginfo_t as u64,
                    addr: 0,
                    len: libc::P_PID,
                    op_flags: 0,
                    user_data: pid as u64,
                    buf_index: 0,
                    personality: 0,
                    file_index: libc::WEXITED as u32,
                    addr3: 0,
                    pad2: 0,
                },
            );
            *self.sq.at::<u32>(self.p.sq_off.array).add(idx as usize) = idx;
            tail.store(t.wrapping_add(1), Ordering::Release);
        }
        let mut to_submit = 1;
        let call_ns = now_ns();
        loop {
            match self.enter(to_submit) {
                Ok(()) => to_submit = 0,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(e).context("io_uring_enter"),
            }
            let t = now_ns();
            // SAFETY: as above, for the completion ring.
            let cqe = unsafe {
                let head = &*self.cq.at::<AtomicU32>(self.p.cq_off.head);
                let tail = &*self.cq.at::<AtomicU32>(self.p.cq_off.tail);
                let mask = *self.cq.at::<u32>(self.p.cq_off.ring_mask);
                let h = head.load(Ordering::Relaxed);
                if h == tail.load(Ordering::Acquire) {
                    continue;
                }
                let cqe = ptr::read(
                    self.cq
                        .at::<Cqe>(self.p.cq_off.cqes)
                        .add((h & mask) as usize),
                );
                head.store(h.wrapping_add(1), Ordering::Release);
                cqe
            };
            if cqe.user_data != pid as u64 {
                bail!(
                    "io_uring completion for {} while waiting for {pid}",
                    cqe.user_data
                );
            }
            if cqe.res < 0 {
                return Err(io::Error::from_raw_os_error(-cqe.res))
                    .with_context(|| format!("IORING_OP_WAITID on {pid}"));
            }
            // SAFETY: the kernel filled the siginfo for this completion.
            let got = unsafe { info.si_pid() };
            if got != pid {
                bail!("IORING_OP_WAITID on {pid} reaped {got}");
            }
            return Ok(Reaped {
                status: Status::from_siginfo(&info),
                call_ns,
                ns: t,
            });
        }
    }
}

fn probe_waitid(fd: &OwnedFd) -> anyhow::Result<()> {
    const OPS: usize = 256;
    let mut buf = vec![0u8; 16 + OPS * 8];
    // SAFETY: `buf` holds a struct io_uring_probe with room for OPS entries.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            fd.as_raw_fd(),
            IORING_REGISTER_PROBE,
            buf.as_mut_ptr(),
            OPS as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error()).context("io_uring IORING_REGISTER_PROBE");
    }
    let last_op = buf[0];
    let entry = 16 + usize::from(IORING_OP_WAITID) * 8;
    let flags = u16::from_ne_bytes([buf[entry + 2], buf[entry + 3]]);
    if last_op < IORING_OP_WAITID || flags & IO_URING_OP_SUPPORTED == 0 {
        bail!(
            "this kernel's io_uring does not support IORING_OP_WAITID (needs Linux 6.7 or later)"
        );
    }
    Ok(())
}

pub fn run(s: &mut Session, a: &IoUringArgs) -> anyhow::Result<Done> {
    let mut ring = Ring::new()?;
    let kids = s.fork_fated(a.children, a.fate.fate())?;
    let top = s.top;
    s.out.ready(
        top,
        Some(top),
        &kids,
        None,
        &format!(
            "spawner {top} forked {} children {kids:?}; it reaps each with io_uring IORING_OP_WAITID {} after it saw it gone",
            kids.len(),
            human(a.delay)
        ),
    )?;
    let sig = reap_each_after(
        s,
        &kids,
        a.delay.as_nanos() as u64,
        Reap::IoUring,
        |s, pid| {
            let result = ring.waitid(pid)?;
            s.reg.forget(pid);
            Ok(result)
        },
    )?;
    Ok(Done {
        interrupted: sig.is_some(),
        signal: sig,
        ..Done::default()
    })
}
