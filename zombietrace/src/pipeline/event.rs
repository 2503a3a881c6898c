//! The lifecycle events every consumer sees: a process became a zombie, was reaped, a parent
//! started or stopped leaking, the kernel lost events.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::phases::Phases;
use crate::{
    diagnose::Diagnosis,
    sys::{cgroup::Cgroup, wait_status::WaitStatus},
};

/// How a zombie was released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReapKind {
    Wait4,
    Waitid,
    /// io_uring's IORING_OP_WAITID.
    IoUring,
    Autoreap,
    Reparented,
    Thread,
    Kernel,
}

impl ReapKind {
    pub const ALL: [ReapKind; 7] = [
        ReapKind::Wait4,
        ReapKind::Waitid,
        ReapKind::IoUring,
        ReapKind::Autoreap,
        ReapKind::Reparented,
        ReapKind::Thread,
        ReapKind::Kernel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReapKind::Wait4 => "wait4",
            ReapKind::Waitid => "waitid",
            ReapKind::IoUring => "io_uring",
            ReapKind::Autoreap => "autoreap",
            ReapKind::Reparented => "reparented",
            ReapKind::Thread => "thread",
            ReapKind::Kernel => "kernel",
        }
    }
}

/// Who adopted and reaped a reparented zombie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReaperRole {
    /// PID 1 of the initial pid namespace.
    Init,
    /// PID 1 of a child pid namespace (a container's init).
    #[serde(rename = "ns_init")]
    NamespaceInit,
    /// A PR_SET_CHILD_SUBREAPER process.
    Subreaper,
}

impl ReaperRole {
    pub fn name(self) -> &'static str {
        match self {
            ReaperRole::Init => "init",
            ReaperRole::NamespaceInit => "ns_init",
            ReaperRole::Subreaper => "subreaper",
        }
    }
}

/// The call that released a zombie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReapCall {
    Wait4,
    Waitid,
    /// waitid(P_PIDFD, …).
    WaitidPidfd,
    /// io_uring's IORING_OP_WAITID.
    IoUringWaitid,
    /// None: the kernel released it in its own exit (the parent ignores SIGCHLD).
    Autoreap,
}

impl ReapCall {
    pub fn name(self) -> &'static str {
        match self {
            ReapCall::Wait4 => "wait4",
            ReapCall::Waitid => "waitid",
            ReapCall::WaitidPidfd => "waitid_pidfd",
            ReapCall::IoUringWaitid => "io_uring_waitid",
            ReapCall::Autoreap => "autoreap",
        }
    }
}

/// Since when a zombie is known to be one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Since {
    /// The exact moment its exit was notified to its parent.
    Notified,
    /// No notification was sent; the time is the start of its exit (approximate).
    ExitStart,
    /// It was already a zombie when tracing started: at least since then.
    TracingStart,
}

/// A process that became a zombie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zombie {
    pub pid: u32,
    /// Its pid inside its own pid namespace, where that differs.
    pub nspid: Option<u32>,
    pub ppid: u32,
    /// The parent's start time (CLOCK_MONOTONIC ns): with `ppid`, the parent's identity.
    pub parent_start_ns: Option<u64>,
    pub comm: String,
    pub parent_comm: String,
    pub status: WaitStatus,
    /// Process start (CLOCK_MONOTONIC ns); None for zombies found in procfs.
    pub start_ns: Option<u64>,
    /// When it became a zombie (CLOCK_MONOTONIC ns).
    pub ts_ns: u64,
    pub since: Since,
    /// Its cgroup, and its parent's (None when the kernel record had none).
    pub cgroup: Option<Arc<Cgroup>>,
    pub parent_cgroup: Option<Arc<Cgroup>>,
}

/// A zombie released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reap {
    pub zombie: Zombie,
    /// When it was released (CLOCK_MONOTONIC ns).
    pub ts_ns: u64,
    pub zombie_ns: u64,
    pub reaper_pid: u32,
    pub reaper_comm: String,
    pub kind: ReapKind,
    /// The call that reaped it (None: no call was seen).
    pub call: Option<ReapCall>,
    pub reaper_role: Option<ReaperRole>,
    /// The release time is only an upper bound (seen at the task's RCU-delayed free), or the
    /// zombie's own time was approximate.
    pub approx: bool,
    /// Why it took that long, for a reap by a wait call (see `phases.rs`); all None otherwise.
    pub phases: Phases,
}

/// Why a parent counts as leaking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakReason {
    /// It holds a zombie older than `--leak-after`.
    #[serde(rename = "old_zombie")]
    Old,
    /// Its count of unreaped zombies keeps growing.
    Growing,
}

impl LeakReason {
    pub fn name(self) -> &'static str {
        match self {
            LeakReason::Old => "old_zombie",
            LeakReason::Growing => "growing",
        }
    }
}

/// One of a leaking parent's oldest zombies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldZombie {
    pub pid: u32,
    pub comm: String,
    pub age_ns: u64,
}

/// A parent started leaking zombies: complete when made, diagnosis and verdict included.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Leak {
    pub ts_ns: u64,
    pub pid: u32,
    /// Its start time (CLOCK_MONOTONIC ns; 0 when unknown): with `pid`, its identity.
    pub start_ns: u64,
    /// Its name now (it may have exec'd since its children died), else when they died.
    pub comm: String,
    pub reason: LeakReason,
    pub outstanding: usize,
    pub oldest_age_ns: u64,
    /// Its oldest zombies, oldest first (at most 5).
    pub oldest: Vec<OldZombie>,
    /// Unreaped zombies accumulated per minute.
    pub rate_per_min: f64,
    /// Why it is not reaping, from procfs (None when the process could not be read).
    pub diagnosis: Option<Diagnosis>,
    pub verdict: Option<String>,
    /// Its cgroup (where it lives: unit, container, pod), as its zombies' records said.
    pub cgroup: Option<Arc<Cgroup>>,
}

/// A leaking parent recovered (or went away).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakEnd {
    pub ts_ns: u64,
    pub pid: u32,
    pub start_ns: u64,
    pub comm: String,
    pub outstanding: usize,
    pub leaked_for_ns: u64,
    /// It exited (its zombies went to a new parent).
    pub exited: bool,
}

/// A zombie's parent exited first: the zombie was handed to a new parent (init, its
/// container's init, or a subreaper), which is now the one to reap it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopted {
    pub ts_ns: u64,
    pub pid: u32,
    /// The new parent.
    pub ppid: u32,
    pub parent_comm: String,
}

/// A parent that had zombies, all reaped, exited (or is no longer alive): it is kept among the
/// exited parents of the report from now on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentGone {
    pub ts_ns: u64,
    pub pid: u32,
    pub start_ns: u64,
    pub comm: String,
}

/// Events the kernel could not queue (its ring buffer was full) since the last report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lost {
    /// When the loss was noticed (CLOCK_MONOTONIC ns).
    pub ts_ns: u64,
    pub count: u64,
    pub total: u64,
}

#[derive(Clone, Debug)]
pub enum Event {
    Zombie(Zombie),
    Reap(Reap),
    Lost(Lost),
    Leak(Box<Leak>),
    LeakEnd(LeakEnd),
    ParentGone(ParentGone),
    Adopted(Adopted),
}
