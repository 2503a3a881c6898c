//! Domain types: owned, decoded, free of kernel layout.

use std::fmt;

/// A wait status as wait(2) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ExitStatus(pub u32);

impl ExitStatus {
    pub fn exit_code(self) -> Option<i32> {
        (self.0 & 0x7f == 0).then_some(((self.0 >> 8) & 0xff) as i32)
    }

    pub fn signal(self) -> Option<i32> {
        let sig = self.0 & 0x7f;
        (sig != 0 && sig != 0x7f).then_some(sig as i32)
    }

    pub fn core_dumped(self) -> bool {
        self.signal().is_some() && self.0 & 0x80 != 0
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.exit_code(), self.signal()) {
            (Some(code), _) => write!(f, "exit {code}"),
            (None, Some(sig)) => {
                write!(f, "{}", signal_name(sig))?;
                if self.core_dumped() {
                    write!(f, " (core)")?;
                }
                Ok(())
            }
            _ => write!(f, "status {:#x}", self.0),
        }
    }
}

pub fn signal_name(sig: i32) -> String {
    const NAMES: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match usize::try_from(sig).ok().and_then(|i| NAMES.get(i)) {
        Some(name) if sig > 0 => (*name).to_string(),
        _ => format!("SIG{sig}"),
    }
}

/// Why the kernel released a child the moment it exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Autoreap {
    /// The parent's SIGCHLD disposition is SIG_IGN.
    Ignored,
    /// The parent set SA_NOCLDWAIT.
    NoCldWait,
}

/// Which wait call reaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Wait4,
    Waitid,
    WaitidPidfd,
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Call::Wait4 => "wait4",
            Call::Waitid => "waitid",
            Call::WaitidPidfd => "waitid_pidfd",
        }
    }
}

/// A thread group became reapable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZombieExit {
    pub ts_ns: u64,
    pub tgid: u32,
    pub tid: u32,
    pub start_ns: u64,
    pub start_boottime_ns: u64,
    pub ppid: u32,
    pub parent_start_ns: u64,
    pub orig_ppid: Option<u32>,
    pub status: ExitStatus,
    pub autoreap: Option<Autoreap>,
    /// No exit signal was sent; `ts_ns` is the start of the exit (approximate).
    pub silent: bool,
    pub non_sigchld: bool,
    /// Pids at namespace levels 0..=own level (init namespace first).
    pub nspids: Vec<u32>,
    pub parent_ns_level: u32,
    pub comm: String,
    pub parent_comm: String,
}

/// An exiting parent handed a zombie child to a new parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reparent {
    pub ts_ns: u64,
    pub old_ppid: u32,
    pub new_ppid: u32,
    pub new_parent_start_ns: u64,
    pub ns_pid: u32,
    pub new_parent_ns_level: u32,
    pub status: ExitStatus,
    pub autoreap: Option<Autoreap>,
    pub new_parent_comm: String,
}

/// A wait call returned a reaped child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitReturn {
    pub ts_ns: u64,
    pub reaper_tgid: u32,
    pub reaper_tid: u32,
    /// The child's pid in the reaper's namespace (0: the call did not say which).
    pub pid: u32,
    pub ns_level: u32,
    pub call: Call,
    pub status: Option<ExitStatus>,
    pub comm: String,
}

/// The kernel freed a thread-group leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freed {
    pub ts_ns: u64,
    pub tgid: u32,
    pub start_ns: u64,
    pub status: ExitStatus,
}

/// A non-leader thread exited (and was released at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadExit {
    pub ts_ns: u64,
    pub tgid: u32,
    pub tid: u32,
    pub status: ExitStatus,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_like_wait() {
        assert_eq!(ExitStatus(3 << 8).to_string(), "exit 3");
        assert_eq!(ExitStatus(3 << 8).exit_code(), Some(3));
        assert_eq!(ExitStatus(9).to_string(), "SIGKILL");
        assert_eq!(ExitStatus(9).exit_code(), None);
        assert_eq!(ExitStatus(11 | 0x80).to_string(), "SIGSEGV (core)");
        assert!(ExitStatus(11 | 0x80).core_dumped());
        assert!(!ExitStatus(0x80 << 8).core_dumped());
        assert_eq!(signal_name(64), "SIG64");
    }
}
