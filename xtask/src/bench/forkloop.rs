//! The bench's minimal fork loop, a program of its own: `cargo xtask bench` compiles this file
//! with `rustc -O` into target/bench/forkloop (it is not a module of xtask). A process's fork
//! costs grow with its memory (each MiB of touched heap costs ~10% of the rate here), so the loop
//! must not be a fork of xtask itself.
//!
//! `forkloop CPU|- SECONDS|xCOUNT`: names itself `ztbench-loop`, pins itself to CPU (unless `-`),
//! waits for a byte on stdin (go), loops fork → child `_exit(0)` → `waitpid` for SECONDS or
//! until COUNT exits, prints `exits start_ns end_ns failed_forks` (CLOCK_MONOTONIC) followed by
//! the rate (exits/s) of each whole 100 ms window of the run, then stays alive until stdin
//! closes, so that a tracer still counts it as a live parent.

use std::io::{Read as _, Write as _};

unsafe extern "C" {
    fn fork() -> i32;
    fn _exit(code: i32) -> !;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn sched_setaffinity(pid: i32, size: usize, mask: *const u64) -> i32;
    fn prctl(option: i32, ...) -> i32;
    fn clock_gettime(clock: i32, ts: *mut [i64; 2]) -> i32;
    fn usleep(us: u32) -> i32;
}

const CLOCK_MONOTONIC: i32 = 1;
/// The windows whose rates are reported: the bench's steady rate is taken over them.
const WINDOW_NS: u64 = 100_000_000;
const PR_SET_NAME: i32 = 15;

fn now_ns() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: clock_gettime writes two longs.
    unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
    ts[0] as u64 * 1_000_000_000 + ts[1] as u64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: forkloop CPU|- SECONDS|xCOUNT");
        std::process::exit(2);
    }
    // SAFETY: prctl(PR_SET_NAME) reads a NUL-terminated name.
    unsafe { prctl(PR_SET_NAME, c"ztbench-loop".as_ptr()) };
    if let Ok(cpu) = args[1].parse::<usize>() {
        let mut mask = [0u64; 16];
        mask[cpu / 64] |= 1 << (cpu % 64);
        // SAFETY: the mask is 1024 bits, as the size says.
        if unsafe { sched_setaffinity(0, size_of_val(&mask), mask.as_ptr()) } != 0 {
            eprintln!("forkloop: sched_setaffinity({cpu}) failed");
            std::process::exit(1);
        }
    }
    let (limit, secs) = match args[2].strip_prefix('x') {
        Some(n) => (n.parse().expect("count"), f64::INFINITY),
        None => (u64::MAX, args[2].parse::<f64>().expect("seconds")),
    };
    let mut stdin = std::io::stdin().lock();
    let mut go = [0u8; 1];
    if stdin.read(&mut go).unwrap_or(0) == 0 {
        return;
    }
    let start = now_ns();
    let end = if secs.is_finite() {
        start + (secs * 1e9) as u64
    } else {
        u64::MAX
    };
    let (mut exits, mut failed) = (0u64, 0u64);
    let mut windows: Vec<u64> = Vec::with_capacity(1024);
    let (mut window_start, mut window_exits) = (start, 0u64);
    loop {
        let now = now_ns();
        if now - window_start >= WINDOW_NS {
            windows.push(window_exits * 1_000_000_000 / (now - window_start));
            (window_start, window_exits) = (now, 0);
        }
        if exits >= limit || now >= end {
            break;
        }
        // SAFETY: the child only calls _exit.
        let pid = unsafe { fork() };
        if pid == 0 {
            // SAFETY: leaving at once, without running anything of the parent's.
            unsafe { _exit(0) };
        }
        if pid < 0 {
            failed += 1;
            if failed > 1000 {
                break;
            }
            // SAFETY: a plain sleep.
            unsafe { usleep(1000) };
            continue;
        }
        // SAFETY: reaping our own child.
        while unsafe { waitpid(pid, std::ptr::null_mut(), 0) } < 0 {}
        exits += 1;
        window_exits += 1;
    }
    let end = now_ns();
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{exits} {start} {end} {failed}");
    for rate in &windows {
        let _ = write!(out, " {rate}");
    }
    let _ = writeln!(out);
    let _ = out.flush();
    // Stay a live parent until the bench lets go.
    let mut rest = [0u8; 64];
    while stdin.read(&mut rest).is_ok_and(|n| n > 0) {}
}
