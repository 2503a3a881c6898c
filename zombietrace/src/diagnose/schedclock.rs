//! How long a zombie has been one, from the scheduler's clock.
//!
//! procfs has no exit time. A process's start time (stat field 22) only bounds a zombie's age
//! from above. But /proc/<pid>/sched shows `se.exec_start`: the scheduler clock when the task
//! last left or took a CPU. A zombie's last time off a CPU is its final switch-out right after
//! exit, so that is when it became a zombie, within microseconds.
//!
//! That clock is the CPU's run-queue task clock, not CLOCK_MONOTONIC: it lags by the time the
//! CPU spent in stolen (hypervisor) or interrupt time, differently on each CPU. So it is
//! calibrated per CPU: this process moves itself to the zombie's last CPU (stat field 39),
//! reads its own `se.exec_start` (just set by the move) and the monotonic clock. Lag that grew
//! since the zombie exited makes the estimate short by that much; it is never raised above the
//! start-time bound. Where any step fails (no /proc/<pid>/sched, a CPU outside this process's
//! affinity), there is no estimate.

use std::collections::HashMap;

use crate::{
    clock::monotonic_ns,
    sys::proc::{self, limit},
};

/// `se.exec_start` of /proc/<pid>/sched (`ms.nnnnnn`) in ns.
pub fn parse_exec_start(sched: &str) -> Option<u64> {
    let line = sched.lines().find(|l| l.starts_with("se.exec_start"))?;
    let value = line.split_once(':')?.1.trim();
    let (ms, frac) = value.split_once('.').unwrap_or((value, "0"));
    let ms: u64 = ms.parse().ok()?;
    // Up to 6 digits of ns below the ms.
    let frac = format!("{frac:0<6}");
    let ns: u64 = frac.get(..6)?.parse().ok()?;
    ms.checked_mul(1_000_000)?.checked_add(ns)
}

pub fn exec_start(pid: u32) -> Option<u64> {
    let raw = proc::read(pid, None, "sched", limit::SCHED).ok()?;
    parse_exec_start(&String::from_utf8_lossy(&raw)).filter(|&ns| ns > 0)
}

/// Per CPU: CLOCK_MONOTONIC minus that CPU's scheduler task clock.
#[derive(Debug, Default)]
pub struct SchedClock {
    offsets: HashMap<u32, i128>,
}

impl SchedClock {
    /// Measures each of `cpus`, moving this thread there and back. CPUs it may not run on are
    /// left out.
    pub fn calibrate(cpus: impl IntoIterator<Item = u32>) -> Self {
        let mut offsets = HashMap::new();
        // SAFETY: sched_getaffinity writes only into `saved`.
        let mut saved: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if unsafe { libc::sched_getaffinity(0, size, &mut saved) } != 0 {
            return SchedClock { offsets };
        }
        for cpu in cpus {
            if cpu as usize >= libc::CPU_SETSIZE as usize || offsets.contains_key(&cpu) {
                continue;
            }
            // SAFETY: CPU_ISSET reads a valid set.
            if !unsafe { libc::CPU_ISSET(cpu as usize, &saved) } {
                continue;
            }
            if let Some(offset) = measure(cpu) {
                offsets.insert(cpu, offset);
            }
        }
        // SAFETY: restores the mask read above.
        unsafe { libc::sched_setaffinity(0, size, &saved) };
        SchedClock { offsets }
    }

    /// How long ago (CLOCK_MONOTONIC ns `now`) the scheduler clock of `cpu` read `exec_start`.
    pub fn ago_ns(&self, cpu: u32, exec_start: u64, now: u64) -> Option<u64> {
        let offset = self.offsets.get(&cpu)?;
        let at = exec_start as i128 + offset;
        Some((now as i128 - at).max(0) as u64)
    }
}

/// One CPU's offset: the smallest of a few readings (each is late by the time since this
/// thread's own `se.exec_start` was last set, at most a tick).
fn measure(cpu: u32) -> Option<i128> {
    // SAFETY: a zeroed set with one CPU added; sched_setaffinity/sched_getcpu on this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return None;
        }
    }
    let mut best: Option<i128> = None;
    for _ in 0..3 {
        // SAFETY: no preconditions; yields so that this thread is switched in afresh.
        unsafe { libc::sched_yield() };
        if unsafe { libc::sched_getcpu() } != cpu as i32 {
            return None;
        }
        let text = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
        let now = monotonic_ns();
        let start = parse_exec_start(&text)?;
        let offset = now as i128 - start as i128;
        best = Some(best.map_or(offset, |b: i128| b.min(offset)));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exec_start() {
        let text = "sleep (4122, #threads: 1)\n------\nse.exec_start   :   3676175.184699\n\
                    se.vruntime   :   1563933.802538\n";
        assert_eq!(parse_exec_start(text), Some(3_676_175_184_699));
        assert_eq!(parse_exec_start("se.exec_start : 12.5\n"), Some(12_500_000));
        assert_eq!(parse_exec_start("se.exec_start : 7\n"), Some(7_000_000));
        assert_eq!(parse_exec_start("se.vruntime : 1.0\n"), None);
    }

    /// Found by fuzzing (procfs): milliseconds past u64::MAX / 10^6 overflowed (a panic in a
    /// debug build, a wrong age in release).
    #[test]
    fn a_clock_too_large_is_none() {
        assert_eq!(
            parse_exec_start("se.exec_start : 18446744073709551615.0\n"),
            None
        );
        assert_eq!(
            parse_exec_start("se.exec_start : 18446744073709.999999\n"),
            None
        );
        assert_eq!(
            parse_exec_start("se.exec_start : 18446744073708.999999\n"),
            Some(18_446_744_073_708_999_999)
        );
    }

    #[test]
    fn offsets_turn_into_ages() {
        let clock = SchedClock {
            offsets: HashMap::from([(0, 700_000_000)]),
        };
        assert_eq!(
            clock.ago_ns(0, 1_000_000_000, 3_700_000_000),
            Some(2_000_000_000)
        );
        assert_eq!(clock.ago_ns(0, 5_000_000_000, 3_700_000_000), Some(0));
        assert_eq!(clock.ago_ns(1, 1_000_000_000, 3_700_000_000), None);
    }

    #[test]
    fn a_fresh_zombie_is_young() {
        // SAFETY: the child only exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe { libc::_exit(0) };
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let stat = proc::stat(pid as u32).unwrap();
        let start = exec_start(pid as u32);
        let clock = SchedClock::calibrate(stat.processor);
        let age = start.and_then(|s| clock.ago_ns(stat.processor.unwrap(), s, monotonic_ns()));
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        if let Some(age) = age {
            assert!((200_000_000..5_000_000_000).contains(&age), "{age}");
        }
    }
}
