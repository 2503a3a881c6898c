//! One pass over /proc: every process this reader can see, and the zombies among them. The
//! tracer seeds its kernel maps and adopts the zombies that exist when it starts from it;
//! `zombietrace ps` lists the zombies.

use crate::sys::proc::{self, Stat, Status};

/// A zombie found in /proc.
#[derive(Clone, Debug)]
pub struct FoundZombie {
    pub stat: Stat,
    /// Its status, when procfs gave it (for its namespace pids).
    pub status: Option<Status>,
    /// Its cgroup path (the v2 one, else a v1 hierarchy's).
    pub cgroup: Option<String>,
}

impl FoundZombie {
    /// Its pid in each pid namespace, outermost first.
    pub fn nspids(&self) -> Vec<u32> {
        self.status
            .as_ref()
            .map(|s| s.nspid.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| vec![self.stat.pid])
    }
}

pub struct Scan {
    /// Every process (thread group), in pid order.
    pub processes: Vec<Stat>,
    pub zombies: Vec<FoundZombie>,
}

impl Scan {
    /// The command name of `pid`, if it was seen.
    pub fn comm_of(&self, pid: u32) -> Option<&str> {
        let i = self.processes.binary_search_by_key(&pid, |p| p.pid).ok()?;
        Some(&self.processes[i].comm)
    }
}

/// Reads every process's `stat`, and the `status` of those in state Z. A process that exits
/// meanwhile is left out; one whose name is not UTF-8 is not.
pub fn scan() -> Scan {
    let mut processes = Vec::new();
    let mut zombies = Vec::new();
    for pid in proc::pids() {
        let Ok(stat) = proc::stat(pid) else { continue };
        if stat.state == 'Z' {
            let status = proc::status(pid, None).ok();
            // A leader that exited while other threads run also shows Z, but it is not
            // waitable yet: not a zombie to reap.
            if status.as_ref().is_none_or(|s| s.threads <= 1) {
                zombies.push(FoundZombie {
                    stat: stat.clone(),
                    status,
                    cgroup: proc::cgroup_paths(pid).into_iter().next(),
                });
            }
        }
        processes.push(stat);
    }
    Scan { processes, zombies }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_own_zombie() {
        // SAFETY: the child only exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe { libc::_exit(7) };
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let scan = scan();
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        let z = scan
            .zombies
            .iter()
            .find(|z| z.stat.pid == pid as u32)
            .expect("its zombie");
        assert_eq!(z.stat.ppid, std::process::id());
        assert_eq!(z.nspids().first(), Some(&(pid as u32)));
        assert!(scan.comm_of(std::process::id()).is_some());
    }
}
