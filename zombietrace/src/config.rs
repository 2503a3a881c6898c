//! The resolved configuration of a tracing run, and the settings the kernel programs get.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context as _, Result};
use zombietrace_common::{Settings, TASK_COMM_LEN, setting};

use crate::{
    cli::{ServeArgs, TopArgs, TraceArgs},
    pipeline::filter::Filter,
    sys::{
        cgroup,
        text::{lossless, unescape},
    },
};

/// What a run produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A line per event (`zombietrace`), then the summary.
    Live,
    /// No per-event lines, a full ranking at the end (`zombietrace report`).
    Report,
    /// Metrics over HTTP, leaks as JSON lines on stderr (`zombietrace serve`).
    Serve {
        listen: SocketAddr,
        /// Parent commands with series of their own.
        top: usize,
    },
    /// A live view in the terminal (`zombietrace top`), refreshed every `interval`.
    Top { interval: Duration },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub json: bool,
    pub filter: Filter,
    /// `--comm` as the kernel compares it: the name's bytes.
    pub comm_bytes: Option<Vec<u8>>,
    pub threads: bool,
    pub duration: Option<Duration>,
    pub leak_after_ns: u64,
    pub mode: Mode,
    /// Run as this user once attached (`--user`).
    pub user: Option<String>,
    /// Where other processes' /proc files are (`--proc-root`).
    pub proc_root: Option<PathBuf>,
    /// The cgroup v2 hierarchy's mount point (found in /proc/self/mounts).
    pub cgroup_root: Option<PathBuf>,
    /// `--cgroup` or `--container`: the cgroup filtered on in the kernel.
    pub cgroup: Option<cgroup::Target>,
    /// `--record FILE`: every event written there too.
    pub record: Option<PathBuf>,
}

impl Config {
    /// Live tracing (`zombietrace`), stopping after `duration` if given.
    pub fn live(args: TraceArgs, duration: Option<Duration>) -> Result<Config> {
        Ok(Config {
            duration,
            ..Config::from_args(args)?
        })
    }

    /// `zombietrace report --for D`.
    pub fn report(args: TraceArgs, trace_for: Duration) -> Result<Config> {
        Ok(Config {
            duration: Some(trace_for),
            mode: Mode::Report,
            ..Config::from_args(args)?
        })
    }

    /// `zombietrace serve`.
    pub fn serve(args: ServeArgs) -> Result<Config> {
        anyhow::ensure!(
            !args.trace.json,
            "serve writes no event lines: its metrics are at /metrics and its leaks go to \
             stderr as JSON lines already"
        );
        Ok(Config {
            mode: Mode::Serve {
                listen: args.listen,
                top: args.top,
            },
            proc_root: Some(args.proc_root),
            duration: args.duration,
            ..Config::from_args(args.trace)?
        })
    }

    /// `zombietrace top`: on a terminal only (it draws there).
    pub fn top(args: TopArgs) -> Result<Config> {
        anyhow::ensure!(
            !args.trace.json,
            "top draws a view in the terminal: for JSON Lines, run zombietrace --json"
        );
        anyhow::ensure!(
            args.interval >= crate::top::MIN_INTERVAL,
            "--interval must be at least {:?}",
            crate::top::MIN_INTERVAL
        );
        anyhow::ensure!(
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
            "top draws in a terminal, and stdout is not one: for a file or a pipe, use \
             zombietrace report or zombietrace --json"
        );
        Ok(Config {
            mode: Mode::Top {
                interval: args.interval,
            },
            ..Config::from_args(args.trace)?
        })
    }

    fn from_args(args: TraceArgs) -> Result<Config> {
        // The name as zombietrace shows it (escapes give any byte), cut as the kernel keeps
        // it: 15 bytes.
        let comm_bytes = args
            .comm
            .as_deref()
            .map(|c| {
                let mut bytes = unescape(c).map_err(anyhow::Error::msg)?;
                bytes.truncate(TASK_COMM_LEN - 1);
                anyhow::Ok(bytes)
            })
            .transpose()
            .context("--comm")?;
        let cgroup_root = cgroup::this_v2_mount();
        let target = match (&args.cgroup, &args.container, &cgroup_root) {
            (None, None, _) => None,
            (_, _, None) => anyhow::bail!(
                "--cgroup and --container need the cgroup v2 hierarchy, and none is mounted"
            ),
            (Some(path), _, Some(root)) => Some(cgroup::locate(root, path)?),
            (None, Some(id), Some(root)) => Some(cgroup::find_container(root, id)?),
        };
        Ok(Config {
            json: args.json,
            filter: Filter {
                cgroup: target.as_ref().map(|t| t.path.clone()),
                pid: args.pid,
                ppid: args.ppid,
                comm: comm_bytes.as_deref().map(lossless),
                min_zombie_ns: args.min_zombie.map_or(0, |d| d.as_nanos() as u64),
            },
            comm_bytes,
            threads: args.threads,
            duration: None,
            leak_after_ns: args.leak_after.as_nanos() as u64,
            mode: Mode::Live,
            user: args.user,
            proc_root: None,
            cgroup_root,
            cgroup: target,
            record: args.record,
        })
    }

    /// What the event pipeline needs to know.
    pub fn pipeline_settings(&self) -> crate::pipeline::Settings {
        crate::pipeline::Settings {
            filter: self.filter.clone(),
            leak_after_ns: self.leak_after_ns,
            // `report` is all summary: it ranks more parents.
            summary_parents: if self.mode == Mode::Report {
                crate::report::REPORT_PARENTS
            } else {
                10
            },
        }
    }

    /// What the kernel programs get.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings {
            filter_pid: self.filter.pid.unwrap_or(0),
            filter_ppid: self.filter.ppid.unwrap_or(0),
            ..Settings::default()
        };
        if self.threads {
            settings.flags |= setting::THREADS;
        }
        if let Some(comm) = &self.comm_bytes {
            settings.flags |= setting::FILTER_COMM;
            settings.comm[..comm.len()].copy_from_slice(comm);
        }
        if let Some(target) = &self.cgroup {
            settings.flags |= setting::FILTER_CGROUP;
            settings.cgroup_id = target.id;
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser as _;

    fn config(args: &[&str]) -> Config {
        let cli = crate::cli::Cli::try_parse_from(args).unwrap();
        Config::live(cli.trace, None).unwrap()
    }

    #[test]
    fn comm_is_cut_like_the_kernel_does() {
        let c = config(&["zombietrace", "--comm", "a-very-long-process-name"]);
        assert_eq!(c.comm_bytes.as_deref(), Some(&b"a-very-long-pro"[..]));
        assert_eq!(c.filter.comm.as_deref(), Some("a-very-long-pro"));
        // As zombietrace shows names: escapes give any byte, the filter compares the shown form.
        let c = config(&["zombietrace", "--comm", "\\xff\\e[x"]);
        assert_eq!(c.comm_bytes.as_deref(), Some(&b"\xff\x1b[x"[..]));
        assert_eq!(c.filter.comm.as_deref(), Some("\\xff\u{1b}[x"));
        let cli = crate::cli::Cli::try_parse_from(["zombietrace", "--comm", "\\q"]).unwrap();
        assert!(Config::live(cli.trace, None).is_err());
    }

    #[test]
    fn settings_carry_filters() {
        let config = config(&["zombietrace", "--pid", "3", "--comm", "sleep", "--threads"]);
        let s = config.settings();
        assert_eq!(s.filter_pid, 3);
        assert_eq!(s.flags, setting::THREADS | setting::FILTER_COMM);
        assert_eq!(&s.comm[..6], b"sleep\0");
    }
}
