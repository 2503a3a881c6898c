//! What procfs says about processes: the one reader and parser of each file, used by the
//! tracer, the diagnosis, `ps` and the spawner.
//!
//! Every read is bounded in size (a process controls how long its command line is) and tells
//! "the process is gone" apart from other failures. The `procfs` crate lists processes and reads
//! the kernel's settings; `stat`, `status`, `cmdline` and `cgroup` are parsed here from bytes
//! because the crate decodes `stat`'s command name lossily, fails on a `status` whose `Name` is
//! not UTF-8, and reads `cmdline` whole into a `String`: a process could hide behind any of them.

use std::{
    fmt,
    fs::File,
    io::{self, Read as _},
    path::{Path, PathBuf},
    sync::OnceLock,
};

use super::text::lossless;

/// At most this much is read of each file: past it the content is cut (and says so where a
/// person sees it).
pub mod limit {
    pub const STAT: u64 = 4 << 10;
    pub const STATUS: u64 = 64 << 10;
    pub const CMDLINE: u64 = 32 << 10;
    pub const CGROUP: u64 = 16 << 10;
    pub const SMALL: u64 = 256;
    pub const SCHED: u64 = 16 << 10;
}

#[derive(Debug)]
pub enum ProcError {
    /// The process (or thread) has exited and been released.
    Gone(u32),
    /// It exists, but /proc does not show it to this reader (`hidepid`).
    Hidden(u32),
    /// procfs did not answer in time (a process stuck holding its memory map's lock).
    Slow(u32, std::time::Duration),
    /// procfs refused (`hidepid`, another user's process).
    Denied(u32, &'static str),
    Io(u32, &'static str, io::Error),
    /// The file did not read as procfs writes it.
    Malformed(&'static str, String),
}

impl fmt::Display for ProcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcError::Gone(pid) => write!(f, "process {pid} is gone"),
            ProcError::Hidden(pid) => write!(
                f,
                "/proc hides process {pid} from this user (mounted with hidepid)"
            ),
            ProcError::Slow(pid, after) => {
                write!(f, "/proc/{pid} did not answer within {after:?}")
            }
            ProcError::Denied(pid, file) => {
                write!(f, "/proc/{pid}/{file}: permission denied")
            }
            ProcError::Io(pid, file, err) => write!(f, "reading /proc/{pid}/{file}: {err}"),
            ProcError::Malformed(file, why) => write!(f, "{file}: {why}"),
        }
    }
}

impl std::error::Error for ProcError {}

impl ProcError {
    pub fn is_gone(&self) -> bool {
        matches!(self, ProcError::Gone(_))
    }
}

fn malformed(file: &'static str, why: impl Into<String>) -> ProcError {
    ProcError::Malformed(file, why.into())
}

static ROOT: OnceLock<PathBuf> = OnceLock::new();

/// Reads other processes' files from `root` instead of /proc (`--proc-root`: the host's procfs
/// mounted elsewhere, in a container). Set once, before any read; later calls are ignored.
pub fn set_root(root: PathBuf) {
    let _ = ROOT.set(root);
}

/// Where other processes' files are read: /proc, or `--proc-root`.
pub fn root() -> &'static Path {
    ROOT.get().map_or(Path::new("/proc"), PathBuf::as_path)
}

/// Reads at most `max` bytes of `/proc/<pid>/<file>` (`task`: of that thread's directory).
pub fn read(
    pid: u32,
    task: Option<u32>,
    file: &'static str,
    max: u64,
) -> Result<Vec<u8>, ProcError> {
    let path = match task {
        Some(tid) => root().join(format!("{pid}/task/{tid}/{file}")),
        None => root().join(format!("{pid}/{file}")),
    };
    read_path(&path, pid, task, file, max)
}

/// This process's own status (from its own /proc, whatever `--proc-root` says).
pub fn own_status() -> Result<Status, ProcError> {
    let me = std::process::id();
    let raw = read_path(
        Path::new("/proc/self/status"),
        me,
        None,
        "status",
        limit::STATUS,
    )?;
    parse_status(&raw)
}

fn read_path(
    path: &Path,
    pid: u32,
    task: Option<u32>,
    file: &'static str,
    max: u64,
) -> Result<Vec<u8>, ProcError> {
    let mut buf = Vec::new();
    let result = File::open(path).and_then(|f| f.take(max).read_to_end(&mut buf));
    match result {
        Ok(_) => Ok(buf),
        Err(err) => Err(match err.raw_os_error() {
            Some(libc::ENOENT | libc::ESRCH) if exists(task.unwrap_or(pid)) => {
                ProcError::Hidden(pid)
            }
            Some(libc::ENOENT | libc::ESRCH) => ProcError::Gone(pid),
            Some(libc::EACCES | libc::EPERM) => ProcError::Denied(pid, file),
            _ => ProcError::Io(pid, file, err),
        }),
    }
}

/// The fields of /proc/<pid>/stat that matter here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    /// The command name (between the outer parentheses; may hold spaces or parentheses).
    pub comm: String,
    pub state: char,
    /// Parent's tgid; 0 when the parent is outside this pid namespace.
    pub ppid: u32,
    /// Field 22: start time in clock ticks since boot.
    pub start_ticks: u64,
    /// Field 39: the CPU it last ran on.
    pub processor: Option<u32>,
    /// Field 52: the wait status (for a zombie, what wait will return). Reads as 0 when the
    /// reader may not ptrace-read the process.
    pub exit_code: Option<i32>,
}

/// Parses /proc/<pid>/stat.
pub fn parse_stat(raw: &[u8]) -> Result<Stat, ProcError> {
    let open = raw
        .iter()
        .position(|&b| b == b'(')
        .ok_or(malformed("stat", "no `(`"))?;
    let close = raw
        .iter()
        .rposition(|&b| b == b')')
        .ok_or(malformed("stat", "no `)`"))?;
    if close < open {
        return Err(malformed("stat", "`)` before `(`"));
    }
    let number = |bytes: &[u8], what: &str| -> Result<u64, ProcError> {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| malformed("stat", format!("bad {what}")))
    };
    let pid = number(&raw[..open], "pid")? as u32;
    let comm = lossless(&raw[open + 1..close]);
    // Fields from 3 (state) on, all ASCII; field n is rest[n - 3].
    let rest = String::from_utf8_lossy(&raw[close + 1..]);
    let rest: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    let state = field(3)
        .and_then(|s| s.chars().next())
        .filter(char::is_ascii_alphabetic)
        .ok_or(malformed("stat", "no state letter"))?;
    let ppid = number(field(4).unwrap_or("").as_bytes(), "ppid")? as u32;
    let start_ticks = number(field(22).unwrap_or("").as_bytes(), "starttime")?;
    Ok(Stat {
        pid,
        comm,
        state,
        ppid,
        start_ticks,
        processor: field(39).and_then(|s| s.parse().ok()),
        exit_code: field(52).and_then(|s| s.parse().ok()),
    })
}

pub fn stat(pid: u32) -> Result<Stat, ProcError> {
    parse_stat(&read(pid, None, "stat", limit::STAT)?)
}

/// The fields of /proc/<pid>/status that matter here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub state: char,
    /// The text in parentheses after the state letter: "sleeping", "zombie", …
    pub state_text: String,
    pub tgid: u32,
    pub ppid: u32,
    pub tracer_pid: u32,
    /// Real, effective, saved and filesystem uid.
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    /// This pid in each pid namespace it is in, outermost (this reader's) first.
    pub nspid: Vec<u32>,
    pub threads: u32,
    pub sigblk: u64,
    pub sigign: u64,
    pub sigcgt: u64,
    pub cap_eff: u64,
}

/// Parses /proc/<pid>/status (or a thread's). State and the three signal sets are required;
/// the rest is taken when present, so that an older kernel's shorter file still reads. The
/// `Name` line is skipped (it may not be UTF-8; `stat` gives the name).
pub fn parse_status(raw: &[u8]) -> Result<Status, ProcError> {
    let mut st = Status::default();
    let (mut state, mut blk, mut ign, mut cgt) = (false, false, false, false);
    for line in raw.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let key = &line[..colon];
        if key == b"Name" {
            continue;
        }
        let Ok(value) = std::str::from_utf8(&line[colon + 1..]) else {
            continue;
        };
        let value = value.trim();
        let key = String::from_utf8_lossy(key);
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| malformed("status", format!("{key}: `{v}`")))
        };
        let mask = |v: &str| parse_mask(v).map_err(|e| malformed("status", format!("{key}: {e}")));
        match &*key {
            "State" => {
                st.state = value
                    .chars()
                    .next()
                    .filter(char::is_ascii_alphabetic)
                    .ok_or(malformed("status", "no State letter"))?;
                st.state_text = value
                    .split_once('(')
                    .map(|(_, t)| t.trim_end_matches(')').to_string())
                    .unwrap_or_default();
                state = true;
            }
            "Tgid" => st.tgid = num(value)?,
            "PPid" => st.ppid = num(value)?,
            "TracerPid" => st.tracer_pid = num(value)?,
            "Uid" | "Gid" => {
                let ids: Vec<u32> = value
                    .split_whitespace()
                    .map(num)
                    .collect::<Result<_, _>>()?;
                let ids: [u32; 4] = ids
                    .try_into()
                    .map_err(|_| malformed("status", format!("{key} needs 4 ids")))?;
                if key == "Uid" {
                    st.uids = ids;
                } else {
                    st.gids = ids;
                }
            }
            "NSpid" => {
                st.nspid = value
                    .split_whitespace()
                    .map(num)
                    .collect::<Result<_, _>>()?
            }
            "Threads" => st.threads = num(value)?,
            "SigBlk" => (st.sigblk, blk) = (mask(value)?, true),
            "SigIgn" => (st.sigign, ign) = (mask(value)?, true),
            "SigCgt" => (st.sigcgt, cgt) = (mask(value)?, true),
            "CapEff" => st.cap_eff = mask(value)?,
            _ => {}
        }
    }
    if !(state && blk && ign && cgt) {
        return Err(malformed(
            "status",
            "State, SigBlk, SigIgn or SigCgt missing",
        ));
    }
    Ok(st)
}

pub fn status(pid: u32, task: Option<u32>) -> Result<Status, ProcError> {
    parse_status(&read(pid, task, "status", limit::STATUS)?)
}

/// Parses a procfs signal set (`SigBlk:\t0000000000010000` → the hex part). Wider sets (more
/// than 64 signals, on some architectures) list the high words first.
pub fn parse_mask(hex: &str) -> Result<u64, String> {
    let hex = hex.trim();
    let low = hex.get(hex.len().saturating_sub(16)..).unwrap_or(hex);
    u64::from_str_radix(low, 16).map_err(|_| format!("not a signal set: `{hex}`"))
}

/// The words of /proc/<pid>/cmdline joined by spaces (empty for zombies and kernel threads);
/// `cut` says it was longer than what was read.
pub fn parse_cmdline(raw: &[u8], cut: bool) -> String {
    let mut text = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(lossless)
        .collect::<Vec<_>>()
        .join(" ");
    if cut {
        text.push('…');
    }
    text
}

pub fn cmdline(pid: u32) -> Result<String, ProcError> {
    let raw = read(pid, None, "cmdline", limit::CMDLINE)?;
    let cut = raw.len() as u64 >= limit::CMDLINE;
    Ok(parse_cmdline(&raw, cut))
}

/// /proc/<pid>/wchan: the kernel function it sleeps in; None for "0" (running, or hidden from
/// a reader who may not ptrace-read it).
pub fn parse_wchan(raw: &[u8]) -> Option<String> {
    let text = lossless(raw);
    let text = text.trim();
    (!text.is_empty() && text != "0").then(|| text.to_string())
}

pub fn wchan(pid: u32) -> Option<String> {
    parse_wchan(&read(pid, None, "wchan", limit::SMALL).ok()?)
}

/// The system call a task is blocked in (`/proc/PID/syscall`'s first field); None while it runs
/// (`running`) or when not in one (`-1`).
pub fn parse_syscall(raw: &[u8]) -> Option<i64> {
    let text = lossless(raw);
    text.split_whitespace()
        .next()?
        .parse::<i64>()
        .ok()
        .filter(|&n| n >= 0)
}

pub fn syscall(pid: u32) -> Option<i64> {
    parse_syscall(&read(pid, None, "syscall", limit::SMALL).ok()?)
}

/// The cgroup v2 path (`0::/…` → `/…`), or else the first line as is (cgroup v1 only).
pub fn parse_cgroup(raw: &[u8]) -> Option<String> {
    let lines = || raw.split(|&b| b == b'\n');
    lines()
        .find_map(|l| l.strip_prefix(b"0::"))
        .or_else(|| lines().next())
        .filter(|s| !s.is_empty())
        .map(lossless)
}

pub fn cgroup(pid: u32) -> Option<String> {
    parse_cgroup(&read(pid, None, "cgroup", limit::CGROUP).ok()?)
}

/// Every path of /proc/<pid>/cgroup, the v2 one (`0::`) first, then the v1 hierarchies' in
/// their order (a hybrid machine may place a container in v1 hierarchies only).
pub fn parse_cgroup_paths(raw: &[u8]) -> Vec<String> {
    let mut v2 = Vec::new();
    let mut v1 = Vec::new();
    for line in raw.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Some(path) = line.strip_prefix(b"0::") {
            v2.push(lossless(path));
        } else if let Some(path) = line.splitn(3, |&b| b == b':').nth(2) {
            v1.push(lossless(path));
        }
    }
    v2.extend(v1);
    v2
}

pub fn cgroup_paths(pid: u32) -> Vec<String> {
    read(pid, None, "cgroup", limit::CGROUP)
        .map(|raw| parse_cgroup_paths(&raw))
        .unwrap_or_default()
}

/// /proc/<pid>/loginuid: the audit login uid; None when unset (4294967295).
pub fn parse_loginuid(raw: &[u8]) -> Option<u32> {
    std::str::from_utf8(raw)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&uid| uid != u32::MAX)
}

pub fn loginuid(pid: u32) -> Option<u32> {
    parse_loginuid(&read(pid, None, "loginuid", limit::SMALL).ok()?)
}

/// The thread ids of a process (empty when its task list cannot be read).
pub fn tasks(pid: u32) -> Vec<u32> {
    numeric_entries(&root().join(format!("{pid}/task")))
}

/// Every process (thread group) this reader can see, in pid order.
pub fn pids() -> Vec<u32> {
    numeric_entries(root())
}

// Names are enough: the crate's `all_processes` opens every process's directory to list them.
fn numeric_entries(dir: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// Whether a process (or thread) with this id exists, a zombie too, whether or not /proc shows
/// it to this reader: signal 0 checks without sending, and "not permitted" means it exists.
pub fn exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 sends nothing.
    unsafe { libc::kill(pid, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

/// The kernel's `pid_max`: pids run from 1 to below it.
pub fn pid_max() -> Option<u32> {
    procfs::sys::kernel::pid_max()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
}

/// How long ago a process started, from its start time in clock ticks. The start time is
/// truncated to a tick, so this is never less than the true age.
pub fn age_ns(start_ticks: u64, now_boottime_ns: u64) -> u64 {
    let hz = procfs::ticks_per_second().max(1);
    let start_ns = (start_ticks as u128 * 1_000_000_000 / hz as u128) as u64;
    now_boottime_ns.saturating_sub(start_ns)
}

/// The text ps(1) gives a state letter (used when status is unreadable).
pub fn state_text(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk sleep",
        'Z' => "zombie",
        'T' => "stopped",
        't' => "tracing stop",
        'X' => "dead",
        'I' => "idle",
        'P' => "parked",
        'W' => "waking",
        'K' => "wakekill",
        _ => "unknown",
    }
}

#[cfg(test)]
#[path = "proc_tests.rs"]
mod tests;
