//! Reading `struct task_struct` (and what hangs off it) at the offsets the loader resolved from
//! this kernel's BTF, in one of two ways (a [`Mem`]): `bpf_probe_read_kernel` calls ([`Probe`],
//! any kernel), or plain loads the verifier checks against the kernel's types ([`Direct`], for
//! BTF-typed programs from Linux 5.11: each a few instructions where a helper call costs tens
//! of nanoseconds). A failed probe read is an `Err`; a faulting direct load reads 0.

use core::marker::PhantomData;

use aya_ebpf::helpers::{bpf_get_current_task, bpf_get_current_task_btf, bpf_probe_read_kernel};
use zombietrace_common::{MAX_NS_LEVELS, TASK_COMM_LEN, zflag};

use crate::off;

pub const PF_EXITING: u32 = 0x4;
/// How deep below the `--cgroup` filter's cgroup a process is still found (its own cgroup
/// included); cgroup trees are a handful of levels deep (a Kubernetes container: 5).
const MAX_CGROUP_DEPTH: u32 = 32;
pub const SIGCHLD: u32 = 17;
const SIG_IGN: u64 = 1;
const SA_NOCLDWAIT: u64 = 2;
/// `SIGNAL_GROUP_EXIT` in `signal_struct::flags` (0x4 on every kernel since 2.6.x).
const SIGNAL_GROUP_EXIT: u32 = 0x4;

/// A probe read of `T` at `base + offset`: for memory the verifier has no type for.
#[inline(always)]
pub fn read<T>(base: *const u8, offset: u32) -> Result<T, i32> {
    unsafe { bpf_probe_read_kernel(base.wrapping_add(offset as usize).cast::<T>()) }
}

/// How a program reads kernel memory.
pub trait Mem: Copy {
    /// Reads `T` at `base + offset`; `offset` must be one the verifier knows (a frozen load-time
    /// global, or a constant) and, for [`Direct`], lie inside one member of `base`'s type.
    fn load<T: Copy>(base: *const u8, offset: u32) -> Result<T, i32>;
    /// The running task.
    fn current() -> *const u8;
    /// Whether reads are plain loads (each within one member of a kernel type).
    const DIRECT: bool;
}

/// `bpf_probe_read_kernel` for every read: raw tracepoints and syscall tracepoints, any kernel.
#[derive(Clone, Copy)]
pub struct Probe;

impl Mem for Probe {
    const DIRECT: bool = false;

    #[inline(always)]
    fn load<T: Copy>(base: *const u8, offset: u32) -> Result<T, i32> {
        read(base, offset)
    }

    #[inline(always)]
    fn current() -> *const u8 {
        unsafe { bpf_get_current_task() as *const u8 }
    }
}

/// Plain loads through BTF-typed pointers (a `tp_btf` program's arguments,
/// `bpf_get_current_task_btf`, and the pointers loaded from them): Linux 5.11 and later.
#[derive(Clone, Copy)]
pub struct Direct;

impl Mem for Direct {
    const DIRECT: bool = true;

    #[inline(always)]
    fn load<T: Copy>(base: *const u8, offset: u32) -> Result<T, i32> {
        // The kernel's fields are naturally aligned; the verifier checks the access lies
        // inside the member at that offset, and the JIT turns a fault into 0.
        Ok(unsafe { core::ptr::read_volatile(base.wrapping_add(offset as usize).cast::<T>()) })
    }

    #[inline(always)]
    fn current() -> *const u8 {
        unsafe { bpf_get_current_task_btf() as *const u8 }
    }
}

/// A `struct task_struct *`, read with `M`.
pub struct Task<M>(pub *const u8, PhantomData<M>);

impl<M> Clone for Task<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Task<M> {}

impl<M: Mem> Task<M> {
    #[inline(always)]
    pub fn new(ptr: *const u8) -> Self {
        Self(ptr, PhantomData)
    }

    #[inline(always)]
    pub fn current() -> Self {
        Self::new(M::current())
    }

    #[inline(always)]
    fn get<T: Copy>(self, offset: u32) -> Result<T, i32> {
        M::load(self.0, offset)
    }

    #[inline(always)]
    pub fn pid(self) -> Result<u32, i32> {
        self.get(off!(task_pid))
    }

    #[inline(always)]
    pub fn tgid(self) -> Result<u32, i32> {
        self.get(off!(task_tgid))
    }

    /// `(pid, tgid)`: one probe read where the two sit side by side (every kernel seen so
    /// far). A direct load may not span two members.
    #[inline(always)]
    pub fn pid_tgid(self) -> Result<(u32, u32), i32> {
        if !M::DIRECT && off!(task_tgid) == off!(task_pid) + 4 {
            let both: [u32; 2] = self.get(off!(task_pid))?;
            Ok((both[0], both[1]))
        } else {
            Ok((self.pid()?, self.tgid()?))
        }
    }

    #[inline(always)]
    pub fn flags(self) -> Result<u32, i32> {
        self.get(off!(task_flags))
    }

    #[inline(always)]
    pub fn exit_state(self) -> Result<i32, i32> {
        self.get(off!(task_exit_state))
    }

    #[inline(always)]
    pub fn exit_code(self) -> Result<u32, i32> {
        self.get(off!(task_exit_code))
    }

    #[inline(always)]
    pub fn exit_signal(self) -> Result<u32, i32> {
        self.get(off!(task_exit_signal))
    }

    #[inline(always)]
    pub fn comm(self) -> Result<[u8; TASK_COMM_LEN], i32> {
        if M::DIRECT {
            // Two 8-byte loads rather than sixteen 1-byte ones.
            let words: [u64; 2] = self.get(off!(task_comm))?;
            Ok(unsafe { core::mem::transmute::<[u64; 2], [u8; TASK_COMM_LEN]>(words) })
        } else {
            self.get(off!(task_comm))
        }
    }

    #[inline(always)]
    pub fn start_ns(self) -> Result<u64, i32> {
        self.get(off!(task_start_time))
    }

    #[inline(always)]
    pub fn real_parent(self) -> Result<Task<M>, i32> {
        self.get::<*const u8>(off!(task_real_parent)).map(Task::new)
    }

    #[inline(always)]
    pub fn group_leader(self) -> Result<Task<M>, i32> {
        self.get::<*const u8>(off!(task_group_leader))
            .map(Task::new)
    }

    #[inline(always)]
    fn signal(self) -> Result<*const u8, i32> {
        self.get(off!(task_signal))
    }

    /// Threads of the group still alive (`signal->live`); 0 once the last one is exiting.
    #[inline(always)]
    pub fn live_threads(self) -> Result<i32, i32> {
        M::load(self.signal()?, off!(signal_live))
    }

    /// The status wait(2) will report for this (leader) task, as `wait_task_zombie` computes it.
    #[inline(always)]
    pub fn wait_status(self) -> Result<u32, i32> {
        let signal = self.signal()?;
        let flags: u32 = M::load(signal, off!(signal_flags))?;
        if flags & SIGNAL_GROUP_EXIT != 0 {
            M::load(signal, off!(signal_group_exit_code))
        } else {
            self.exit_code()
        }
    }

    /// `zflag::AUTOREAP_*` bits for a child of this parent: how it handles SIGCHLD.
    #[inline(always)]
    pub fn sigchld_disposition(self) -> Result<u32, i32> {
        let sighand: *const u8 = self.get(off!(task_sighand))?;
        let action = sighand
            .wrapping_add(off!(sighand_action) as usize)
            .wrapping_add((SIGCHLD as usize - 1) * off!(k_sigaction_size) as usize);
        let (handler, flags) =
            if !M::DIRECT && off!(k_sigaction_flags) == off!(k_sigaction_handler) + 8 {
                let both: [u64; 2] = M::load(action, off!(k_sigaction_handler))?;
                (both[0], both[1])
            } else {
                (
                    M::load(action, off!(k_sigaction_handler))?,
                    M::load(action, off!(k_sigaction_flags))?,
                )
            };
        let mut bits = 0;
        if handler == SIG_IGN {
            bits |= zflag::AUTOREAP_IGNORED;
        }
        if flags & SA_NOCLDWAIT != 0 {
            bits |= zflag::AUTOREAP_NOCLDWAIT;
        }
        Ok(bits)
    }

    /// This task's cgroup v2 id (its cgroup directory's inode), 0 when unreadable.
    #[inline(always)]
    pub fn cgroup_id(self) -> Result<u64, i32> {
        let css_set: *const u8 = self.get(off!(task_cgroups))?;
        let cgroup: *const u8 = M::load(css_set, off!(css_set_dfl_cgrp))?;
        let kn: *const u8 = M::load(cgroup, off!(cgroup_kn))?;
        M::load(kn, off!(kernfs_node_id))
    }

    /// Whether this task's cgroup (v2) is the one with id `id` or below it: a walk up its
    /// cgroup directories, at most `MAX_CGROUP_DEPTH` of them. (The kernel's
    /// bpf_get_current_ancestor_cgroup_id would do, but tracing programs may call it only from
    /// Linux 6.1 or so.)
    #[inline(always)]
    pub fn in_cgroup(self, id: u64) -> Result<bool, i32> {
        let css_set: *const u8 = self.get(off!(task_cgroups))?;
        let cgroup: *const u8 = M::load(css_set, off!(css_set_dfl_cgrp))?;
        let mut kn: *const u8 = M::load(cgroup, off!(cgroup_kn))?;
        for _ in 0..MAX_CGROUP_DEPTH {
            if kn.is_null() {
                return Ok(false);
            }
            if M::load::<u64>(kn, off!(kernfs_node_id))? == id {
                return Ok(true);
            }
            kn = M::load(kn, off!(kernfs_node_parent))?;
        }
        Ok(false)
    }

    /// Level of this task's pid namespace (0 = the initial namespace).
    #[inline(always)]
    pub fn ns_level(self) -> Result<u32, i32> {
        let pid: *const u8 = self.get(off!(task_thread_pid))?;
        M::load(pid, off!(pid_level))
    }

    /// The pid of this thread-group leader at each namespace level `0..=level` (up to
    /// `MAX_NS_LEVELS`; deeper levels stay 0). Level 0 is its global pid, `tgid`, which the
    /// caller knows: not read.
    #[inline(always)]
    pub fn ns_pids(self, tgid: u32) -> Result<[u32; MAX_NS_LEVELS], i32> {
        let pid: *const u8 = self.get(off!(task_thread_pid))?;
        let level: u32 = M::load(pid, off!(pid_level))?;
        let mut nrs = [0u32; MAX_NS_LEVELS];
        nrs[0] = tgid;
        let numbers = pid.wrapping_add(off!(pid_numbers) as usize);
        let stride = off!(upid_size) as usize;
        let nr = off!(upid_nr);
        for (i, slot) in nrs.iter_mut().enumerate().skip(1) {
            if i as u32 > level {
                break;
            }
            *slot = read(numbers.wrapping_add(i * stride), nr)?;
        }
        Ok(nrs)
    }
}
