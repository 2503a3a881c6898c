//! Reading and parsing what procfs says about one process: `stat`, `status`, `wchan`,
//! `cmdline`, `cgroup`, `loginuid`, and user names from /etc/passwd. Parsers take text so that
//! fixtures can test them; readers tell "the process is gone" apart from other failures.

use std::collections::HashMap;
use std::io;

use anyhow::{Context as _, anyhow, bail};

use super::sigchld::parse_mask;

/// The fields of /proc/<pid>/stat that matter here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    /// The raw command name (between the parentheses; may itself hold spaces or parentheses).
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
pub fn parse_stat(text: &str) -> anyhow::Result<Stat> {
    let open = text.find('(').context("stat: no `(`")?;
    let close = text.rfind(')').context("stat: no `)`")?;
    if close < open {
        bail!("stat: `)` before `(`");
    }
    let pid = text[..open].trim().parse().context("stat: pid")?;
    let comm = text[open + 1..close].to_string();
    // Fields from 3 (state) on; field n is rest[n - 3].
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    let state = field(3)
        .and_then(|s| s.chars().next())
        .context("stat: state")?;
    let ppid = field(4)
        .context("stat: ppid")?
        .parse()
        .context("stat: ppid")?;
    let start_ticks = field(22)
        .context("stat: starttime")?
        .parse()
        .context("stat: starttime")?;
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

/// Parses /proc/<pid>/status (or /proc/<pid>/task/<tid>/status). State and the three signal
/// sets are required; the rest is taken when present.
pub fn parse_status(text: &str) -> anyhow::Result<Status> {
    let mut st = Status::default();
    let (mut state, mut blk, mut ign, mut cgt) = (false, false, false, false);
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let num = |v: &str| {
            v.parse::<u32>()
                .with_context(|| format!("status: {key}: `{v}`"))
        };
        match key {
            "State" => {
                st.state = value.chars().next().context("status: empty State")?;
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
                    .map_err(|_| anyhow!("status: {key} needs 4 ids"))?;
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
            "SigBlk" => (st.sigblk, blk) = (parse_mask(value)?, true),
            "SigIgn" => (st.sigign, ign) = (parse_mask(value)?, true),
            "SigCgt" => (st.sigcgt, cgt) = (parse_mask(value)?, true),
            "CapEff" => st.cap_eff = parse_mask(value)?,
            _ => {}
        }
    }
    if !(state && blk && ign && cgt) {
        bail!("status: State, SigBlk, SigIgn or SigCgt missing");
    }
    Ok(st)
}

/// The words of /proc/<pid>/cmdline joined by spaces (empty for zombies and kernel threads).
pub fn parse_cmdline(raw: &[u8]) -> String {
    raw.split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// /proc/<pid>/wchan: the kernel function it sleeps in; None for "0" (running, or hidden from
/// a reader who may not ptrace-read it).
pub fn parse_wchan(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty() && text != "0").then(|| text.to_string())
}

/// The cgroup v2 path (`0::/…` → `/…`), or else the first line as is (cgroup v1 only).
pub fn parse_cgroup(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
        .or_else(|| text.lines().next().map(str::to_string))
        .filter(|s| !s.is_empty())
}

/// /proc/<pid>/loginuid: the audit login uid; None when unset (4294967295).
pub fn parse_loginuid(text: &str) -> Option<u32> {
    text.trim().parse().ok().filter(|&uid| uid != u32::MAX)
}

/// uid → user name, from /etc/passwd (no NSS: a uid without a line shows as its number).
#[derive(Debug, Default)]
pub struct Users(HashMap<u32, String>);

impl Users {
    pub fn load() -> Self {
        Users::parse(&std::fs::read_to_string("/etc/passwd").unwrap_or_default())
    }

    pub fn parse(passwd: &str) -> Self {
        let mut names = HashMap::new();
        for line in passwd.lines() {
            let mut fields = line.split(':');
            if let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next())
                && let Ok(uid) = uid.parse()
            {
                names.entry(uid).or_insert_with(|| name.to_string());
            }
        }
        Users(names)
    }

    pub fn name(&self, uid: u32) -> String {
        self.0.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }
}

/// The process (or thread) has exited and been released: its /proc entry is gone.
pub fn is_gone(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ESRCH))
}

/// Reads /proc/<pid>/<file>; "process <pid> is gone" when it no longer exists.
pub fn read(pid: u32, file: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|e| gone_or(pid, file, e))
}

pub fn read_bytes(pid: u32, file: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/{file}")).map_err(|e| gone_or(pid, file, e))
}

fn gone_or(pid: u32, file: &str, err: io::Error) -> anyhow::Error {
    if is_gone(&err) {
        anyhow!("process {pid} is gone")
    } else {
        anyhow!(err).context(format!("reading /proc/{pid}/{file}"))
    }
}

pub use crate::clock::{boottime_ns, monotonic_ns};

/// How long ago a process started, from its start time in clock ticks. The start time is
/// truncated to a tick, so this is never less than the true age.
pub fn age_ns(start_ticks: u64, now_boottime_ns: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        hz if hz > 0 => hz as u64,
        _ => 100,
    };
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
mod tests {
    use super::*;

    const STATUS_SLEEP: &str = "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4121\n\
        Ngid:\t0\nPid:\t4121\nPPid:\t4100\nTracerPid:\t0\nUid:\t1000\t1000\t1000\t1000\n\
        Gid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nGroups:\t \nNStgid:\t4121\nNSpid:\t4121\n\
        Threads:\t1\nSigQ:\t0/96365\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
        SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n\
        CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n";

    const STATUS_CONTAINER_INIT: &str = "Name:\tsleep\nState:\tt (tracing stop)\nTgid:\t9001\n\
        Pid:\t9001\nPPid:\t9000\nTracerPid:\t9100\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n\
        NStgid:\t9001\t1\nNSpid:\t9001\t1\nThreads:\t3\nSigBlk:\t0000000000010000\n\
        SigIgn:\t0000000000000004\nSigCgt:\t0000000000014a02\nCapEff:\t000001ffffffffff\n";

    #[test]
    fn parses_status() {
        let st = parse_status(STATUS_SLEEP).unwrap();
        assert_eq!((st.state, st.state_text.as_str()), ('S', "sleeping"));
        assert_eq!((st.tgid, st.ppid, st.tracer_pid), (4121, 4100, 0));
        assert_eq!(st.uids, [1000; 4]);
        assert_eq!(st.nspid, vec![4121]);
        assert_eq!((st.threads, st.sigblk, st.sigign, st.sigcgt), (1, 0, 0, 0));

        let st = parse_status(STATUS_CONTAINER_INIT).unwrap();
        assert_eq!((st.state, st.state_text.as_str()), ('t', "tracing stop"));
        assert_eq!(st.tracer_pid, 9100);
        assert_eq!(st.nspid, vec![9001, 1]);
        assert_eq!(st.threads, 3);
        assert_eq!((st.sigblk, st.sigign, st.sigcgt), (0x10000, 0x4, 0x14a02));
        assert_eq!(st.cap_eff, 0x1ffffffffff);
    }

    #[test]
    fn rejects_incomplete_status() {
        assert!(parse_status("Name:\tx\nState:\tS (sleeping)\n").is_err());
        assert!(parse_status("").is_err());
        let bad = STATUS_SLEEP.replace("SigCgt:\t0000000000000000", "SigCgt:\tnope");
        assert!(parse_status(&bad).is_err());
    }

    #[test]
    fn parses_stat() {
        // A comm with a space and a parenthesis; 52 fields in all.
        let mut text = String::from("4122 (my (odd) cmd) Z 4121 4121 4100 34816 4121 4194636");
        for n in 10..=52 {
            text.push_str(&match n {
                22 => " 394847".to_string(),
                39 => " 1".to_string(),
                52 => " 768".to_string(),
                _ => " 0".to_string(),
            });
        }
        let st = parse_stat(&text).unwrap();
        assert_eq!(st.pid, 4122);
        assert_eq!(st.comm, "my (odd) cmd");
        assert_eq!((st.state, st.ppid, st.start_ticks), ('Z', 4121, 394847));
        assert_eq!((st.processor, st.exit_code), (Some(1), Some(768)));
        assert!(parse_stat("12 (x) S").is_err());
    }

    #[test]
    fn parses_small_files() {
        assert_eq!(
            parse_cmdline(b"python3\0-m\0http.server\0"),
            "python3 -m http.server"
        );
        assert_eq!(parse_cmdline(b""), "");
        assert_eq!(parse_wchan("0"), None);
        assert_eq!(parse_wchan(""), None);
        assert_eq!(
            parse_wchan("hrtimer_nanosleep"),
            Some("hrtimer_nanosleep".into())
        );
        let hybrid = "9:name=systemd:/\n1:cpu:/\n0::/user.slice/session-3.scope\n";
        assert_eq!(
            parse_cgroup(hybrid),
            Some("/user.slice/session-3.scope".into())
        );
        assert_eq!(
            parse_cgroup("4:memory:/docker/abc\n"),
            Some("4:memory:/docker/abc".into())
        );
        assert_eq!(parse_cgroup(""), None);
        assert_eq!(parse_loginuid("4294967295"), None);
        assert_eq!(parse_loginuid("1000\n"), Some(1000));
    }

    #[test]
    fn names_users() {
        let users = Users::parse(
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/a:/bin/sh\nbad line\ntoor:x:0:0::/:/bin/sh\n",
        );
        assert_eq!(users.name(0), "root");
        assert_eq!(users.name(1000), "alice");
        assert_eq!(users.name(4242), "4242");
    }

    #[test]
    fn ages_are_upper_bounds() {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        assert_eq!(age_ns(hz * 10, 12_000_000_000), 2_000_000_000);
        assert_eq!(age_ns(hz * 10, 5), 0);
    }
}
