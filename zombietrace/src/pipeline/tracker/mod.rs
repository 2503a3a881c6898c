//! The lifecycle tracker: pairs each zombie with its release, per task, keyed by
//! (tgid, start time) so that pid reuse never joins two processes.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
};

use super::{
    Host,
    event::{Event, Reap, ReapCall, ReapKind, ReaperRole, Since, Zombie},
    filter::Filter,
    kernel_event::{KernelEvent, ZombieExit},
    phases::Phases,
};
use crate::sys::{cgroup::Cgroup, workload::classify};

mod releases;

/// How long after a task's free the books are closed when no wait call claimed it: a wait's
/// return can reach the ring buffer a little after the (RCU-delayed) free on another CPU.
pub const FREE_GRACE_NS: u64 = 50_000_000;

/// A zombie already present when tracing started, as procfs shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Existing {
    pub pid: u32,
    pub nspids: Vec<u32>,
    pub ppid: u32,
    pub comm: String,
    pub parent_comm: String,
    /// Its cgroup path, as /proc/<pid>/cgroup says.
    pub cgroup: Option<String>,
}

#[derive(Debug)]
struct Open {
    zombie: Zombie,
    /// Identity: start time (0 for zombies found in procfs).
    start_ns: u64,
    nspids: Vec<u32>,
    /// Adopted by a new parent (seen in a reparent notification, or adopted before it died).
    reparented: bool,
    freed_at: Option<u64>,
    announced: bool,
    /// The ptracer told of its exit, until it collects it; then when it did.
    tracer: Option<u32>,
    traced_until: Option<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub zombies: u64,
    pub reaps: BTreeMap<ReapKind, u64>,
    /// Wait returns that named no zombie we track (filtered out, or exited before tracing).
    pub unmatched_waits: u64,
    /// Zombies whose release was never seen (a newer process took their pid): events lost.
    pub vanished: u64,
}

pub struct Tracker {
    filter: Filter,
    /// Zombies are announced once they have waited this long (0: at once).
    announce_after_ns: u64,
    open: HashMap<u32, Open>,
    /// (namespace level ≥ 1, pid there) → tgids, for wait calls made inside pid namespaces.
    by_ns: HashMap<(u32, u32), Vec<u32>>,
    freed: VecDeque<(u32, u64)>,
    unannounced: VecDeque<(u32, u64)>,
    stats: Stats,
}

impl Tracker {
    pub fn new(filter: Filter, announce_after_ns: u64) -> Self {
        Tracker {
            filter,
            announce_after_ns,
            open: HashMap::new(),
            by_ns: HashMap::new(),
            freed: VecDeque::new(),
            unannounced: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// How many zombies are not yet released.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// When the oldest zombie not yet released became one.
    pub fn oldest_ts(&self) -> Option<u64> {
        self.open.values().map(|o| o.zombie.ts_ns).min()
    }

    /// Zombies not yet released, oldest first.
    pub fn outstanding(&self) -> Vec<&Zombie> {
        let mut all: Vec<&Zombie> = self.open.values().map(|o| &o.zombie).collect();
        all.sort_by_key(|z| (z.ts_ns, z.pid));
        all
    }

    /// Follows one kernel event; what it completes goes to `out`. `host` says what kind of
    /// reaper a process is.
    pub fn handle(&mut self, event: KernelEvent, host: &dyn Host, out: &mut Vec<Event>) {
        match event {
            KernelEvent::Zombie(z) => self.on_zombie(z, host, out),
            KernelEvent::Reparent(r) => self.on_reparent(r, host, out),
            KernelEvent::Wait(w) => self.on_wait(w, host, out),
            KernelEvent::Free(f) => {
                if let Some(open) = self.open.get_mut(&f.tgid)
                    && (open.start_ns == f.start_ns || open.zombie.since == Since::TracingStart)
                    && open.freed_at.is_none()
                {
                    open.freed_at = Some(f.ts_ns);
                    self.freed.push_back((f.tgid, f.ts_ns));
                }
            }
            KernelEvent::ThreadExit(t) => self.on_thread_exit(t, out),
        }
    }

    /// Adopts a zombie that existed before tracing started.
    pub fn adopt(&mut self, existing: Existing, now_ns: u64, out: &mut Vec<Event>) {
        let zombie = Zombie {
            pid: existing.pid,
            nspid: own_nspid(&existing.nspids),
            ppid: existing.ppid,
            parent_start_ns: None,
            comm: existing.comm,
            parent_comm: existing.parent_comm,
            status: Default::default(),
            start_ns: None,
            ts_ns: now_ns,
            since: Since::TracingStart,
            cgroup: existing.cgroup.map(|path| {
                Arc::new(Cgroup {
                    id: 0,
                    workload: classify(&path),
                    path: Some(path),
                })
            }),
            parent_cgroup: None,
        };
        if self.filter.wants(&zombie, None) {
            self.insert(zombie, 0, existing.nspids, false, out);
        }
    }

    fn on_zombie(&mut self, z: ZombieExit, host: &dyn Host, out: &mut Vec<Event>) {
        let zombie = Zombie {
            pid: z.tgid,
            nspid: own_nspid(&z.nspids),
            ppid: z.ppid,
            parent_start_ns: Some(z.parent_start_ns),
            comm: z.comm,
            parent_comm: z.parent_comm,
            status: z.status,
            start_ns: Some(z.start_ns),
            ts_ns: z.ts_ns,
            since: if z.silent {
                Since::ExitStart
            } else {
                Since::Notified
            },
            cgroup: z.cgroup_id.map(|id| host.cgroup(id)),
            parent_cgroup: z.parent_cgroup_id.map(|id| host.cgroup(id)),
        };
        if !self.filter.wants(&zombie, z.orig_ppid) {
            return;
        }
        if let Some(old) = self.remove(z.tgid)
            && old.start_ns != z.start_ns
        {
            self.stats.vanished += 1;
        }
        let adopted = z.orig_ppid.is_some_and(|orig| orig != z.ppid);
        match z.autoreap {
            Some(_) => {
                self.stats.zombies += 1;
                if self.announce_after_ns == 0 {
                    out.push(Event::Zombie(zombie.clone()));
                }
                let kind = if adopted {
                    ReapKind::Reparented
                } else {
                    ReapKind::Autoreap
                };
                let role = adopted.then(|| host.role(zombie.ppid));
                let release = Release {
                    phases: None,
                    ts_ns: z.ts_ns,
                    reaper_pid: zombie.ppid,
                    reaper_comm: zombie.parent_comm.clone(),
                    kind,
                    call: Some(ReapCall::Autoreap),
                    role,
                    approx: false,
                };
                self.record_reap(zombie, release, out);
            }
            None => {
                self.insert(zombie, z.start_ns, z.nspids, adopted, out);
                if let Some(open) = self.open.get_mut(&z.tgid) {
                    open.tracer = z.tracer;
                }
            }
        }
    }

    /// Periodic work at CLOCK_MONOTONIC `now_ns`: closes the books on zombies freed without a
    /// wait call we saw, and announces zombies that have now waited long enough.
    pub fn tick(&mut self, now_ns: u64, host: &dyn Host, out: &mut Vec<Event>) {
        while let Some(&(tgid, freed_at)) = self.freed.front() {
            if now_ns < freed_at + FREE_GRACE_NS {
                break;
            }
            self.freed.pop_front();
            let still_ours = self
                .open
                .get(&tgid)
                .is_some_and(|o| o.freed_at == Some(freed_at));
            if !still_ours {
                continue;
            }
            let open = self.remove(tgid).expect("present");
            // Without a reparent notification there is no sign of adoption: a release that no
            // wait call showed (io_uring's IORING_OP_WAITID on a kernel whose io_uring programs
            // are not attached), or adoption by a new parent that ignores SIGCHLD (which is sent
            // no notification), is a `kernel` release.
            let (kind, role) = if open.reparented {
                (ReapKind::Reparented, Some(host.role(open.zombie.ppid)))
            } else {
                (ReapKind::Kernel, None)
            };
            let release = Release {
                phases: None,
                ts_ns: freed_at,
                reaper_pid: open.zombie.ppid,
                reaper_comm: open.zombie.parent_comm.clone(),
                kind,
                call: None,
                role,
                approx: true,
            };
            self.record_reap(open.zombie, release, out);
        }
        while let Some(&(tgid, ts)) = self.unannounced.front() {
            if now_ns < ts + self.announce_after_ns {
                break;
            }
            self.unannounced.pop_front();
            if let Some(open) = self.open.get_mut(&tgid)
                && open.zombie.ts_ns == ts
                && !open.announced
            {
                open.announced = true;
                out.push(Event::Zombie(open.zombie.clone()));
            }
        }
    }

    fn insert(
        &mut self,
        zombie: Zombie,
        start_ns: u64,
        nspids: Vec<u32>,
        adopted: bool,
        out: &mut Vec<Event>,
    ) {
        self.stats.zombies += 1;
        let tgid = zombie.pid;
        let announced = self.announce_after_ns == 0;
        if announced {
            out.push(Event::Zombie(zombie.clone()));
        } else {
            self.unannounced.push_back((tgid, zombie.ts_ns));
        }
        for (level, &nr) in nspids.iter().enumerate().skip(1) {
            self.by_ns.entry((level as u32, nr)).or_default().push(tgid);
        }
        self.open.insert(
            tgid,
            Open {
                zombie,
                start_ns,
                nspids,
                reparented: adopted,
                freed_at: None,
                announced,
                tracer: None,
                traced_until: None,
            },
        );
    }

    fn remove(&mut self, tgid: u32) -> Option<Open> {
        let open = self.open.remove(&tgid)?;
        for (level, &nr) in open.nspids.iter().enumerate().skip(1) {
            let key = (level as u32, nr);
            if let Some(list) = self.by_ns.get_mut(&key) {
                list.retain(|&t| t != tgid);
                if list.is_empty() {
                    self.by_ns.remove(&key);
                }
            }
        }
        Some(open)
    }

    /// The zombie a parent `parent` (or its ptracer) names as `pid` in its namespace at
    /// `level`. Pid namespaces at one level share numbers (every container has its pid 7): a
    /// zombie of another parent there is never the one meant, even when it is the only one
    /// tracked (under a filter, the one meant may not be).
    fn find(&self, parent: u32, level: u32, pid: u32) -> Option<u32> {
        if pid == 0 {
            return None;
        }
        if level == 0 {
            return self.open.contains_key(&pid).then_some(pid);
        }
        self.by_ns.get(&(level, pid))?.iter().copied().find(|t| {
            let open = &self.open[t];
            open.zombie.ppid == parent || open.tracer == Some(parent)
        })
    }

    fn record_reap(&mut self, zombie: Zombie, release: Release, out: &mut Vec<Event>) {
        *self.stats.reaps.entry(release.kind).or_default() += 1;
        // A zombie time measured from an approximate start is approximate too (an autoreap's
        // zombie time is zero by definition).
        let approx = release.approx
            || (zombie.since != Since::Notified && release.kind != ReapKind::Autoreap);
        out.push(Event::Reap(Reap {
            zombie_ns: release.ts_ns.saturating_sub(zombie.ts_ns),
            zombie,
            ts_ns: release.ts_ns,
            reaper_pid: release.reaper_pid,
            reaper_comm: release.reaper_comm,
            kind: release.kind,
            call: release.call,
            reaper_role: release.role,
            approx,
            phases: release.phases.unwrap_or_default(),
        }));
    }
}

/// How, when and by whom a zombie was released.
struct Release {
    /// Its phases, for a release by a wait call.
    phases: Option<Phases>,
    ts_ns: u64,
    reaper_pid: u32,
    reaper_comm: String,
    kind: ReapKind,
    call: Option<ReapCall>,
    role: Option<ReaperRole>,
    approx: bool,
}

/// The pid inside the task's own namespace, when it is not the initial one.
fn own_nspid(nspids: &[u32]) -> Option<u32> {
    (nspids.len() > 1).then(|| nspids[nspids.len() - 1])
}

#[cfg(test)]
mod ns_tests;
#[cfg(test)]
mod tests;
