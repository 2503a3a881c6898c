//! What the kernel programs report, decoded: owned, free of kernel layout, and carrying only
//! what the tracker uses.

use crate::sys::wait_status::WaitStatus;

/// Why the kernel released a child the moment it exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Autoreap {
    /// The parent's SIGCHLD disposition is SIG_IGN.
    Ignored,
    /// The parent set SA_NOCLDWAIT.
    NoCldWait,
}

/// Which wait call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Wait4,
    Waitid,
    WaitidPidfd,
    /// io_uring's IORING_OP_WAITID (its completion; no syscall).
    IoUringWaitid,
}

/// A thread group became reapable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZombieExit {
    pub ts_ns: u64,
    pub tgid: u32,
    pub start_ns: u64,
    pub ppid: u32,
    pub parent_start_ns: u64,
    /// Its cgroup (v2) id and its parent's; None when the kernel could not tell.
    pub cgroup_id: Option<u64>,
    pub parent_cgroup_id: Option<u64>,
    pub orig_ppid: Option<u32>,
    pub status: WaitStatus,
    pub autoreap: Option<Autoreap>,
    /// No exit signal was sent; `ts_ns` is the start of the exit (approximate).
    pub silent: bool,
    /// Pids at namespace levels 0..=own level (init namespace first).
    pub nspids: Vec<u32>,
    /// The ptracer told of the exit instead of the real parent (`ppid`).
    pub tracer: Option<u32>,
    pub comm: String,
    pub parent_comm: String,
}

/// An exiting parent handed a zombie child to a new parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reparent {
    pub ts_ns: u64,
    pub old_ppid: u32,
    pub new_ppid: u32,
    /// The zombie's pid in the new parent's pid namespace.
    pub ns_pid: u32,
    pub new_parent_ns_level: u32,
    pub autoreap: Option<Autoreap>,
    pub new_parent_comm: String,
}

/// A wait call returned a reaped child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitReturn {
    pub ts_ns: u64,
    pub reaper_tgid: u32,
    /// The child's pid in the reaper's namespace (0: the call did not say which).
    pub pid: u32,
    pub ns_level: u32,
    pub call: Call,
    pub status: Option<WaitStatus>,
    pub comm: String,
    /// When the calling thread entered this wait call (None: before tracing started).
    pub entered_ns: Option<u64>,
    /// When a SIGCHLD was last delivered to a handler of the caller (None: never seen).
    pub sigchld_ns: Option<u64>,
}

/// The kernel freed a thread-group leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freed {
    pub ts_ns: u64,
    pub tgid: u32,
    pub start_ns: u64,
}

/// A non-leader thread exited (and was released at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadExit {
    pub ts_ns: u64,
    pub tgid: u32,
    pub tid: u32,
    pub status: WaitStatus,
    pub comm: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    Zombie(ZombieExit),
    Reparent(Reparent),
    Wait(WaitReturn),
    Free(Freed),
    ThreadExit(ThreadExit),
}
