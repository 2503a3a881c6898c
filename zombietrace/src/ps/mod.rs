//! `zombietrace ps`: every zombie in /proc, grouped by the parent that holds it, each parent
//! diagnosed (the diagnosis library does the reading and the judging; this lists and renders).

mod render;

use std::{collections::BTreeMap, io::Write as _, process::ExitCode};

use serde::Serialize;

use crate::{
    clock::{boottime_ns, monotonic_ns},
    diagnose::{
        Facts, Users, exec_hint, facts, may_ptrace_read,
        scan::{FoundZombie, scan},
        schedclock::{self, SchedClock},
        verdict,
    },
    sys::{
        proc::{self, Status},
        wait_status::WaitStatus,
    },
};

/// List today's zombies and their parents, with why each parent is not reaping (no eBPF).
///
/// Every zombie (state Z) in /proc, grouped by parent; parents with the most zombies first,
/// then the oldest. For each parent: its command, user, state, where it sleeps, what it does
/// with SIGCHLD, whether it is traced or a container init, and a one-line verdict. No root
/// needed: what procfs hides from other users shows as unknown.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Print one JSON document (see docs/ps.md) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A zombie found in /proc, as `ps` shows it.
#[derive(Clone, Debug)]
pub struct Defunct {
    pub pid: u32,
    pub comm: String,
    pub ppid: u32,
    /// Its pid inside its own pid namespace, when that is not this reader's.
    pub nspid: Option<u32>,
    /// Since the process started: how long it has been a zombie is at most this.
    pub age_upper_bound_ns: u64,
    /// How long it has been a zombie, from the scheduler clock (see schedclock.rs).
    pub zombie_ns: Option<u64>,
    /// Its wait status, when this reader may see it (procfs shows 0 otherwise).
    pub wait_status: Option<WaitStatus>,
    /// The CPU it last ran on, and its scheduler clock then.
    cpu: Option<u32>,
    exec_start: Option<u64>,
}

/// A parent holding zombies, diagnosed.
#[derive(Debug)]
pub struct Holder {
    pub pid: u32,
    /// Its facts, or why they could not be read.
    pub facts: Result<Facts, String>,
    pub zombies: Vec<Defunct>,
    pub verdict: String,
}

impl Holder {
    pub fn oldest_upper_bound_ns(&self) -> u64 {
        self.zombies
            .iter()
            .map(|z| z.age_upper_bound_ns)
            .max()
            .unwrap_or(0)
    }

    /// The oldest zombie age from the scheduler clock, when every zombie has one.
    pub fn oldest_zombie_ns(&self) -> Option<u64> {
        self.zombies
            .iter()
            .map(|z| z.zombie_ns)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }
}

#[derive(Debug, Serialize)]
pub struct Listing {
    /// Most zombies first, then the oldest.
    pub parents: Vec<Holder>,
    pub zombies: usize,
}

pub fn run(args: PsArgs) -> anyhow::Result<ExitCode> {
    let listing = collect();
    let text = if args.json {
        render::json(&listing)
    } else {
        render::text(&listing)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Scans /proc for zombies and diagnoses their parents.
pub fn collect() -> Listing {
    let users = Users::load();
    let me = proc::own_status().ok();
    let now_boot = boottime_ns();
    let mut by_parent: BTreeMap<u32, Vec<Defunct>> = BTreeMap::new();
    for found in scan().zombies {
        let z = defunct(found, me.as_ref(), now_boot);
        by_parent.entry(z.ppid).or_default().push(z);
    }
    let cpus = by_parent.values().flatten().filter_map(|z| z.cpu);
    let clock = SchedClock::calibrate(cpus.collect::<Vec<_>>());
    let now_mono = monotonic_ns();
    let mut parents = Vec::new();
    let mut total = 0;
    for (ppid, mut zombies) in by_parent {
        for z in &mut zombies {
            z.zombie_ns = z
                .cpu
                .zip(z.exec_start)
                .and_then(|(cpu, start)| clock.ago_ns(cpu, start, now_mono))
                .map(|ns| ns.min(z.age_upper_bound_ns));
        }
        zombies.sort_by_key(|z| (std::cmp::Reverse(z.age_upper_bound_ns), z.pid));
        total += zombies.len();
        parents.push(holder(ppid, zombies, &users, now_boot));
    }
    parents.sort_by_key(|p| {
        (
            std::cmp::Reverse(p.zombies.len()),
            std::cmp::Reverse(p.oldest_upper_bound_ns()),
            p.pid,
        )
    });
    Listing {
        parents,
        zombies: total,
    }
}

fn holder(pid: u32, zombies: Vec<Defunct>, users: &Users, now_boot: u64) -> Holder {
    let mut p = Holder {
        pid,
        facts: Err(String::new()),
        zombies,
        verdict: String::new(),
    };
    if pid == 0 {
        p.facts = Err("the parent is outside this pid namespace".into());
        p.verdict = "their parent is outside this pid namespace (ppid 0): run zombietrace ps \
                     where it is visible (e.g. on the host) to see why it does not reap."
            .into();
        return p;
    }
    match facts(pid, users, now_boot) {
        Ok(f) => {
            let d = &f.diagnosis;
            let mut line = verdict(d, p.zombies.len(), p.oldest_zombie_ns().unwrap_or(0));
            let comms: Vec<&str> = p.zombies.iter().map(|z| z.comm.as_str()).collect();
            if let Some(hint) = exec_hint(&d.comm, &comms) {
                line = format!("{line} {hint}");
            }
            p.verdict = line;
            p.facts = Ok(f);
        }
        Err(e) => {
            p.verdict = if e.is_gone() {
                format!(
                    "parent {pid} exited while being read: its zombies go to init (or a \
                     subreaper), which should reap them."
                )
            } else {
                format!("parent {pid} could not be read: {e}")
            };
            p.facts = Err(e.to_string());
        }
    }
    p
}

fn defunct(found: FoundZombie, me: Option<&Status>, now_boot: u64) -> Defunct {
    let nspids = found.nspids();
    let visible = match (me, &found.status) {
        (Some(me), Some(st)) => may_ptrace_read(me, st),
        _ => false,
    };
    let stat = found.stat;
    Defunct {
        pid: stat.pid,
        comm: stat.comm,
        ppid: stat.ppid,
        nspid: (nspids.len() > 1).then(|| nspids[nspids.len() - 1]),
        age_upper_bound_ns: proc::age_ns(stat.start_ticks, now_boot),
        zombie_ns: None,
        wait_status: stat
            .exit_code
            .filter(|_| visible)
            .map(|st| WaitStatus(st as u32)),
        cpu: stat.processor,
        exec_start: schedclock::exec_start(stat.pid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_need_ptrace_read() {
        let me = Status {
            uids: [1000; 4],
            gids: [1000; 4],
            ..Status::default()
        };
        let same = me.clone();
        let root = Status::default();
        assert!(may_ptrace_read(&me, &same));
        assert!(!may_ptrace_read(&me, &root));
        let admin = Status {
            cap_eff: 1 << 19,
            ..me.clone()
        };
        assert!(may_ptrace_read(&admin, &root));
    }

    #[test]
    fn finds_its_own_zombie() {
        // SAFETY: the child only exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe { libc::_exit(7) };
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let listing = collect();
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        let me = std::process::id();
        let p = listing
            .parents
            .iter()
            .find(|p| p.pid == me)
            .expect("listed");
        let z = p
            .zombies
            .iter()
            .find(|z| z.pid == pid as u32)
            .expect("its zombie");
        assert_eq!(z.wait_status, Some(WaitStatus(7 << 8)));
        assert!(z.zombie_ns.unwrap_or(0) <= z.age_upper_bound_ns);
        assert!(p.facts.is_ok());
        assert!(!p.verdict.is_empty());
    }
}
