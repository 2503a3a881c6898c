//! The user's filters (`--pid`, `--ppid`, `--comm`, `--min-zombie`), applied in userspace too:
//! the kernel pre-filters zombie events, this decides what is tracked and what is shown.

use super::event::{Event, Zombie};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub comm: Option<String>,
    /// Only reaps that waited at least this long (and zombies once they have).
    pub min_zombie_ns: u64,
    /// Only zombies in this cgroup (v2 path) or below it. The kernel checks the ones it
    /// reports; this checks the rest (those found in procfs), by path.
    pub cgroup: Option<String>,
}

impl Filter {
    /// Whether to track this zombie (`orig_ppid`: the parent that forked it, if known).
    pub fn wants(&self, zombie: &Zombie, orig_ppid: Option<u32>) -> bool {
        if self.pid.is_some_and(|pid| pid != zombie.pid) {
            return false;
        }
        if let Some(ppid) = self.ppid
            && ppid != zombie.ppid
            && orig_ppid != Some(ppid)
        {
            return false;
        }
        if let Some(comm) = &self.comm
            && *comm != zombie.comm
            && *comm != zombie.parent_comm
        {
            return false;
        }
        if let Some(within) = &self.cgroup
            && let Some(path) = zombie.cgroup.as_ref().and_then(|c| c.path.as_deref())
            && !(path == within
                || path
                    .strip_prefix(within.as_str())
                    .is_some_and(|rest| rest.starts_with('/') || within == "/"))
        {
            return false;
        }
        true
    }

    /// Whether to print this event.
    pub fn shows(&self, event: &Event) -> bool {
        match event {
            Event::Reap(reap) => reap.zombie_ns >= self.min_zombie_ns,
            Event::Zombie(_)
            | Event::Lost(_)
            | Event::Leak(_)
            | Event::LeakEnd(_)
            | Event::ParentGone(_)
            | Event::Adopted(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::event::Since;

    fn zombie(pid: u32, ppid: u32, comm: &str, parent_comm: &str) -> Zombie {
        Zombie {
            pid,
            nspid: None,
            ppid,
            parent_start_ns: None,
            comm: comm.into(),
            parent_comm: parent_comm.into(),
            status: Default::default(),
            start_ns: Some(1),
            ts_ns: 1,
            since: Since::Notified,
            cgroup: None,
            parent_cgroup: None,
        }
    }

    #[test]
    fn matches_child_or_parent() {
        let f = Filter {
            comm: Some("python3".into()),
            ..Default::default()
        };
        assert!(f.wants(&zombie(1, 2, "python3", "bash"), None));
        assert!(f.wants(&zombie(1, 2, "sleep", "python3"), None));
        assert!(!f.wants(&zombie(1, 2, "sleep", "bash"), None));
        let f = Filter {
            ppid: Some(7),
            ..Default::default()
        };
        assert!(f.wants(&zombie(1, 7, "a", "b"), None));
        assert!(
            f.wants(&zombie(1, 1, "a", "b"), Some(7)),
            "original parent counts"
        );
        assert!(!f.wants(&zombie(1, 1, "a", "b"), Some(8)));
        let f = Filter {
            pid: Some(5),
            ..Default::default()
        };
        assert!(f.wants(&zombie(5, 1, "a", "b"), None));
        assert!(!f.wants(&zombie(6, 1, "a", "b"), None));
    }
}
