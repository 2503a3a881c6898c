//! A signal an exiting process sends is not a reparent unless it is the child-exit SIGCHLD.
//!
//! An exiting parent re-notifies each of its zombie children to their new parent
//! (forget_original_parent → reparent_leader): the tracer reads that as a reparent, the siginfo
//! naming the child by its pid in the new parent's namespace. Before that, the exiting process
//! closes its files; closing the last writer of a pipe whose reader asked for a queued SIGIO
//! (O_ASYNC, F_SETOWN, F_SETSIG) sends one with si_code POLL_IN (1, the value of CLD_EXITED)
//! and si_band 65 where the child's pid would be. Here that pid is real: in a pid namespace
//! of its own, the exiting parent X has a zombie child Z with pid 65 there, and the SIGIO goes
//! to W, a sibling. Z must be told as adopted by, and reaped by, the namespace's init B, never
//! as W's. Runs as root (CI does): it loads eBPF and makes a pid namespace.

mod support;

use support::{Tracer, WAIT};

/// Z's exit code, to find its reap among the others.
const Z_CODE: i32 = 57;
/// POLL_IN's band (EPOLLIN | EPOLLRDNORM), which the siginfo carries where a
/// child-exit SIGCHLD carries the child's pid.
const BAND: i32 = 65;
/// fcntl's F_SETSIG (include/uapi/asm-generic/fcntl.h), which the libc crate leaves out.
const F_SETSIG: i32 = 10;

/// The calls in the forked processes below are raw libc ones: the test process has other
/// threads, so a forked child must not allocate. Each returns its failing step as exit code.
fn check(ok: bool, step: i32) {
    if !ok {
        unsafe { libc::_exit(step) };
    }
}

fn pause(ms: i64) {
    let t = libc::timespec {
        tv_sec: ms / 1000,
        tv_nsec: (ms % 1000) * 1_000_000,
    };
    unsafe { libc::nanosleep(&t, std::ptr::null_mut()) };
}

/// Waits for `pid` and returns its exit code (or 100 + the signal that killed it).
fn reap(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return 99;
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        100 + libc::WTERMSIG(status)
    }
}

/// X: makes Z with pid BAND in the namespace, lets it become a zombie, exits without reaping
/// it, holding the pipe's only write end.
unsafe fn x(read_end: i32) -> ! {
    unsafe {
        libc::close(read_end);
        let fd = libc::open(c"/proc/sys/kernel/ns_last_pid".as_ptr(), libc::O_WRONLY);
        check(fd >= 0, 11);
        let last = b"64";
        check(
            libc::write(fd, last.as_ptr().cast(), last.len()) == last.len() as isize,
            12,
        );
        libc::close(fd);
        let z = libc::fork();
        if z == 0 {
            libc::_exit(Z_CODE);
        }
        check(z == BAND, 13);
        pause(300);
        libc::_exit(0)
    }
}

/// B, the namespace's init: W owns the pipe's SIGIO, X holds its write end; B adopts and reaps
/// Z once X is gone.
unsafe fn b() -> ! {
    unsafe {
        let w = libc::fork();
        if w == 0 {
            // W: the SIGIO's receiver; it blocks it, so the signal only waits.
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGIO);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            pause(30_000);
            libc::_exit(0);
        }
        check(w > 0, 3);
        // The pipe is made after W, which must hold no end of it: X's is the last writer.
        let mut fds = [0; 2];
        check(libc::pipe(fds.as_mut_ptr()) == 0, 2);
        let [read_end, write_end] = fds;
        check(libc::fcntl(read_end, libc::F_SETOWN, w) == 0, 4);
        check(libc::fcntl(read_end, F_SETSIG, libc::SIGIO) == 0, 5);
        check(libc::fcntl(read_end, libc::F_SETFL, libc::O_ASYNC) == 0, 6);
        let x_pid = libc::fork();
        if x_pid == 0 {
            x(read_end);
        }
        check(x_pid > 0, 7);
        libc::close(write_end);
        let x_code = reap(x_pid);
        check(x_code == 0, x_code);
        check(reap(BAND) == Z_CODE, 8);
        libc::kill(w, libc::SIGKILL);
        reap(w);
        libc::_exit(0)
    }
}

#[test]
fn sigio_at_exit_is_not_a_reparent() {
    sigio_at_exit(&[]);
}

#[test]
fn sigio_at_exit_with_probe_reads() {
    sigio_at_exit(&[("ZOMBIETRACE_READS", "probe")]);
}

/// Each test's thread name (its first 15 characters differ) is the command name of the
/// processes it forks: the tracer follows only those.
fn sigio_at_exit(env: &[(&str, &str)]) {
    let comm = std::fs::read_to_string("/proc/thread-self/comm")
        .expect("read this thread's comm, which forked processes inherit");
    let mut tracer = Tracer::start_with_env(&["--comm", comm.trim_end()], env);
    // A moves its children into a new pid namespace, starts B there (B's pid out here is what
    // fork returns to A) and hands it back through a pipe.
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let a = unsafe { libc::fork() };
    if a == 0 {
        unsafe {
            check(libc::unshare(libc::CLONE_NEWPID) == 0, 20);
            let b_pid = libc::fork();
            if b_pid == 0 {
                b();
            }
            check(b_pid > 0, 21);
            let bytes = b_pid.to_ne_bytes();
            libc::write(fds[1], bytes.as_ptr().cast(), bytes.len());
            libc::_exit(reap(b_pid));
        }
    }
    assert!(a > 0, "fork");
    unsafe { libc::close(fds[1]) };
    let mut bytes = [0u8; 4];
    let n = unsafe { libc::read(fds[0], bytes.as_mut_ptr().cast(), bytes.len()) };
    assert_eq!(n, 4, "B's pid from A");
    let b_pid = u64::from(i32::from_ne_bytes(bytes) as u32);
    let code = reap(a);
    assert_eq!(
        code, 0,
        "the process tree failed (exit code = its failing step, see tests/sigio.rs)"
    );
    let z = tracer.wait_for("Z's reap", WAIT, |v| {
        v["event"] == "reap" && v["exit_code"] == Z_CODE
    });
    assert_eq!(
        z["ppid"], b_pid,
        "Z's parent is the init that adopted it: {z}"
    );
    assert_eq!(z["reaper_pid"], b_pid, "{z}");
    assert_eq!(z["reap"], "reparented", "{z}");
    // Every adoption is told before the reap.
    let z_pid = z["pid"].as_u64().unwrap();
    let adopted: Vec<_> = tracer
        .events_of(z_pid)
        .into_iter()
        .filter(|v| v["event"] == "adopted")
        .collect();
    assert!(
        adopted.iter().all(|v| v["ppid"] == b_pid),
        "Z adopted by anyone but B: {adopted:?}"
    );
}
