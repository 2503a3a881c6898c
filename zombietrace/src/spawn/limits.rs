//! The limits that keep the spawner safe, checked before anything is created: counts,
//! rates and durations with a ceiling and the reason for it, memory, pids and descriptors.

use std::time::Duration;

use anyhow::{bail, ensure};

use super::cli::{FateArgs, Scenario};
use crate::duration::format_ns;

/// Held zombies each keep a pid: pid_max is 32768 here and everything else needs pids too.
pub const MAX_CHILDREN: u32 = 1000;
/// Parallel storm parents: more than a few per core only adds scheduler noise.
pub const MAX_PARENTS: u32 = 64;
/// Storm rate: fork+exit+reap costs tens of µs of CPU; beyond this it only churns pid space.
pub const MAX_RATE: f64 = 200_000.0;
/// Every duration: a scenario is a test fixture, not a daemon.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// contended: the hog's burst takes a whole CPU from everything else on it.
pub const MAX_BURST: Duration = Duration::from_millis(500);
pub const MAX_CONTENDED_CHILDREN: u32 = 20;
/// Memory touched by one child before it exits.
pub const MAX_TOUCH_MIB: u32 = 4096;

impl FateArgs {
    pub fn check(&self, concurrent: u32) -> anyhow::Result<()> {
        ensure!(
            (0..=255).contains(&self.exit_code),
            "--exit-code {} is out of range: an exit code is 0..=255 (the kernel keeps 8 bits)",
            self.exit_code
        );
        ensure!(
            self.touch_mib <= MAX_TOUCH_MIB,
            "--touch-mib {} is too large: at most {MAX_TOUCH_MIB} MiB per child",
            self.touch_mib
        );
        let total = u64::from(self.touch_mib) * u64::from(concurrent);
        if total > 0 {
            let avail = mem_available_mib().unwrap_or(u64::MAX);
            ensure!(
                total <= avail / 2,
                "--touch-mib {} × {concurrent} children = {total} MiB, more than half of the \
                 {avail} MiB available: the children touch their memory at the same time",
                self.touch_mib
            );
        }
        Ok(())
    }
}

fn check_duration(flag: &str, d: Duration) -> anyhow::Result<()> {
    ensure!(
        d <= MAX_DURATION,
        "--{flag} {} is too long: at most 1h (a scenario is a test fixture, not a daemon)",
        format_ns(d.as_nanos() as u64)
    );
    Ok(())
}

fn check_children(n: u32, pids_each: u32) -> anyhow::Result<()> {
    ensure!(n >= 1, "--children must be at least 1");
    ensure!(
        n <= MAX_CHILDREN,
        "--children {n} is too many: at most {MAX_CHILDREN}, because each held zombie keeps a pid, \
         pid_max here is {} and every other process needs pids too",
        pid_max().unwrap_or(32768)
    );
    check_pid_room(u64::from(n) * u64::from(pids_each))
}

/// Refuses to take more than what leaves half of pid_max free for everyone else.
fn check_pid_room(needed: u64) -> anyhow::Result<()> {
    let (Some(max), Some(used)) = (pid_max(), tasks_now()) else {
        return Ok(());
    };
    ensure!(
        used + needed <= max / 2,
        "{needed} more pids would leave less than half of pid_max ({max}) free ({used} in use): \
         refusing so as not to exhaust the pid space"
    );
    Ok(())
}

fn pid_max() -> Option<u64> {
    crate::sys::proc::pid_max().map(u64::from)
}

/// Threads that exist now (`/proc/loadavg`'s "running/total").
fn tasks_now() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace()
        .nth(3)?
        .split('/')
        .nth(1)?
        .parse()
        .ok()
}

fn mem_available_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

impl Scenario {
    /// Checks every limit before anything is created.
    pub fn validate(&self) -> anyhow::Result<()> {
        match self {
            Scenario::Delayed(a) => {
                check_children(a.children, 1)?;
                a.fate.check(a.children)?;
                check_duration("delay", a.delay)
            }
            Scenario::Never(a) | Scenario::CaughtNoWait(a) | Scenario::Blocked(a) => {
                check_children(a.children, 1)?;
                a.fate.check(a.children)?;
                check_duration("hold", a.hold)
            }
            Scenario::Ignore(a) | Scenario::Nocldwait(a) => {
                check_children(a.children, 1)?;
                a.fate.check(a.children)?;
                check_duration("hold", a.hold)
            }
            Scenario::Orphan(a) => {
                check_children(a.children, 1)?;
                a.fate.check(a.children)?;
                check_duration("delay", a.delay)?;
                check_duration("reap-delay", a.reap_delay)
            }
            Scenario::ThreadedLeader(a) => {
                check_children(a.children, 2)?;
                a.fate.check(a.children)?;
                check_duration("delay", a.delay)?;
                check_duration("reap-delay", a.reap_delay)
            }
            Scenario::Wnowait(a) => {
                check_children(a.children, 1)?;
                a.fate.check(a.children)?;
                check_duration("delay", a.delay)?;
                ensure!(
                    a.peek_every >= Duration::from_micros(100)
                        && a.peek_every <= Duration::from_secs(1),
                    "--peek-every must be between 100us and 1s"
                );
                Ok(())
            }
            Scenario::ExecLeak(a) => {
                check_children(a.children, 1)?;
                a.fate.check(a.children)?;
                check_duration("delay", a.delay)?;
                check_duration("hold", a.hold)?;
                ensure!(
                    a.delay < a.hold,
                    "--delay must be shorter than --hold: the children must exit while `sleep` runs"
                );
                Ok(())
            }
            Scenario::IoUring(a) => {
                check_children(a.children, 1)?;
                a.fate.check(a.children)?;
                check_duration("delay", a.delay)
            }
            Scenario::Poll(a) => {
                check_children(a.children, 1)?;
                a.fate.check(a.children)?;
                ensure!(
                    a.poll >= Duration::from_micros(100) && a.poll <= Duration::from_secs(60),
                    "--poll must be between 100us and 1m"
                );
                Ok(())
            }
            Scenario::Contended(a) => {
                ensure!(
                    (1..=MAX_CONTENDED_CHILDREN).contains(&a.children),
                    "--children {} is out of range: 1..={MAX_CONTENDED_CHILDREN} (each costs a \
                     burst of a whole CPU)",
                    a.children
                );
                a.fate.check(1)?;
                ensure!(
                    a.burst >= Duration::from_millis(10) && a.burst <= MAX_BURST,
                    "--burst must be between 10ms and 500ms: the hog takes a whole CPU from \
                     everything else on it"
                );
                ensure!(
                    a.exit_at < a.burst,
                    "--exit-at must be shorter than --burst: the child exits during the burst"
                );
                Ok(())
            }
            Scenario::Handler(a) => {
                check_children(a.children, 1)?;
                a.fate.check(a.children)?;
                check_duration("block", a.block)
            }
            Scenario::Storm(a) => {
                ensure!(
                    (1..=MAX_PARENTS).contains(&a.parents),
                    "--parents {} is out of range: 1..={MAX_PARENTS} (2 cores here; more parallel \
                     parents only add scheduler noise)",
                    a.parents
                );
                if let Some(rate) = a.rate {
                    ensure!(
                        rate.is_finite() && rate > 0.0 && rate <= MAX_RATE,
                        "--rate {rate} is out of range: more than 0 and at most {MAX_RATE} exits/s \
                         (each fork+exit+reap costs tens of µs; beyond that it only churns pids)"
                    );
                }
                ensure!(!a.duration.is_zero(), "--duration must be more than 0");
                check_duration("duration", a.duration)?;
                check_duration("delay", a.delay)?;
                a.fate.check(a.parents)?;
                check_pid_room(u64::from(a.parents) * 2)
            }
        }
    }
}

/// Raises the soft open-files limit so a pidfd per child fits; refuses if it cannot.
pub fn ensure_fds(children: u32) -> anyhow::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is writable.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } < 0 {
        return Ok(());
    }
    let want = u64::from(children) * 2 + 64;
    if lim.rlim_cur < want {
        lim.rlim_cur = lim.rlim_max.min(want.max(4096));
        // SAFETY: `lim` is a valid rlimit no higher than the hard limit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
    // SAFETY: as above.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if lim.rlim_cur < want {
        bail!(
            "{children} children need about {want} open files (a pidfd each) but RLIMIT_NOFILE is {}",
            lim.rlim_cur
        );
    }
    Ok(())
}
