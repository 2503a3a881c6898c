//! `zombietrace ps`: every zombie in /proc, grouped by parent, each parent diagnosed.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;

use super::diagnosis::{Facts, facts};
use super::procinfo::{self, Status, Users};
use super::schedclock::{self, SchedClock};
use super::verdict::{exec_hint, verdict};
use super::{PsArgs, render};

/// A zombie found in /proc.
#[derive(Clone, Debug)]
pub struct Zombie {
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
    pub wait_status: Option<i32>,
    /// The CPU it last ran on, and its scheduler clock then.
    cpu: Option<u32>,
    exec_start: Option<u64>,
}

/// A parent of zombies, diagnosed.
#[derive(Debug)]
pub struct Parent {
    pub pid: u32,
    /// Its facts, or why they could not be read.
    pub facts: Result<Facts, String>,
    pub zombies: Vec<Zombie>,
    pub verdict: String,
}

impl Parent {
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

#[derive(Debug)]
pub struct Report {
    /// Most zombies first, then the oldest.
    pub parents: Vec<Parent>,
    pub zombies: usize,
}

pub fn run(args: PsArgs) -> anyhow::Result<ExitCode> {
    let report = collect();
    let text = if args.json {
        render::json(&report)
    } else {
        render::text(&report)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Scans /proc for zombies and diagnoses their parents.
pub fn collect() -> Report {
    let users = Users::load();
    let me = procinfo::read(std::process::id(), "status")
        .ok()
        .and_then(|t| procinfo::parse_status(&t).ok());
    let now_boot = procinfo::boottime_ns();
    let mut by_parent: BTreeMap<u32, Vec<Zombie>> = BTreeMap::new();
    for pid in pids() {
        if let Some(z) = zombie(pid, me.as_ref(), now_boot) {
            by_parent.entry(z.ppid).or_default().push(z);
        }
    }
    let cpus = by_parent.values().flatten().filter_map(|z| z.cpu);
    let clock = SchedClock::calibrate(cpus.collect::<Vec<_>>());
    let now_mono = procinfo::monotonic_ns();
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
        parents.push(parent(ppid, zombies, &users, now_boot));
    }
    parents.sort_by_key(|p| {
        (
            std::cmp::Reverse(p.zombies.len()),
            std::cmp::Reverse(p.oldest_upper_bound_ns()),
            p.pid,
        )
    });
    Report {
        parents,
        zombies: total,
    }
}

fn parent(pid: u32, zombies: Vec<Zombie>, users: &Users, now_boot: u64) -> Parent {
    let mut p = Parent {
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
            let e = format!("{e:#}");
            p.verdict = if e.contains("is gone") {
                format!(
                    "parent {pid} exited while being read: its zombies go to init (or a \
                     subreaper), which should reap them."
                )
            } else {
                format!("parent {pid} could not be read: {e}")
            };
            p.facts = Err(e);
        }
    }
    p
}

/// The numeric entries of /proc: every process (thread group) this reader can see.
fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// `pid` if it is a zombie: state Z and no thread left. A thread-group leader that exited
/// while other threads run also shows Z, but it is not waitable yet: not a zombie to reap.
fn zombie(pid: u32, me: Option<&Status>, now_boot: u64) -> Option<Zombie> {
    let stat = procinfo::parse_stat(&procinfo::read(pid, "stat").ok()?).ok()?;
    if stat.state != 'Z' {
        return None;
    }
    let status = procinfo::read(pid, "status")
        .ok()
        .and_then(|t| procinfo::parse_status(&t).ok());
    if status.as_ref().is_some_and(|s| s.threads > 1) {
        return None;
    }
    let visible = match (me, &status) {
        (Some(me), Some(st)) => may_read_exit_code(me, st),
        _ => false,
    };
    Some(Zombie {
        pid,
        comm: stat.comm,
        ppid: stat.ppid,
        nspid: status
            .as_ref()
            .filter(|s| s.nspid.len() > 1)
            .and_then(|s| s.nspid.last().copied()),
        age_upper_bound_ns: procinfo::age_ns(stat.start_ticks, now_boot),
        zombie_ns: None,
        wait_status: stat.exit_code.filter(|_| visible),
        cpu: stat.processor,
        exec_start: schedclock::exec_start(pid),
    })
}

/// Whether procfs shows this reader the exit code in stat (it needs ptrace-read access: the
/// same uids and gids, or CAP_SYS_PTRACE; a zombie has no memory left to make it undumpable).
fn may_read_exit_code(me: &Status, target: &Status) -> bool {
    const CAP_SYS_PTRACE: u64 = 1 << 19;
    if me.cap_eff & CAP_SYS_PTRACE != 0 {
        return true;
    }
    let (uid, gid) = (me.uids[3], me.gids[3]);
    target.uids[..3].iter().all(|&u| u == uid) && target.gids[..3].iter().all(|&g| g == gid)
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
        assert!(may_read_exit_code(&me, &same));
        assert!(!may_read_exit_code(&me, &root));
        let admin = Status {
            cap_eff: 1 << 19,
            ..me.clone()
        };
        assert!(may_read_exit_code(&admin, &root));
    }

    #[test]
    fn finds_its_own_zombie() {
        // SAFETY: the child only exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe { libc::_exit(7) };
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let report = collect();
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        let me = std::process::id();
        let p = report.parents.iter().find(|p| p.pid == me).expect("listed");
        let z = p
            .zombies
            .iter()
            .find(|z| z.pid == pid as u32)
            .expect("its zombie");
        assert_eq!(z.wait_status, Some(7 << 8));
        assert!(z.zombie_ns.unwrap_or(0) <= z.age_upper_bound_ns);
        assert!(p.facts.is_ok());
        assert!(!p.verdict.is_empty());
    }
}
