//! What procfs shows when tracing starts: every process's parent (seeds the kernel's
//! first-parent map) and the zombies that already exist.

use std::collections::HashMap;

use crate::{record::ReaperRole, tracker::Existing};

pub struct Snapshot {
    /// (pid, ppid) of every process.
    pub parents: Vec<(u32, u32)>,
    pub zombies: Vec<Existing>,
}

pub fn snapshot() -> Snapshot {
    let mut parents = Vec::new();
    let mut comms = HashMap::new();
    let mut zombies = Vec::new();
    let Ok(all) = procfs::process::all_processes() else {
        return Snapshot { parents, zombies };
    };
    for process in all.flatten() {
        // A process may exit while we read it: skip what vanished.
        let Ok(stat) = process.stat() else { continue };
        let (pid, ppid) = (stat.pid as u32, stat.ppid as u32);
        parents.push((pid, ppid));
        comms.insert(pid, stat.comm.clone());
        if stat.state == 'Z' {
            let nspids = process
                .status()
                .ok()
                .and_then(|s| s.nspid)
                .map(|v| v.into_iter().map(|p| p as u32).collect())
                .unwrap_or_else(|| vec![pid]);
            zombies.push(Existing {
                pid,
                nspids,
                ppid,
                comm: stat.comm,
                parent_comm: String::new(),
            });
        }
    }
    for zombie in &mut zombies {
        zombie.parent_comm = comms.get(&zombie.ppid).cloned().unwrap_or_default();
    }
    Snapshot { parents, zombies }
}

/// What kind of reaper `pid` is: init, a pid namespace's init, or a subreaper.
pub fn reaper_role(pid: u32) -> ReaperRole {
    if pid == 1 {
        return ReaperRole::Init;
    }
    let nspid_last = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.status())
        .ok()
        .and_then(|s| s.nspid)
        .and_then(|v| v.last().copied());
    if nspid_last == Some(1) {
        ReaperRole::NamespaceInit
    } else {
        ReaperRole::Subreaper
    }
}

/// Whether a process with this pid exists.
pub fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
