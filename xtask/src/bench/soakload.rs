//! The soak's workload, a program of its own: `cargo xtask bench` compiles this file with
//! `rustc -O` into target/bench/ztsoak (it is not a module of xtask; a fork's cost grows with the
//! forking process's memory, so the parents must not be forks of xtask).
//!
//! `ztsoak RATE SECONDS SLOTS BATCH`: SLOTS parents at a time; each forks BATCH children, one every
//! SLOTS/RATE seconds on a fixed schedule (catching up when late, as fast as it can when the
//! machine cannot keep up; nothing is forked after SECONDS), each child `_exit`s at once
//! with a code derived from its sequence number, the parent `waitpid`s it, then exits itself
//! (with a code from its own number) and the top process, which reaps it, starts the next parent
//! of that slot where the schedule left off. So the exits come at RATE per second in all, from
//! parents that come and go, and pids wrap around pid_max as often as they may.
//!
//! Ground truth goes to stdout as binary records, one per process reaped (see [`Truth`]), by
//! the process that reaped it, in writes of at most 80 records (3,840 bytes: below PIPE_BUF, so
//! each write is atomic on the pipe the bench reads). A record with pid 0 carries, in `status`,
//! the forks that failed (EAGAIN) and were retried. At the end the top process writes
//! `ztsoak: parents P wraps W orphans O start_ns S end_ns E` on stderr.
//!
//! The top process is a child subreaper: if a parent died before its children, they would come
//! back to it (counted as orphans, recorded with ppid 0), not to PID 1.

use std::io::Write as _;

unsafe extern "C" {
    fn fork() -> i32;
    fn _exit(code: i32) -> !;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn getpid() -> i32;
    fn prctl(option: i32, ...) -> i32;
    fn clock_gettime(clock: i32, ts: *mut [i64; 2]) -> i32;
    fn clock_nanosleep(clock: i32, flags: i32, req: *const [i64; 2], rem: *mut [i64; 2]) -> i32;
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn __errno_location() -> *mut i32;
}

const CLOCK_MONOTONIC: i32 = 1;
const TIMER_ABSTIME: i32 = 1;
const PR_SET_NAME: i32 = 15;
const PR_SET_CHILD_SUBREAPER: i32 = 36;
const EINTR: i32 = 4;
const ECHILD: i32 = 10;

/// One process's life as the process that reaped it saw it; 48 bytes, native endian.
/// The tracer's `start_ns` lies in `[fork_before, fork_after]`, its reap time in
/// `[wait_before, wait_after]`.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Truth {
    pid: u32,
    /// The process that forked it (0: unknown, an orphan).
    ppid: u32,
    reaper: u32,
    /// The wait status.
    status: i32,
    fork_before: u64,
    fork_after: u64,
    wait_before: u64,
    wait_after: u64,
}

const PER_WRITE: usize = 80;

/// Records waiting to be written, flushed every `PER_WRITE`.
struct Out {
    buf: [Truth; PER_WRITE],
    len: usize,
}

impl Out {
    fn new() -> Out {
        Out {
            buf: [Truth::default(); PER_WRITE],
            len: 0,
        }
    }

    fn push(&mut self, t: Truth) {
        self.buf[self.len] = t;
        self.len += 1;
        if self.len == PER_WRITE {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.len == 0 {
            return;
        }
        let bytes = self.len * size_of::<Truth>();
        loop {
            // SAFETY: writes `bytes` bytes of the records, which are plain data.
            let n = unsafe { write(1, self.buf.as_ptr().cast(), bytes) };
            if n == bytes as isize {
                break;
            }
            // SAFETY: reading errno.
            if n < 0 && unsafe { *__errno_location() } == EINTR {
                continue;
            }
            // The reader is gone, or a short write (cannot happen below PIPE_BUF): give up.
            // SAFETY: leaving at once.
            unsafe { _exit(3) };
        }
        self.len = 0;
    }
}

fn now_ns() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: clock_gettime writes two longs.
    unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
    ts[0] as u64 * 1_000_000_000 + ts[1] as u64
}

fn sleep_until(ns: u64) {
    let ts = [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64];
    // SAFETY: an absolute sleep on a valid timespec (EINTR just wakes us early).
    unsafe { clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, std::ptr::null_mut()) };
}

fn errno() -> i32 {
    // SAFETY: reading errno.
    unsafe { *__errno_location() }
}

/// waitpid, retried on EINTR, with the clock read right before and right after:
/// (pid, status, before, after); pid < 0 with ECHILD when there is nothing left to wait for.
fn timed_wait(pid: i32) -> (i32, i32, u64, u64) {
    loop {
        let mut status = 0;
        let before = now_ns();
        // SAFETY: waiting for our own children, with a valid out-pointer.
        let got = unsafe { waitpid(pid, &mut status, 0) };
        let after = now_ns();
        if got < 0 && errno() == EINTR {
            continue;
        }
        return (got, status, before, after);
    }
}

/// fork, retried every ms while it fails (counted): (pid, before, after); 0 in the child.
fn timed_fork(failed: &mut u32) -> (i32, u64, u64) {
    loop {
        let before = now_ns();
        // SAFETY: the children either `_exit` at once or (parents) only run this program's code
        // in a process that has a single thread.
        let pid = unsafe { fork() };
        let after = now_ns();
        if pid >= 0 {
            return (pid, before, after);
        }
        *failed += 1;
        sleep_until(now_ns() + 1_000_000);
    }
}

/// A parent: `batch` children on the schedule `t0 + k × interval`, each reaped at once; fewer
/// if the run `end`s first.
fn parent(generation: u64, t0: u64, interval: u64, batch: u64, end: u64) -> ! {
    // SAFETY: prctl(PR_SET_NAME) reads a NUL-terminated name.
    unsafe { prctl(PR_SET_NAME, c"ztsoak-parent".as_ptr()) };
    // SAFETY: getpid has no preconditions.
    let me = unsafe { getpid() } as u32;
    let mut out = Out::new();
    let mut failed = 0;
    for k in 0..batch {
        let due = t0 + k * interval;
        let now = now_ns();
        if now >= end {
            break;
        }
        if now < due {
            sleep_until(due);
        }
        let code = ((generation * batch + k) & 0xff) as i32;
        let (pid, fork_before, fork_after) = timed_fork(&mut failed);
        if pid == 0 {
            // SAFETY: the child leaves at once.
            unsafe { _exit(code) };
        }
        let (got, status, wait_before, wait_after) = timed_wait(pid);
        if got != pid {
            // SAFETY: cannot happen (our own child); leave loudly.
            unsafe { _exit(4) };
        }
        out.push(Truth {
            pid: pid as u32,
            ppid: me,
            reaper: me,
            status,
            fork_before,
            fork_after,
            wait_before,
            wait_after,
        });
    }
    if failed > 0 {
        out.push(Truth {
            status: failed as i32,
            ..Truth::default()
        });
    }
    out.flush();
    // SAFETY: leaving without running the top's exit handlers.
    unsafe { _exit((generation & 0xff) as i32) }
}

struct Slot {
    pid: i32,
    t0: u64,
    fork_before: u64,
    fork_after: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize| -> f64 { args.get(i).and_then(|a| a.parse().ok()).unwrap_or(0.0) };
    let (rate, secs, slots, batch) = (num(1), num(2), num(3) as u64, num(4) as u64);
    if args.len() != 5 || rate <= 0.0 || secs <= 0.0 || slots == 0 || batch == 0 {
        eprintln!("usage: ztsoak RATE SECONDS SLOTS BATCH");
        std::process::exit(2);
    }
    // SAFETY: plain prctl calls.
    unsafe { prctl(PR_SET_CHILD_SUBREAPER, 1u64, 0u64, 0u64, 0u64) };
    // SAFETY: getpid has no preconditions.
    let me = unsafe { getpid() } as u32;
    let interval = (slots as f64 * 1e9 / rate) as u64;
    let start = now_ns() + 20_000_000;
    let end = start + (secs * 1e9) as u64;
    let mut out = Out::new();
    let (mut generation, mut parents, mut wraps, mut orphans, mut failed) = (0u64, 0u64, 0, 0, 0u32);
    let mut last_pid = 0;
    let mut live: Vec<Slot> = Vec::new();
    let mut spawn = |t0: u64, live: &mut Vec<Slot>, failed: &mut u32| {
        let (pid, fork_before, fork_after) = timed_fork(failed);
        if pid == 0 {
            parent(generation, t0, interval, batch, end);
        }
        if pid < last_pid {
            wraps += 1;
        }
        last_pid = pid;
        generation += 1;
        parents += 1;
        live.push(Slot {
            pid,
            t0,
            fork_before,
            fork_after,
        });
    };
    // The slots start staggered by interval / slots: exits evenly spread.
    for s in 0..slots {
        spawn(start + s * interval / slots, &mut live, &mut failed);
    }
    loop {
        let (pid, status, wait_before, wait_after) = timed_wait(-1);
        if pid < 0 {
            if errno() == ECHILD {
                break;
            }
            continue;
        }
        let Some(i) = live.iter().position(|s| s.pid == pid) else {
            orphans += 1;
            out.push(Truth {
                pid: pid as u32,
                ppid: 0,
                reaper: me,
                status,
                wait_before,
                wait_after,
                ..Truth::default()
            });
            continue;
        };
        let slot = live.swap_remove(i);
        out.push(Truth {
            pid: pid as u32,
            ppid: me,
            reaper: me,
            status,
            fork_before: slot.fork_before,
            fork_after: slot.fork_after,
            wait_before,
            wait_after,
        });
        let next = slot.t0 + batch * interval;
        if next < end && now_ns() < end {
            spawn(next, &mut live, &mut failed);
        }
    }
    if failed > 0 {
        out.push(Truth {
            status: failed as i32,
            ..Truth::default()
        });
    }
    out.flush();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "ztsoak: parents {parents} wraps {wraps} orphans {orphans} start_ns {start} end_ns {}",
        now_ns()
    );
}
