//! The resolved configuration of a tracing run, and the settings the kernel programs get.

use std::time::Duration;

use zombietrace_common::{Settings, TASK_COMM_LEN, setting};

use crate::{cli::TraceArgs, pipeline::filter::Filter};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub json: bool,
    pub filter: Filter,
    pub threads: bool,
    pub duration: Option<Duration>,
    pub leak_after_ns: u64,
    /// `report`: no per-event lines, a full ranking at the end.
    pub report: bool,
    /// Run as this user once attached (`--user`).
    pub user: Option<String>,
}

impl Config {
    /// Live tracing (`zombietrace`), stopping after `duration` if given.
    pub fn live(args: TraceArgs, duration: Option<Duration>) -> Config {
        Config {
            duration,
            ..Config::from_args(args)
        }
    }

    /// `zombietrace report --for D`.
    pub fn report(args: TraceArgs, trace_for: Duration) -> Config {
        Config {
            duration: Some(trace_for),
            report: true,
            ..Config::from_args(args)
        }
    }

    fn from_args(args: TraceArgs) -> Config {
        // The kernel keeps 15 bytes of a command name: compare what it can hold.
        let comm = args.comm.map(|c| truncate_comm(&c));
        Config {
            json: args.json,
            filter: Filter {
                pid: args.pid,
                ppid: args.ppid,
                comm,
                min_zombie_ns: args.min_zombie.map_or(0, |d| d.as_nanos() as u64),
            },
            threads: args.threads,
            duration: None,
            leak_after_ns: args.leak_after.as_nanos() as u64,
            report: false,
            user: args.user,
        }
    }

    /// What the event pipeline needs to know.
    pub fn pipeline_settings(&self) -> crate::pipeline::Settings {
        crate::pipeline::Settings {
            filter: self.filter.clone(),
            leak_after_ns: self.leak_after_ns,
            // `report` is all summary: it ranks more parents.
            summary_parents: if self.report { 50 } else { 10 },
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
        if let Some(comm) = &self.filter.comm {
            settings.flags |= setting::FILTER_COMM;
            settings.comm[..comm.len()].copy_from_slice(comm.as_bytes());
        }
        settings
    }
}

fn truncate_comm(comm: &str) -> String {
    let mut end = comm.len().min(TASK_COMM_LEN - 1);
    while !comm.is_char_boundary(end) {
        end -= 1;
    }
    comm[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_cut_like_the_kernel_does() {
        assert_eq!(truncate_comm("a-very-long-process-name"), "a-very-long-pro");
        assert_eq!(truncate_comm("sleep"), "sleep");
    }

    #[test]
    fn settings_carry_filters() {
        let config = Config {
            json: false,
            filter: Filter {
                pid: Some(3),
                comm: Some("sleep".into()),
                ..Default::default()
            },
            threads: true,
            duration: None,
            leak_after_ns: 1,
            report: false,
            user: None,
        };
        let s = config.settings();
        assert_eq!(s.filter_pid, 3);
        assert_eq!(s.flags, setting::THREADS | setting::FILTER_COMM);
        assert_eq!(&s.comm[..6], b"sleep\0");
    }
}
