//! The collectors under test: zombietrace in each output mode, exitsnoop and bpftrace. Starting
//! one and waiting until it is attached, reading its CPU and memory while it runs, stopping it
//! and collecting its rusage (wait4).

use std::{
    fs::{self, File},
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{
    peers::Tools,
    scrape::{SERVE_LISTEN, Scraper},
};

/// bpftrace: one line per exit, like exitsnoop.
const BPFTRACE_PRINT: &str =
    r#"tracepoint:sched:sched_process_exit { printf("%d %d %s\n", pid, tid, comm); }"#;
/// bpftrace: count in the kernel only; the count is printed at exit.
const BPFTRACE_COUNT: &str = "tracepoint:sched:sched_process_exit { @exits = count(); }";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracer {
    /// `zombietrace > file`
    ZtText,
    /// `zombietrace > /dev/null`
    ZtNull,
    /// `zombietrace --json > file`
    ZtJson,
    /// `zombietrace report --for 1h --json > file` (stopped by SIGINT): aggregates only
    ZtReport,
    /// The same with `ZOMBIETRACE_READS=probe`: the kernel programs' probe-read variants, for
    /// their cost against the BTF-typed ones (the cost case only)
    ZtReportProbe,
    /// `zombietrace --min-zombie 1s --json > file`: aggregates, per-event lines filtered out
    ZtMinZombie,
    /// `zombietrace serve`, its /metrics scraped every second (as Prometheus would)
    ZtServe,
    /// libbpf-tools `exitsnoop > file`
    Exitsnoop,
    /// `bpftrace -e '… printf(…) …' > file`
    BpftracePrint,
    /// `bpftrace -e '… @exits = count() …'`
    BpftraceCount,
}

impl Tracer {
    pub fn name(self) -> &'static str {
        match self {
            Tracer::ZtText => "zombietrace > file",
            Tracer::ZtNull => "zombietrace > /dev/null",
            Tracer::ZtJson => "zombietrace --json > file",
            Tracer::ZtReport => "zombietrace report --for",
            Tracer::ZtReportProbe => "zombietrace report, probe reads",
            Tracer::ZtMinZombie => "zombietrace --min-zombie 1s",
            Tracer::ZtServe => "zombietrace serve, 1 s scrape",
            Tracer::Exitsnoop => "exitsnoop > file",
            Tracer::BpftracePrint => "bpftrace printf > file",
            Tracer::BpftraceCount => "bpftrace count()",
        }
    }

    /// A short key for JSON and file names.
    pub fn key(self) -> &'static str {
        match self {
            Tracer::ZtText => "zt_text_file",
            Tracer::ZtNull => "zt_text_null",
            Tracer::ZtJson => "zt_json_file",
            Tracer::ZtReport => "zt_report",
            Tracer::ZtReportProbe => "zt_report_probe_reads",
            Tracer::ZtMinZombie => "zt_min_zombie",
            Tracer::ZtServe => "zt_serve",
            Tracer::Exitsnoop => "exitsnoop",
            Tracer::BpftracePrint => "bpftrace_printf",
            Tracer::BpftraceCount => "bpftrace_count",
        }
    }

    pub fn is_zombietrace(self) -> bool {
        matches!(
            self,
            Tracer::ZtText
                | Tracer::ZtNull
                | Tracer::ZtJson
                | Tracer::ZtReport
                | Tracer::ZtReportProbe
                | Tracer::ZtMinZombie
                | Tracer::ZtServe
        )
    }

    /// Every lifecycle event written out (the ≥ 0.90 target) vs aggregating (≥ 0.97).
    pub fn writes_every_event(self) -> bool {
        matches!(self, Tracer::ZtText | Tracer::ZtNull | Tracer::ZtJson)
    }

    pub fn aggregates(self) -> bool {
        matches!(
            self,
            Tracer::ZtReport | Tracer::ZtMinZombie | Tracer::ZtServe
        )
    }

    /// Where its stdout goes (None: /dev/null).
    fn output(self, dir: &Path) -> Option<PathBuf> {
        (self != Tracer::ZtNull).then(|| dir.join(format!("{}.out", self.key())))
    }

    fn command(self, tools: &Tools) -> Command {
        let mut cmd = match self {
            Tracer::Exitsnoop => Command::new(&tools.exitsnoop),
            Tracer::BpftracePrint | Tracer::BpftraceCount => Command::new(&tools.bpftrace),
            _ => Command::new(&tools.zombietrace),
        };
        match self {
            Tracer::ZtText | Tracer::ZtNull | Tracer::Exitsnoop => {}
            Tracer::ZtJson => {
                cmd.arg("--json");
            }
            Tracer::ZtReport => {
                cmd.args(["report", "--for", "1h", "--json"]);
            }
            Tracer::ZtReportProbe => {
                cmd.args(["report", "--for", "1h", "--json"]);
                cmd.env("ZOMBIETRACE_READS", "probe");
            }
            Tracer::ZtMinZombie => {
                cmd.args(["--min-zombie", "1s", "--json"]);
            }
            Tracer::ZtServe => {
                cmd.args(["serve", "--listen", SERVE_LISTEN]);
            }
            Tracer::BpftracePrint => {
                cmd.args(["-e", BPFTRACE_PRINT]);
            }
            Tracer::BpftraceCount => {
                cmd.args(["-e", BPFTRACE_COUNT]);
            }
        }
        cmd
    }
}

/// A collector that is attached and running.
pub struct Running {
    pub tracer: Tracer,
    child: Child,
    pub output: Option<PathBuf>,
    stderr: mpsc::Receiver<String>,
    stderr_thread: Option<thread::JoinHandle<()>>,
    /// From spawn to attached.
    pub startup: Duration,
    scraper: Option<Scraper>,
}

/// What a collector cost, once it has exited.
#[derive(Clone, Debug, Default)]
pub struct Stopped {
    /// utime + stime over its whole life (wait4's rusage), seconds.
    pub cpu_secs: f64,
    /// ru_maxrss, KiB.
    pub max_rss_kib: u64,
    /// From the stop signal until it exited (its last output written).
    pub stop_secs: f64,
}

pub fn start(tools: &Tools, tracer: Tracer, dir: &Path) -> Result<Running> {
    start_with(tools, tracer, dir, None, &[])
}

/// Starts `tracer` with stdout to its file (or /dev/null, or `stdout` when given) and waits
/// until it is attached: zombietrace says "probes attached" on stderr, bpftrace prints
/// "Attaching N probes..." first; exitsnoop gets a fixed 1.5 s. `extra_args` go after its own.
pub fn start_with(
    tools: &Tools,
    tracer: Tracer,
    dir: &Path,
    stdout: Option<Stdio>,
    extra_args: &[&str],
) -> Result<Running> {
    let output = if stdout.is_some() {
        None
    } else {
        tracer.output(dir)
    };
    let stdout = match (stdout, &output) {
        (Some(s), _) => s,
        (None, Some(path)) => {
            Stdio::from(File::create(path).with_context(|| format!("creating {path:?}"))?)
        }
        (None, None) => Stdio::null(),
    };
    let began = Instant::now();
    let mut cmd = tracer.command(tools);
    cmd.args(extra_args);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let (send, stderr) = mpsc::channel();
    let pipe = child.stderr.take().expect("piped");
    let stderr_thread = thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut running = Running {
        tracer,
        child,
        output,
        stderr,
        stderr_thread: Some(stderr_thread),
        startup: Duration::ZERO,
        scraper: None,
    };
    running.wait_ready(began)?;
    running.startup = began.elapsed();
    if tracer == Tracer::ZtServe {
        running.scraper = Some(Scraper::start());
    }
    Ok(running)
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn wait_ready(&mut self, began: Instant) -> Result<()> {
        let timeout = Duration::from_secs(30);
        let mut seen = String::new();
        loop {
            if let Some(status) = self.child.try_wait()? {
                let rest: Vec<String> = self.stderr.try_iter().collect();
                bail!(
                    "{} exited before it was attached ({status}): {seen}{}",
                    self.tracer.name(),
                    rest.join("\n")
                );
            }
            while let Ok(line) = self.stderr.try_recv() {
                if self.tracer.is_zombietrace() && line.contains("probes attached") {
                    return Ok(());
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            match self.tracer {
                Tracer::Exitsnoop if began.elapsed() >= Duration::from_millis(1500) => {
                    return Ok(());
                }
                Tracer::BpftracePrint | Tracer::BpftraceCount => {
                    let path = self.output.as_ref().expect("bpftrace writes a file");
                    if fs::metadata(path).map(|m| m.len() > 0).unwrap_or(false) {
                        // "Attaching" comes just before the attach itself.
                        thread::sleep(Duration::from_millis(300));
                        return Ok(());
                    }
                }
                _ => {}
            }
            if began.elapsed() > timeout {
                bail!(
                    "{} not attached after {timeout:?}: {seen}",
                    self.tracer.name()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// CPU time of all its threads so far (schedstat, ns).
    pub fn cpu_ns(&self) -> u64 {
        let Ok(tasks) = fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return 0;
        };
        tasks
            .filter_map(|t| fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    /// Time its kernel programs ran (ns, all of them together), counted by the kernel while
    /// `kernel.bpf_stats_enabled` is 1 (see [`BpfStats`]); None when nothing was counted.
    pub fn bpf_run_ns(&self) -> Option<u64> {
        let fds = fs::read_dir(format!("/proc/{}/fd", self.pid())).ok()?;
        let mut total = 0;
        for fd in fds.filter_map(Result::ok) {
            let is_prog = fs::read_link(fd.path())
                .is_ok_and(|l| l.to_string_lossy() == "anon_inode:bpf-prog");
            if !is_prog {
                continue;
            }
            let info = format!(
                "/proc/{}/fdinfo/{}",
                self.pid(),
                fd.file_name().to_string_lossy()
            );
            total += fs::read_to_string(info)
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("run_time_ns:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        (total > 0).then_some(total)
    }

    /// (VmRSS, VmHWM) in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGINT (Ctrl-C: zombietrace prints its summary, bpftrace its maps), then wait4 for its
    /// rusage; SIGKILL after `patience`.
    pub fn stop(mut self, patience: Duration) -> Result<Stopped> {
        if let Some(scraper) = self.scraper.take() {
            let scrapes = scraper.finish()?;
            if scrapes == 0 {
                bail!("{}: no scrape was made", self.tracer.name());
            }
        }
        let pid = self.pid();
        let sent = Instant::now();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let mut status = 0;
        // SAFETY: a zeroed rusage is valid; wait4 fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let mut killed = false;
        loop {
            // SAFETY: waiting for our own child, with valid out-pointers.
            let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            if r == pid {
                break;
            }
            if r < 0 {
                bail!("wait4({pid}): {}", std::io::Error::last_os_error());
            }
            if !killed && sent.elapsed() > patience {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed = true;
            }
            thread::sleep(Duration::from_millis(2));
        }
        let stop_secs = sent.elapsed().as_secs_f64();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        let stderr: Vec<String> = self.stderr.try_iter().collect();
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let stopped = Stopped {
            cpu_secs: tv(usage.ru_utime) + tv(usage.ru_stime),
            max_rss_kib: usage.ru_maxrss as u64,
            stop_secs,
        };
        let clean = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        if !killed && !clean {
            eprintln!(
                "xtask bench: {} ended with status {status:#x}: {}",
                self.tracer.name(),
                stderr.join(" / ")
            );
        }
        // std's Child must not wait again: the pid is gone.
        std::mem::forget(self.child);
        if killed {
            bail!(
                "{} did not stop within {patience:?} of SIGINT",
                self.tracer.name()
            );
        }
        Ok(stopped)
    }
}

/// `kernel.bpf_stats_enabled` set to 1 while it lives (the kernel then times every BPF program
/// run, at a small cost of its own), restored after.
pub struct BpfStats {
    before: String,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    pub fn enable() -> Option<BpfStats> {
        let before = fs::read_to_string(BPF_STATS).ok()?;
        fs::write(BPF_STATS, "1").ok()?;
        Some(BpfStats { before })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = fs::write(BPF_STATS, self.before.trim());
    }
}
