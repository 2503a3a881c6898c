//! Command-line interface: what the user types. `config.rs` turns it into a resolved `Config`.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration::parse_duration;

/// See, live, every process that exits, how long it stays a zombie (defunct) before its parent
/// reaps it, who reaps it and how. Needs root (or CAP_BPF and CAP_PERFMON).
///
/// Each line is a lifecycle event: `zombie` when a process (thread group) has exited and its
/// parent has been told, `reap` when the zombie is released, with how long it was defunct, the
/// reaper and how (wait4, waitid, autoreap, reparented, thread, kernel). Ctrl-C or SIGTERM stops
/// tracing and prints a summary: events seen, reaps by kind, zombies still outstanding with their
/// parents, and events lost.
///
/// Output never slows tracing down: if stdout does not keep up, event lines are dropped (counted,
/// announced by `dropped` lines), never events, and the summary still counts everything.
#[derive(Debug, Parser)]
#[command(
    name = "zombietrace",
    version = include_str!(concat!(env!("OUT_DIR"), "/version.txt")),
    long_version = include_str!(concat!(env!("OUT_DIR"), "/long_version.txt")),
    about,
    long_about,
    after_long_help = "Environment:\n  \
ZOMBIETRACE_READS=typed|probe\n          \
How the kernel programs read task fields: `typed`, plain loads the verifier checks against\n          \
the kernel's BTF (the default from Linux 5.11), or `probe`, bpf_probe_read_kernel calls,\n          \
slower (the default before 5.11). If the verifier refuses the typed programs, zombietrace\n          \
says so and uses probe reads. The start-up line says which.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub trace: TraceArgs,

    /// Stop by itself after this long (e.g. 30s), as if Ctrl-C had been pressed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reproduce a zombie case on purpose (no root needed for most scenarios).
    Spawn(crate::spawn::SpawnArgs),
    /// Today's zombies and their parents, with why each parent is not reaping (no root needed
    /// where procfs allows).
    Ps(crate::ps::PsArgs),
    /// Trace for a while, then print parents ranked by how badly they leak zombies, with
    /// reap-time percentiles and histograms, and why the worst are not reaping (needs root).
    Report(ReportArgs),
    /// Run as a service: Prometheus/OpenMetrics metrics at /metrics, readiness at /healthz,
    /// leaks as JSON lines on stderr; no per-event output. Stops cleanly on SIGTERM.
    ///
    /// Metrics (docs/metrics.md): zombies and reaps by how, zombie time as a histogram by how,
    /// zombies outstanding and the oldest one's age overall and by parent command (the top
    /// --top, the rest as `other`), parents leaking now, leak episodes, and the tracer's own
    /// health (events lost, kernel map refusals, read failures, build info). No pid labels.
    Serve(ServeArgs),
    /// A live view in the terminal, as top is for CPU: who is leaking zombies, how fast, and
    /// why (needs root, and a terminal).
    ///
    /// The header gives exits/s and reaps/s, zombies outstanding, parents leaking, events lost,
    /// and zombie-time p50/p99 over the last interval. The table ranks parents worst first:
    /// pid, command, unit or container, zombies outstanding, the oldest one's age, the rate
    /// they accumulate per minute, p99 zombie time, how they reap, and the verdict. Enter opens
    /// a parent: its zombies with their ages, why it does not reap, a histogram of its zombie
    /// times and a sparkline of its outstanding count.
    ///
    /// Keys: q quit; ↑/↓ (j/k), PgUp/PgDn, Home/End move; Enter open; Esc back; / filter
    /// (any text: pid, command, unit, verdict); < and > (or F6) choose the sort column, 1-9
    /// sort by that column, r reverse; p or space pause; ? help. Ctrl-C or SIGTERM end the run
    /// and print the summary, as every zombietrace run does; q leaves without it. NO_COLOR is
    /// honoured.
    Top(TopArgs),
    /// Write the man pages or a shell's completions, generated from these definitions (used by
    /// `cargo xtask dist`).
    #[command(hide = true)]
    Generate(crate::generate::GenerateArgs),
}

/// The default address of `serve`: loopback only, on a port the Prometheus default port
/// allocations leave free (deploy/README.md says why this one).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:19400";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to serve /metrics and /healthz on. Loopback only by default: to be
    /// scraped from elsewhere, ask for it (e.g. 0.0.0.0:19400).
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_LISTEN)]
    pub listen: std::net::SocketAddr,

    /// Parent commands that get series of their own (by zombies outstanding); the others are
    /// summed as parent_comm="other", so the number of series stays bounded.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,

    /// Where the host's procfs is (in a container that mounts it elsewhere, e.g. /host/proc).
    #[arg(long, value_name = "PATH", default_value = "/proc")]
    pub proc_root: std::path::PathBuf,

    /// Stop by itself after this long (for tests and trials; a service runs until SIGTERM).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Debug, Args)]
// The view is the output: --json does not apply (it is refused, and not offered).
#[command(mut_arg("json", |a| a.hide(true)))]
pub struct TopArgs {
    /// How often the view is refreshed, and the interval its rates and percentiles cover
    /// (keys respond at once).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,

    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// How long to trace before reporting (e.g. 30s, 5m).
    #[arg(
        long = "for",
        value_name = "DURATION",
        value_parser = parse_duration,
        required_unless_present = "from"
    )]
    pub for_: Option<Duration>,

    /// Report from a recording instead of tracing (what `--record FILE` or `--json` wrote,
    /// on this machine or another): the report the live run gave, without root.
    #[arg(long, value_name = "FILE", conflicts_with = "for_")]
    pub from: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Print JSON Lines (one object per event, see docs/json.md) instead of columns.
    #[arg(long)]
    pub json: bool,

    /// Also write every event, and the summary, as JSON Lines to FILE: a recording that
    /// `zombietrace report --from FILE` turns into the same report, anywhere, later.
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,

    /// Only this process (its tgid).
    #[arg(short, long, value_name = "PID")]
    pub pid: Option<u32>,

    /// Only children of this parent (its tgid; the parent that forked them counts too).
    #[arg(long, value_name = "PID")]
    pub ppid: Option<u32>,

    /// Only processes whose own or parent's command name (comm, first 15 bytes) is NAME,
    /// written as zombietrace shows names: `\xNN` for a byte that is not UTF-8, `\\` for a
    /// backslash.
    #[arg(short, long, value_name = "NAME")]
    pub comm: Option<String>,

    /// Only processes in this cgroup (v2) or below it: a path from the v2 hierarchy's root
    /// (/system.slice/nginx.service) or under its mount point. Checked in the kernel, so other
    /// cgroups' exits cost nothing.
    #[arg(long, value_name = "PATH", conflicts_with = "container")]
    pub cgroup: Option<String>,

    /// Only processes of the container whose id starts with ID (docker, podman, containerd,
    /// CRI-O, found by their cgroups). Checked in the kernel, like --cgroup.
    #[arg(long, value_name = "ID")]
    pub container: Option<String>,

    /// Only reaps that waited at least this long, and zombies once they have waited that long
    /// (e.g. 250ms, 2s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub min_zombie: Option<Duration>,

    /// Also report non-leader threads as they exit (reap kind `thread`).
    #[arg(long)]
    pub threads: bool,

    /// A parent is leaking when it holds a zombie older than this (or its count of zombies keeps
    /// growing): a `leak` event then names it and says why it is not reaping.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub leak_after: Duration,

    /// Once every probe is attached, switch to this unprivileged user and drop every
    /// capability (as `tcpdump -Z` does). Without it, the tracer keeps only CAP_SYS_PTRACE
    /// (to diagnose other users' processes). Leak diagnosis then sees what the user may read.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_filters() {
        let cli = Cli::try_parse_from([
            "zombietrace",
            "--json",
            "--ppid",
            "7",
            "--min-zombie",
            "250ms",
        ])
        .unwrap();
        assert!(cli.trace.json);
        assert_eq!(cli.trace.ppid, Some(7));
        assert_eq!(cli.trace.min_zombie, Some(Duration::from_millis(250)));
        assert!(Cli::try_parse_from(["zombietrace", "--min-zombie", "250"]).is_err());
        assert_eq!(cli.trace.leak_after, Duration::from_secs(1));
        let cli = Cli::try_parse_from(["zombietrace", "report", "--for", "5s", "--json"]).unwrap();
        let Some(Command::Report(report)) = cli.command else {
            panic!("report")
        };
        assert_eq!(report.for_, Some(Duration::from_secs(5)));
        assert!(report.trace.json);
        let cli = Cli::try_parse_from(["zombietrace", "top", "--comm", "sh"]).unwrap();
        let Some(Command::Top(top)) = cli.command else {
            panic!("top")
        };
        assert_eq!(top.interval, Duration::from_secs(1));
        assert_eq!(top.trace.comm.as_deref(), Some("sh"));
    }
}
