//! The records the kernel programs write into the ring buffer, and the load-time settings the
//! userspace loader hands to them. Shared by both halves; `#[repr(C)]` with no implicit padding
//! (every struct is laid out by hand and checked by `const` assertions), so `Pod` is sound.
#![no_std]

pub const TASK_COMM_LEN: usize = 16;
/// How many pid-namespace levels an event carries (init namespace = level 0).
pub const MAX_NS_LEVELS: usize = 4;

/// Event kinds (`Header::kind`).
pub mod kind {
    /// A thread group became reapable (its exit was notified to its parent).
    pub const ZOMBIE: u32 = 1;
    /// An exiting parent handed one of its zombie children to a new parent.
    pub const REPARENT: u32 = 2;
    /// A wait4/waitid call returned a child's exit (a reap, unless WNOWAIT).
    pub const WAIT: u32 = 3;
    /// The kernel freed a thread-group leader's task (RCU-delayed; closes the books).
    pub const FREE: u32 = 4;
    /// A non-leader thread exited (released at once); only with `--threads`.
    pub const THREAD_EXIT: u32 = 5;
}

/// `ZombieEvent::flags` / `ReparentEvent::flags`.
pub mod zflag {
    /// The parent ignores SIGCHLD (SIG_IGN): the kernel releases the child in its own exit.
    pub const AUTOREAP_IGNORED: u32 = 1 << 0;
    /// The parent set SA_NOCLDWAIT: the kernel releases the child in its own exit.
    pub const AUTOREAP_NOCLDWAIT: u32 = 1 << 1;
    /// No exit signal was sent (SIG_IGN parent, or exit_signal 0): the event comes from the
    /// exit hook, so its timestamp is the start of the exit, not the notification.
    pub const SILENT: u32 = 1 << 2;
    /// The child's exit signal is not SIGCHLD (clone with another or no exit signal).
    pub const NON_SIGCHLD: u32 = 1 << 3;
}

/// A process's slot in the `TASKS` array: its tgid (the tag: the slot is its own only when the
/// tag matches), the parent that forked it, and what the tracer already knows of its end.
pub mod slot {
    /// The original parent's tgid (pids are below 2^22 on every kernel).
    pub const PARENT_MASK: u32 = (1 << 23) - 1;
    /// Its zombie was excluded by the command-line filters: its wait and free are not sent.
    pub const FILTERED: u32 = 1 << 24;
    /// A wait call's reap of it was sent: its free need not be.
    pub const WAIT_SEEN: u32 = 1 << 25;
    /// Forked while tracing (not seeded from procfs): until `ZOMBIE_SENT`, it has not exited,
    /// so a wait call naming it reports a stop or a continue, not a reap.
    pub const TRACED_FORK: u32 = 1 << 26;
    /// Its zombie event was sent.
    pub const ZOMBIE_SENT: u32 = 1 << 27;

    #[inline(always)]
    pub const fn pack(tgid: u32, info: u32) -> u64 {
        tgid as u64 | (info as u64) << 32
    }

    /// `(tgid, info)`.
    #[inline(always)]
    pub const fn unpack(slot: u64) -> (u32, u32) {
        (slot as u32, (slot >> 32) as u32)
    }

    #[inline(always)]
    pub const fn index(tgid: u32, slots: u32) -> u32 {
        if slots == 0 { 0 } else { tgid % slots }
    }
}

/// `WaitEvent::call`.
pub mod call {
    pub const WAIT4: u32 = 1;
    pub const WAITID: u32 = 2;
    pub const WAITID_PIDFD: u32 = 3;
    /// io_uring's IORING_OP_WAITID.
    pub const IO_URING_WAITID: u32 = 4;
}

/// `WaitEvent::status` when the wait status could not be read.
pub const STATUS_UNKNOWN: u32 = u32::MAX;

/// Indexes of the per-CPU counters array (`COUNTERS` map).
pub mod counter {
    /// Ring-buffer reservations that failed: events lost.
    pub const RINGBUF_LOST: u32 = 0;
    /// Original-parent map full: a new process's first parent was not recorded.
    pub const PARENT_MAP_FULL: u32 = 1;
    /// In-flight wait-call map full: a wait's arguments were not recorded.
    pub const WAIT_MAP_FULL: u32 = 2;
    /// Kernel memory reads that failed (fields reported as 0).
    pub const READ_FAILED: u32 = 3;
    pub const LEN: u32 = 4;
}

/// Capacities of the kernel maps (stated in the README and the summary).
/// Per-process slots (`TASKS`, indexed by tgid modulo their number): the kernel's pid_max
/// (one slot per pid, never shared) up to this many (8 MiB); beyond, pids share slots and a
/// process that finds its slot taken goes to the `ORIG_PARENT` hash instead.
pub const TASK_SLOTS_MAX: u32 = 1 << 20;
/// The hash for processes whose slot another live process holds.
pub const PARENT_MAP_ENTRIES: u32 = 16_384;
pub const WAIT_MAP_ENTRIES: u32 = 16_384;
pub const RING_BUF_BYTES: u32 = 4 << 20;

/// The first 16 bytes of every record: each starts with `ts_ns` (bpf_ktime_get_ns(),
/// CLOCK_MONOTONIC) and `kind` (`kind::*`), then a `u32` of its own, so that its 8-byte fields
/// stay aligned with no padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub ts_ns: u64,
    pub kind: u32,
    /// The record's own first field.
    pub first: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZombieEvent {
    pub ts_ns: u64,
    pub kind: u32,
    pub tgid: u32,
    /// Thread-group leader's start_time (CLOCK_MONOTONIC ns): with `tgid`, the identity.
    pub start_ns: u64,
    pub parent_start_ns: u64,
    /// Its cgroup (v2) id, and its parent's: the id of the cgroup's directory (its inode).
    pub cgroup_id: u64,
    pub parent_cgroup_id: u64,
    /// Its real parent's tgid at that moment (the one that forked it or adopted it).
    pub ppid: u32,
    /// The parent that forked it, if known (0 = unknown).
    pub orig_ppid: u32,
    /// Wait status as wait(2) reports it (exit code << 8, or signal | 0x80 if core dumped).
    pub status: u32,
    pub flags: u32,
    /// Its pid in each pid namespace from the initial one (level 0) down to its own; the
    /// levels below its own are 0.
    pub nspid: [u32; MAX_NS_LEVELS],
    /// The ptracer told of the exit instead of the real parent (strace, gdb): its tgid, else 0.
    pub tracer: u32,
    pub _reserved: u32,
    pub comm: [u8; TASK_COMM_LEN],
    pub parent_comm: [u8; TASK_COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReparentEvent {
    pub ts_ns: u64,
    pub kind: u32,
    /// The exiting old parent's tgid.
    pub old_ppid: u32,
    pub new_ppid: u32,
    /// The zombie's pid in the new parent's pid namespace (the only handle the kernel gives).
    pub ns_pid: u32,
    pub new_parent_ns_level: u32,
    pub flags: u32,
    pub new_parent_comm: [u8; TASK_COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitEvent {
    pub ts_ns: u64,
    pub kind: u32,
    pub reaper_tgid: u32,
    /// When the calling thread entered this wait call (0: before tracing started).
    pub entered_ns: u64,
    /// When a SIGCHLD was last delivered to a handler of the caller (0: never seen).
    pub sigchld_ns: u64,
    /// The reaped child's pid in the caller's pid namespace.
    pub pid: u32,
    /// Level of the caller's pid namespace.
    pub ns_level: u32,
    pub call: u32,
    /// Wait status read from the caller's buffer, or `STATUS_UNKNOWN`.
    pub status: u32,
    pub comm: [u8; TASK_COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeEvent {
    pub ts_ns: u64,
    pub kind: u32,
    pub tgid: u32,
    pub start_ns: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadExitEvent {
    pub ts_ns: u64,
    pub kind: u32,
    pub tgid: u32,
    pub tid: u32,
    pub status: u32,
    pub comm: [u8; TASK_COMM_LEN],
}

/// `si_code` of a child-exit siginfo.
pub mod cld {
    pub const EXITED: i32 = 1;
    pub const KILLED: i32 = 2;
    pub const DUMPED: i32 = 3;
}

/// The wait status that a child-exit siginfo (`si_code`, `si_status`) describes: what
/// wait(2) returns for the same exit.
#[inline(always)]
pub const fn siginfo_status(si_code: i32, si_status: u32) -> u32 {
    match si_code {
        cld::EXITED => (si_status & 0xff) << 8,
        cld::DUMPED => (si_status & 0x7f) | 0x80,
        _ => si_status & 0x7f,
    }
}

/// Field offsets inside kernel structures, resolved from the running kernel's BTF at load time
/// (and tracepoint record offsets from tracefs), handed to the programs as a read-only global.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_flags: u32,
    pub task_exit_state: u32,
    pub task_exit_code: u32,
    pub task_exit_signal: u32,
    pub task_comm: u32,
    pub task_start_time: u32,
    pub task_real_parent: u32,
    pub task_group_leader: u32,
    pub task_signal: u32,
    pub task_sighand: u32,
    pub task_thread_pid: u32,
    pub signal_live: u32,
    pub signal_flags: u32,
    pub signal_group_exit_code: u32,
    pub sighand_action: u32,
    pub k_sigaction_size: u32,
    /// Offset of `sa.sa_handler` inside `struct k_sigaction`.
    pub k_sigaction_handler: u32,
    /// Offset of `sa.sa_flags` inside `struct k_sigaction`.
    pub k_sigaction_flags: u32,
    pub pid_level: u32,
    pub pid_numbers: u32,
    pub upid_size: u32,
    pub upid_nr: u32,
    /// syscalls/sys_exit_{wait4,waitid}: `ret`.
    pub tp_exit_ret: u32,
    /// syscalls/sys_enter_waitid: `which`, `upid`, `infop`, `options`.
    pub tp_waitid_which: u32,
    pub tp_waitid_upid: u32,
    pub tp_waitid_infop: u32,
    pub tp_waitid_options: u32,
    /// `task_struct.cgroups` → `css_set.dfl_cgrp` → `cgroup.kn` → `kernfs_node.id`: a task's
    /// cgroup v2 id.
    pub task_cgroups: u32,
    pub css_set_dfl_cgrp: u32,
    pub cgroup_kn: u32,
    pub kernfs_node_id: u32,
    /// `kernfs_node.parent` (`__parent` from 6.15): a cgroup's parent directory, for the
    /// `--cgroup` filter's walk up.
    pub kernfs_node_parent: u32,
    /// io_uring (only where the kernel has IORING_OP_WAITID; 0 elsewhere, where its programs
    /// are not attached): `io_kiocb.opcode`, `io_kiocb.cmd` (the request's `io_waitid`), its
    /// `options` and `info`; io_uring/io_uring_submit_req `opcode`, io_uring_complete `req`
    /// and `res`.
    pub io_kiocb_opcode: u32,
    pub io_kiocb_cmd: u32,
    pub io_waitid_options: u32,
    pub io_waitid_info: u32,
    pub tp_uring_submit_opcode: u32,
    pub tp_uring_complete_req: u32,
    pub tp_uring_complete_res: u32,
}

/// What to trace, set at load time.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// Only zombies with this tgid (0 = any).
    pub filter_pid: u32,
    /// Only zombies whose parent (or original parent) has this tgid (0 = any).
    pub filter_ppid: u32,
    /// `setting::*` bits.
    pub flags: u32,
    /// Entries of the `TASKS` array (set by the loader).
    pub task_slots: u32,
    /// With `setting::FILTER_COMM`: only zombies whose own or parent's comm is this.
    pub comm: [u8; TASK_COMM_LEN],
    /// With `setting::FILTER_CGROUP`: only zombies in this cgroup (v2 id) or below it.
    pub cgroup_id: u64,
}

pub mod setting {
    pub const THREADS: u32 = 1 << 0;
    pub const FILTER_COMM: u32 = 1 << 1;
    pub const FILTER_CGROUP: u32 = 1 << 2;
}

/// A moment a thread (or process) did something, in its slot of an array indexed by its id
/// modulo the array's size: `id` tags it (the slot is the id's only when the tag matches).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    pub ts_ns: u64,
    pub id: u32,
    pub _reserved: u32,
}

/// One in-flight wait call (keyed by thread id): what sys_exit needs from sys_enter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitArgs {
    /// User pointer to the status int (wait4) or the siginfo (waitid); 0 = none.
    pub user_ptr: u64,
    pub options: u32,
    pub call: u32,
    /// waitid's `which` / `upid` (to name the child when `infop` is NULL and `which` is P_PID).
    pub which: u32,
    pub id: u32,
}

// No implicit padding anywhere: the sizes are exactly the sum of the fields.
const _: () = {
    assert!(core::mem::size_of::<Header>() == 16);
    assert!(core::mem::size_of::<ZombieEvent>() == 12 + 4 + 32 + 16 + 16 + 8 + 32);
    assert!(core::mem::size_of::<ReparentEvent>() == 12 + 20 + 16);
    assert!(core::mem::size_of::<WaitEvent>() == 12 + 4 + 16 + 16 + 16);
    assert!(core::mem::size_of::<FreeEvent>() == 12 + 4 + 8);
    assert!(core::mem::size_of::<ThreadExitEvent>() == 12 + 12 + 16);
    assert!(core::mem::size_of::<Offsets>() == 41 * 4);
    assert!(core::mem::size_of::<Settings>() == 16 + 16 + 8);
    assert!(core::mem::size_of::<WaitArgs>() == 24);
    assert!(core::mem::size_of::<Stamp>() == 16);
};

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all are #[repr(C)], Copy, made only of integers and byte arrays, with no implicit
    // padding (checked by the size assertions above), so every bit pattern is valid.
    unsafe impl aya::Pod for Offsets {}
    unsafe impl aya::Pod for Settings {}
    unsafe impl aya::Pod for WaitArgs {}
}
