//! Thin wrappers over the process syscalls the spawner needs: the monotonic clock, pipes,
//! pidfds, fork, wait4/waitid, `/proc/<pid>/stat`, and what a child does before it dies.

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::ptr;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::sys::{proc, wait_status::WaitStatus};

pub type Pid = libc::pid_t;

/// CLOCK_MONOTONIC in nanoseconds: the clock of the kernel's `bpf_ktime_get_ns`.
pub use crate::clock::monotonic_ns as now_ns;

fn timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000) as _, // time_t (named differently by glibc and musl)
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    }
}

pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A pipe whose ends are close-on-exec; `nonblock_read` makes the read end non-blocking.
pub fn pipe(nonblock_read: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    if nonblock_read {
        set_nonblock(read.as_raw_fd())?;
    }
    Ok((read, write))
}

pub fn set_nonblock(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Closes a raw descriptor inherited across fork (in a child that will `_exit`).
pub fn close_raw(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: the child owns its copy of the descriptor and never uses it again.
        unsafe { libc::close(fd) };
    }
}

/// Writes all of `buf` (retrying on EINTR); one `write` for up to PIPE_BUF bytes is atomic.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(io::Error::last_os_error());
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// `pidfd_open(2)`: a descriptor that becomes readable when the process (its whole thread
/// group) has exited, and reports POLLHUP once it has been reaped.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; it returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is new and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`: signals exactly the process the pidfd names, never a reused pid.
pub fn pidfd_kill(pidfd: RawFd, sig: i32) -> io::Result<()> {
    // SAFETY: a null siginfo means "as if by kill(2)".
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The exit status the kernel keeps for a pidfd's process once it has been reaped, by
/// anyone (`PIDFD_GET_INFO` with `PIDFD_INFO_EXIT`, Linux 6.15+). None before the reap, or
/// where the kernel does not have it.
pub fn pidfd_exit_status(pidfd: RawFd) -> Option<Status> {
    /// `struct pidfd_info` up to `exit_code` (PIDFD_INFO_SIZE_VER0 = 64 bytes).
    #[repr(C)]
    struct Info {
        mask: u64,
        cgroupid: u64,
        ids: [u32; 11],
        exit_code: i32,
    }
    const PIDFD_INFO_EXIT: u64 = 1 << 3;
    // _IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, 64 bytes)
    // (the request's type is c_ulong for glibc, c_int for musl)
    const PIDFD_GET_INFO: libc::Ioctl = 0xC040_FF0B_u32 as libc::Ioctl;
    let mut info = Info {
        mask: PIDFD_INFO_EXIT,
        cgroupid: 0,
        ids: [0; 11],
        exit_code: 0,
    };
    // SAFETY: the kernel writes at most the 64 bytes the ioctl number encodes into `info`.
    let r = unsafe { libc::ioctl(pidfd, PIDFD_GET_INFO, &mut info as *mut Info) };
    (r == 0 && info.mask & PIDFD_INFO_EXIT != 0).then(|| Status::from_wait(info.exit_code))
}

/// How a process ended, as the wait status (or siginfo) says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub core_dumped: bool,
}

impl Status {
    /// From a wait4-style status word (also the format of `/proc/<pid>/stat` field 52).
    pub fn from_wait(status: libc::c_int) -> Self {
        Status::of(WaitStatus(status as u32))
    }

    pub fn from_siginfo(si: &libc::siginfo_t) -> Self {
        // SAFETY: the siginfo was filled by waitid for a child state change.
        let status = unsafe { si.si_status() };
        Status::of(WaitStatus::from_siginfo(si.si_code, status))
    }

    fn of(w: WaitStatus) -> Self {
        Status {
            exit_code: w.exit_code(),
            signal: w.signal(),
            core_dumped: w.core_dumped(),
        }
    }

    pub fn describe(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(code), _) => WaitStatus((code as u32 & 0xff) << 8).describe(),
            (None, Some(sig)) => {
                WaitStatus(sig as u32 & 0x7f | if self.core_dumped { 0x80 } else { 0 }).describe()
            }
            (None, None) => "exit status not seen".to_string(),
        }
    }
}

/// `wait4(pid, flags)`, retrying on EINTR. `Ok(None)` when WNOHANG found nothing.
pub fn wait4(pid: Pid, flags: libc::c_int) -> io::Result<Option<(Pid, Status)>> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is writable; rusage may be null.
        let r = unsafe { libc::wait4(pid, &mut status, flags, ptr::null_mut()) };
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(io::Error::last_os_error());
        }
        if r == 0 {
            return Ok(None);
        }
        return Ok(Some((r, Status::from_wait(status))));
    }
}

/// `waitid(idtype, id, flags)`, retrying on EINTR. `Ok(None)` when WNOHANG found nothing.
pub fn waitid(
    idtype: libc::idtype_t,
    id: u32,
    flags: libc::c_int,
) -> io::Result<Option<(Pid, Status)>> {
    loop {
        // SAFETY: an all-zero siginfo_t is valid; waitid fills it.
        let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `si` is writable.
        let r = unsafe { libc::waitid(idtype, id, &mut si, flags) };
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(io::Error::last_os_error());
        }
        // SAFETY: waitid filled the SIGCHLD fields (or left the zeroed si_pid for WNOHANG).
        let pid = unsafe { si.si_pid() };
        if pid == 0 {
            return Ok(None);
        }
        return Ok(Some((pid, Status::from_siginfo(&si))));
    }
}

/// `fork(2)`. The child must end with `_exit` (see `run_child`): it never returns into the
/// spawner's own code, so nothing of the parent's (stdout buffers, destructors) runs twice.
pub fn fork() -> anyhow::Result<Pid> {
    // SAFETY: the spawner is single-threaded where it forks; the child only calls
    // async-signal-safe code or code that is safe after fork of a single-threaded process.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error()).context(
            "fork failed (out of pids or over RLIMIT_NPROC? lower --children / --parents)",
        );
    }
    Ok(pid)
}

/// Runs `body` in a forked child and ends the child with `_exit`: 0 on success, 1 on error
/// (the error goes to `on_error`, e.g. a message to the top process), 101 on panic.
pub fn run_child(
    body: impl FnOnce() -> anyhow::Result<()>,
    on_error: impl FnOnce(&anyhow::Error),
) -> ! {
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(())) => 0,
        Ok(Err(err)) => {
            on_error(&err);
            1
        }
        Err(_) => 101,
    };
    // SAFETY: ends this process without running the parent's atexit handlers.
    unsafe { libc::_exit(code) }
}

/// In a child: die with SIGKILL when the parent dies; `_exit` at once if it already has.
pub fn die_with_parent(parent: Pid) {
    // SAFETY: plain prctl and getppid.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != parent {
            libc::_exit(0);
        }
    }
}

/// The few fields of `/proc/<pid>/stat` the spawner reads.
#[derive(Clone, Copy, Debug)]
pub struct ProcStat {
    pub state: char,
    /// Field 52: the exit status in wait format (only meaningful once it has exited).
    pub exit_status: Option<i32>,
}

pub fn proc_stat(path_pid: Pid, task: Option<Pid>) -> Option<ProcStat> {
    let raw = proc::read(
        path_pid as u32,
        task.map(|t| t as u32),
        "stat",
        proc::limit::STAT,
    )
    .ok()?;
    let stat = proc::parse_stat(&raw).ok()?;
    Some(ProcStat {
        state: stat.state,
        exit_status: stat.exit_code,
    })
}

/// Sleeps on CLOCK_MONOTONIC until `deadline_ns`; returns early (false) if a signal arrives.
pub fn sleep_until(deadline_ns: u64) -> bool {
    let ts = timespec(deadline_ns);
    // SAFETY: absolute sleep on a valid timespec.
    let r = unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            ptr::null_mut(),
        )
    };
    r == 0
}

/// `ppoll` until one of `fds` has an event or `deadline_ns` passes (None: no deadline).
/// EINTR is retried (a stop signal also writes to a pipe in `fds`, so it is not lost).
/// Returns true if some descriptor has events.
pub fn poll_until(fds: &mut [libc::pollfd], deadline_ns: Option<u64>) -> io::Result<bool> {
    loop {
        let ts = deadline_ns.map(|d| timespec(d.saturating_sub(now_ns())));
        let tsp = ts
            .as_ref()
            .map_or(ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `fds` is a valid slice of pollfd; `tsp` is null or a valid timespec.
        let r = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                tsp,
                ptr::null(),
            )
        };
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(io::Error::last_os_error());
        }
        return Ok(r > 0);
    }
}

pub fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Waits until one of `fds` is readable or hung up, or `deadline_ns` passes.
/// Returns the index of the first such descriptor, or None at the deadline.
pub fn wait_readable(fds: &[RawFd], deadline_ns: Option<u64>) -> io::Result<Option<usize>> {
    let mut pfds: Vec<libc::pollfd> = fds.iter().map(|&fd| pollfd(fd, libc::POLLIN)).collect();
    loop {
        if !poll_until(&mut pfds, deadline_ns)? {
            if deadline_ns.is_some_and(|d| now_ns() >= d) {
                return Ok(None);
            }
            continue;
        }
        if let Some(i) = pfds.iter().position(|p| p.revents != 0) {
            return Ok(Some(i));
        }
    }
}

/// Whether `pid` is gone: released by whoever reaped it (kernels before 6.9 do not report
/// POLLHUP on a pidfd when its process is reaped, so this is how to tell there).
pub fn pid_gone(pid: Pid) -> bool {
    // SAFETY: signal 0 only checks that the pid exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == -1 && errno() == libc::ESRCH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_wait_status() {
        assert_eq!(Status::from_wait(3 << 8).exit_code, Some(3));
        let killed = Status::from_wait(libc::SIGSEGV | 0x80);
        assert_eq!(killed.signal, Some(libc::SIGSEGV));
        assert!(killed.core_dumped);
    }

    #[test]
    fn reads_own_stat() {
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        let st = proc_stat(me, None).unwrap();
        assert!(st.state == 'R' || st.state == 'S');
    }
}
