//! Stopping and cleaning up: SIGINT/SIGTERM/SIGHUP handling (a flag plus a self-pipe, so
//! every wait in the spawner can be woken), the lifeline pipe that tells every descendant the
//! top process is gone, and the registry of processes made, which kills and reaps them all.

use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

use super::process::{self, Pid};

/// The signals that mean "stop": Ctrl-C, `kill`, a closed terminal.
pub const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);
static OWNER: AtomicI32 = AtomicI32::new(0);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_stop(sig: libc::c_int) {
    // SAFETY: only async-signal-safe calls; errno is saved and restored.
    unsafe {
        let errno = *libc::__errno_location();
        if libc::getpid() != OWNER.load(Ordering::Relaxed) {
            // A child forked a moment ago, before it reset its handlers: die as by default.
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        } else {
            let _ = STOP_SIGNAL.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
            let fd = WAKE_FD.load(Ordering::Relaxed);
            if fd >= 0 {
                let byte = 1u8;
                libc::write(fd, (&byte as *const u8).cast(), 1);
            }
        }
        *libc::__errno_location() = errno;
    }
}

/// This process's stop pipe: readable once a stop signal arrived.
#[derive(Debug)]
pub struct StopPipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl StopPipe {
    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// In a forked child: close this (the parent's) pipe.
    pub fn close_in_child(&self) {
        process::close_raw(self.read.as_raw_fd());
        process::close_raw(self.write.as_raw_fd());
    }
}

/// Installs the stop handlers for the calling process (the top, or a parent process it made).
pub fn install_stop() -> io::Result<StopPipe> {
    let (read, write) = process::pipe(true)?;
    process::set_nonblock(write.as_raw_fd())?;
    // SAFETY: getpid, and sigaction with a valid handler and mask.
    unsafe {
        OWNER.store(libc::getpid(), Ordering::SeqCst);
        STOP_SIGNAL.store(0, Ordering::SeqCst);
        WAKE_FD.store(write.as_raw_fd(), Ordering::SeqCst);
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_stop as *const () as usize;
        sa.sa_flags = 0; // no SA_RESTART: blocking calls return EINTR and re-check the flag
        libc::sigemptyset(&mut sa.sa_mask);
        for sig in STOP_SIGNALS {
            libc::sigaddset(&mut sa.sa_mask, sig);
        }
        for sig in STOP_SIGNALS {
            if libc::sigaction(sig, &sa, ptr::null_mut()) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(StopPipe { read, write })
}

/// The stop signal this process received, if any.
pub fn stop_signal() -> Option<i32> {
    match STOP_SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// Starting state for the top: default SIGCHLD (no inherited SIG_IGN, which would autoreap)
/// and nothing blocked.
pub fn reset_inherited() {
    // SAFETY: plain signal-state changes.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, ptr::null_mut());
    }
}

/// Blocks or unblocks `sig` for the calling thread (the spawner's processes have one).
pub fn set_blocked(sig: libc::c_int, blocked: bool) {
    let how = if blocked {
        libc::SIG_BLOCK
    } else {
        libc::SIG_UNBLOCK
    };
    // SAFETY: a valid signal set and sigprocmask; a pending unblocked signal is delivered on the
    // way out.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(how, &set, ptr::null_mut());
    }
}

/// In a forked child: default actions for the stop signals and SIGCHLD, nothing blocked.
pub fn reset_in_child() {
    // SAFETY: plain signal-state changes in a fresh child.
    unsafe {
        WAKE_FD.store(-1, Ordering::SeqCst);
        for sig in STOP_SIGNALS {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    reset_inherited();
}

/// The write end stays in the top process only; every descendant holds the read end and sees
/// it hang up (POLLHUP / EOF) the moment the top is gone, however it died.
#[derive(Debug)]
pub struct Lifeline {
    read: OwnedFd,
    write: OwnedFd,
}

impl Lifeline {
    pub fn new() -> io::Result<Self> {
        let (read, write) = process::pipe(false)?;
        Ok(Lifeline { read, write })
    }

    pub fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// In a forked child: drop the write end so only the top holds it.
    pub fn close_write_in_child(&self) {
        process::close_raw(self.write.as_raw_fd());
    }
}

#[derive(Debug)]
struct Entry {
    pid: Pid,
    pidfd: Option<OwnedFd>,
    /// Our child (forked by us, or reparented to us as subreaper): we must reap it.
    ours: bool,
}

/// Every process the spawner made and still answers for. Dropping it kills and reaps them.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// Tracks our own child (not yet reaped, so the pidfd always opens).
    pub fn track_child(&mut self, pid: Pid) -> io::Result<RawFd> {
        let fd = process::pidfd_open(pid)?;
        let raw = fd.as_raw_fd();
        self.entries.push(Entry {
            pid,
            pidfd: Some(fd),
            ours: true,
        });
        Ok(raw)
    }

    /// Tracks a descendant made by another process of ours; None if it is already gone.
    pub fn track_other(&mut self, pid: Pid) -> Option<RawFd> {
        let fd = process::pidfd_open(pid).ok()?;
        let raw = fd.as_raw_fd();
        self.entries.push(Entry {
            pid,
            pidfd: Some(fd),
            ours: false,
        });
        Some(raw)
    }

    /// It is our child now (reparented to us as subreaper).
    pub fn adopt(&mut self, pid: Pid) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.pid == pid) {
            e.ours = true;
        }
    }

    pub fn pidfd(&self, pid: Pid) -> Option<RawFd> {
        self.entries
            .iter()
            .find(|e| e.pid == pid)?
            .pidfd
            .as_ref()
            .map(|f| f.as_raw_fd())
    }

    /// It was reaped (by us or someone else): stop answering for it.
    pub fn forget(&mut self, pid: Pid) {
        self.entries.retain(|e| e.pid != pid);
    }

    pub fn kill(&self, pid: Pid, sig: i32) {
        if let Some(fd) = self.pidfd(pid) {
            let _ = process::pidfd_kill(fd, sig);
        }
    }

    /// Kills everything still tracked and reaps our children; then reaps any other child we
    /// have (as subreaper, orphans come to us) until none is left or 2s have passed.
    pub fn shutdown(&mut self) {
        for e in &self.entries {
            if let Some(fd) = &e.pidfd {
                let _ = process::pidfd_kill(fd.as_raw_fd(), libc::SIGKILL);
            }
        }
        for e in self.entries.drain(..) {
            if e.ours {
                let _ = process::wait4(e.pid, libc::__WALL);
            }
        }
        let deadline = process::now_ns() + 2_000_000_000;
        loop {
            match process::wait4(-1, libc::WNOHANG | libc::__WALL) {
                Ok(Some(_)) => continue,
                Ok(None) if process::now_ns() < deadline => {
                    process::sleep_until(process::now_ns() + 1_000_000);
                }
                _ => break, // ECHILD: nothing left
            }
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.shutdown();
    }
}
