//! The facts about one (parent) process that explain why it is or is not reaping.

use serde::{Deserialize, Serialize};

use super::sigchld::{self, Sigchld};
use super::users::Users;
use crate::{
    clock::boottime_ns,
    sys::{
        proc::{self, ProcError, Stat, Status},
        workload::{self, Workload},
    },
};

/// What procfs says about a process, for judging why it does not reap its children.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub pid: u32,
    pub comm: String,
    /// Its arguments joined by spaces; empty when unreadable.
    pub cmdline: String,
    /// The name of its real uid ("1000" when /etc/passwd has none).
    pub user: String,
    /// The state letter: R, S, D, T, t, Z, …
    pub state: char,
    pub state_text: String,
    /// The kernel function it sleeps in; None when running, or hidden (not root, not ours).
    pub wchan: Option<String>,
    /// It sleeps, but where is not shown to this reader (no ptrace-read access to it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wchan_hidden: bool,
    pub threads: u32,
    /// Since the process started (fork, not exec).
    pub age_ns: u64,
    pub sigchld: Sigchld,
    /// SIGCHLD is blocked in at least one of its threads.
    pub sigchld_blocked: bool,
    /// Stopped by a tracer (state 't') or attached by one (TracerPid ≠ 0).
    pub traced: bool,
    /// Its cgroup v2 path (`/system.slice/…`), or the first line of /proc/<pid>/cgroup (v1).
    pub cgroup: Option<String>,
    /// Where it lives (unit, container, pod), from its v2 cgroup path, else from a v1 one.
    #[serde(default)]
    pub workload: Option<Workload>,
    /// PID 1 of a pid namespace other than the reader's (a container's init).
    pub ns_init: bool,
    /// Its pid inside its innermost pid namespace, when that is not the reader's.
    pub nspid: Option<u32>,
}

/// A diagnosis and the extra facts `zombietrace ps` shows.
#[derive(Clone, Debug)]
pub struct Facts {
    pub diagnosis: Diagnosis,
    pub ppid: u32,
    pub tracer_pid: Option<u32>,
    /// How many of its threads block SIGCHLD (out of `diagnosis.threads`).
    pub blocked_threads: u32,
    /// The audit login user, when set and not the same as `user`.
    pub login_user: Option<String>,
}

/// What procfs says about `pid` now. Fails with [`ProcError::Gone`] when it has exited.
pub fn diagnose(pid: u32) -> Result<Diagnosis, ProcError> {
    Ok(facts(pid, &Users::load(), boottime_ns())?.diagnosis)
}

/// Reads every fact about `pid`. Only stat and status are required: the rest (wchan,
/// cmdline, cgroup, other threads) is what procfs may hide or lose, and shows as unknown.
pub fn facts(pid: u32, users: &Users, now_boottime_ns: u64) -> Result<Facts, ProcError> {
    let stat = proc::stat(pid)?;
    let status = proc::status(pid, None)?;
    let wchan = proc::wchan(pid);
    let cmdline = proc::cmdline(pid).unwrap_or_default();
    let cgroup = proc::cgroup(pid);
    let workload = proc::cgroup_paths(pid)
        .iter()
        .find_map(|path| workload::classify(path));
    let loginuid = proc::loginuid(pid);
    let blocked_threads = blocked_threads(pid, &status);
    let readable = proc::own_status().is_ok_and(|me| may_ptrace_read(&me, &status));
    Ok(assemble(
        &stat,
        &status,
        Extra {
            wchan,
            cmdline,
            cgroup,
            workload,
            loginuid,
            blocked_threads,
            readable,
        },
        users,
        now_boottime_ns,
    ))
}

/// The parts of a diagnosis read from files other than stat and status.
#[derive(Debug, Default)]
pub struct Extra {
    pub wchan: Option<String>,
    pub cmdline: String,
    pub cgroup: Option<String>,
    pub workload: Option<Workload>,
    pub loginuid: Option<u32>,
    pub blocked_threads: u32,
    /// This reader may ptrace-read the process (see `may_ptrace_read`).
    pub readable: bool,
}

/// Builds the facts from parsed procfs texts.
pub fn assemble(
    stat: &Stat,
    status: &Status,
    extra: Extra,
    users: &Users,
    now_boottime_ns: u64,
) -> Facts {
    let user = users.name(status.uids[0]);
    let nested = status.nspid.len() > 1;
    let inner = status.nspid.last().copied();
    let state = stat.state;
    let state_text = if status.state == state && !status.state_text.is_empty() {
        status.state_text.clone()
    } else {
        proc::state_text(state).to_string()
    };
    let diagnosis = Diagnosis {
        pid: stat.pid,
        comm: stat.comm.clone(),
        cmdline: extra.cmdline,
        state,
        state_text,
        wchan_hidden: extra.wchan.is_none() && matches!(state, 'S' | 'D') && !extra.readable,
        wchan: extra.wchan,
        threads: status.threads,
        age_ns: proc::age_ns(stat.start_ticks, now_boottime_ns),
        sigchld: sigchld::disposition(status.sigign, status.sigcgt),
        sigchld_blocked: extra.blocked_threads > 0 || sigchld::blocked(status.sigblk),
        traced: state == 't' || status.tracer_pid != 0,
        cgroup: extra.cgroup,
        workload: extra.workload,
        ns_init: nested && inner == Some(1),
        nspid: if nested { inner } else { None },
        user: user.clone(),
    };
    let login_user = extra
        .loginuid
        .map(|uid| users.name(uid))
        .filter(|name| *name != user);
    Facts {
        diagnosis,
        ppid: stat.ppid,
        tracer_pid: (status.tracer_pid != 0).then_some(status.tracer_pid),
        blocked_threads: extra
            .blocked_threads
            .max(sigchld::blocked(status.sigblk) as u32),
        login_user,
    }
}

/// Whether procfs shows `me` what needs ptrace-read access to `target` (where it sleeps, the
/// exit code in stat): the same uids and gids, or CAP_SYS_PTRACE.
pub fn may_ptrace_read(me: &Status, target: &Status) -> bool {
    const CAP_SYS_PTRACE: u64 = 1 << 19;
    if me.cap_eff & CAP_SYS_PTRACE != 0 {
        return true;
    }
    let (uid, gid) = (me.uids[3], me.gids[3]);
    target.uids[..3].iter().all(|&u| u == uid) && target.gids[..3].iter().all(|&g| g == gid)
}

/// How many threads have SIGCHLD in their `SigBlk` (the process's own status shows only the
/// main thread's mask). Threads that exit meanwhile are skipped; if the task list cannot be
/// read, the main thread's mask stands for all.
fn blocked_threads(pid: u32, main: &Status) -> u32 {
    let main_only = sigchld::blocked(main.sigblk) as u32;
    let count = proc::tasks(pid)
        .into_iter()
        .filter(|&tid| proc::status(pid, Some(tid)).is_ok_and(|st| sigchld::blocked(st.sigblk)))
        .count() as u32;
    count.max(main_only)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(state: char) -> Stat {
        Stat {
            pid: 9001,
            comm: "sleep".into(),
            state,
            ppid: 9000,
            start_ticks: 0,
            processor: Some(0),
            exit_code: Some(0),
        }
    }

    #[test]
    fn assembles_a_container_init() {
        let status = Status {
            state: 'S',
            state_text: "sleeping".into(),
            uids: [0; 4],
            nspid: vec![9001, 1],
            threads: 1,
            sigcgt: 0x10000,
            ..Status::default()
        };
        let users = Users::parse(b"root:x:0:0::/:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n");
        let f = assemble(
            &stat('S'),
            &status,
            Extra {
                loginuid: Some(1000),
                ..Extra::default()
            },
            &users,
            5_000_000_000,
        );
        let d = &f.diagnosis;
        assert!(d.ns_init);
        assert_eq!(d.nspid, Some(1));
        assert_eq!(
            (d.sigchld, d.sigchld_blocked, d.traced),
            (Sigchld::Caught, false, false)
        );
        assert_eq!(
            (d.user.as_str(), d.state_text.as_str()),
            ("root", "sleeping")
        );
        assert_eq!(f.login_user.as_deref(), Some("alice"));
        assert_eq!(d.age_ns, 5_000_000_000);
    }

    #[test]
    fn assembles_a_traced_blocked_process() {
        let status = Status {
            state: 't',
            state_text: "tracing stop".into(),
            tracer_pid: 77,
            uids: [1000; 4],
            nspid: vec![42],
            threads: 4,
            sigblk: 0x10000,
            ..Status::default()
        };
        let f = assemble(&stat('t'), &status, Extra::default(), &Users::default(), 0);
        let d = &f.diagnosis;
        assert!(!d.ns_init);
        assert_eq!(d.nspid, None);
        assert!(d.traced && d.sigchld_blocked);
        assert_eq!(d.sigchld, Sigchld::Default);
        assert_eq!(d.user, "1000");
        assert_eq!((f.tracer_pid, f.blocked_threads), (Some(77), 1));
        // A thread other than the main one blocks it.
        let f = assemble(
            &stat('S'),
            &Status {
                sigblk: 0,
                ..status
            },
            Extra {
                blocked_threads: 2,
                ..Extra::default()
            },
            &Users::default(),
            0,
        );
        assert!(f.diagnosis.sigchld_blocked);
        assert_eq!(f.diagnosis.state_text, "sleeping");
    }

    #[test]
    fn diagnoses_itself_and_fails_on_the_gone() {
        let me = std::process::id();
        let d = diagnose(me).unwrap();
        assert_eq!(d.pid, me);
        assert!(d.threads >= 1);
        let gone = diagnose(u32::MAX - 1).unwrap_err();
        assert!(
            gone.is_gone() && gone.to_string().contains("is gone"),
            "{gone}"
        );
    }
}
