//! Where a process of the spawner runs and at what priority: the CPUs it may use, pinning it to
//! one, and its scheduling policy (for `contended`, which makes a CPU hog on purpose).

use std::io;

/// The CPUs the calling process may run on, in increasing order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is writable for its size.
    if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let bits = 8 * size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET reads the set within its size.
    Ok((0..bits)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Pins the calling process (its one thread) to `cpu`.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: as above.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes within the set (`cpu` comes from `allowed_cpus`).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of that size.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling process's scheduling policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// SCHED_OTHER (its nice value unchanged): what an ordinary parent runs at.
    Normal,
    /// SCHED_FIFO at this priority (1..=99): runs until it sleeps, ahead of every normal task.
    Fifo(i32),
}

/// Sets the calling process's scheduling policy (SCHED_FIFO needs CAP_SYS_NICE).
pub fn set_policy(policy: Policy) -> io::Result<()> {
    let (which, prio) = match policy {
        Policy::Normal => (libc::SCHED_OTHER, 0),
        Policy::Fifo(p) => (libc::SCHED_FIFO, p),
    };
    // SAFETY: sched_param is plain integers (musl's has more of them than glibc's); all-zero is
    // valid.
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    param.sched_priority = prio;
    // The system call, not libc's sched_setscheduler: musl's always fails with ENOSYS (its
    // authors hold that Linux's per-thread call does not meet POSIX's per-process one).
    // SAFETY: `param` is a valid sched_param.
    if unsafe { libc::syscall(libc::SYS_sched_setscheduler, 0, which, &param) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_may_run_somewhere() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        assert!(cpus.windows(2).all(|w| w[0] < w[1]));
    }
}
