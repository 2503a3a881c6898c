//! The cases beyond throughput: the collector's cost at 10,000 exits/s, a 100,000-exit burst
//! under a slow stdout reader, 20,000 outstanding zombies, and `stress-ng --vfork`.

use std::{
    fs::{self, File},
    io::{Read as _, Write as _},
    os::fd::{FromRawFd as _, OwnedFd},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::{
    measure::{Ctx, traced},
    pairs::Traced,
    parse::{self, Seen},
    tracer::{self, Stopped, Tracer},
    workload::{self, LOOP_COMM, Load, Stop},
};

/// `spawn storm --rate 10000 --parents 2` under each collector mode: its CPU as a share of one
/// core while the load runs.
pub fn cost(ctx: &Ctx, tracers: &[Tracer], run: Duration) -> Result<Vec<(Tracer, Traced)>> {
    let mut out = Vec::new();
    // Here only: the kernel's own timing of BPF programs costs a little on every run.
    let _stats = tracer::BpfStats::enable();
    for &tracer in tracers {
        let t = traced(ctx, tracer, "zombietrace", || {
            let load = workload::run_storm(&ctx.tools.zombietrace, 2, run, Some(10_000), None)?;
            Ok((load, None))
        })?;
        eprintln!(
            "xtask bench: cost {:<28} {:>7.0} exits/s, collector {:.1}% of a core",
            tracer.name(),
            t.load.rate,
            t.cpu_share() * 100.0
        );
        out.push((tracer, t));
    }
    Ok(out)
}

pub struct Burst {
    pub load: Load,
    pub seen: Seen,
    pub stopped: Stopped,
    pub cpu_load_secs: f64,
    /// Bytes the slow reader took while the load ran, and in all.
    pub slow_bytes: u64,
    pub bytes: u64,
}

impl Burst {
    /// The aggregates (the summary's per-parent zombies and reaped) equal the load's count.
    pub fn exact(&self) -> bool {
        let s = self.seen.summary.as_ref();
        s.and_then(|s| s.load_reaped) == Some(self.load.exits)
            && s.and_then(|s| s.load_zombies) == Some(self.load.exits)
    }

    pub fn to_json(&self) -> Value {
        let s = self.seen.summary.as_ref();
        json!({
            "load": self.load.to_json(),
            "expected": self.load.exits,
            "summary_parents_zombies": s.and_then(|s| s.load_zombies),
            "summary_parents_reaped": s.and_then(|s| s.load_reaped),
            "summary_reaped_all": s.map(|s| s.reaped),
            "summary_wait4_all": s.map(|s| s.wait4),
            "summary_events": s.map(|s| s.events),
            "lost": s.map(|s| s.lost),
            "reap_lines_seen": self.seen.reaps,
            "zombie_lines_seen": self.seen.exits,
            "aggregates_exact": self.exact(),
            "reader_bytes_during_load": self.slow_bytes,
            "reader_bytes": self.bytes,
            "cpu_during_load_secs": self.cpu_load_secs,
            "cpu_total_secs": self.stopped.cpu_secs,
            "max_rss_kib": self.stopped.max_rss_kib,
            "stop_secs": self.stopped.stop_secs,
        })
    }
}

/// 2 unpinned loops of `per_parent` exits each, with `zombietrace --json | slow reader`
/// (4 KiB every 10 ms while the load runs, then as fast as it can so the summary arrives).
pub fn burst(ctx: &Ctx, per_parent: u64) -> Result<Burst> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe");
    }
    // SAFETY: both fds are new and ours.
    let (read_end, write_end) =
        unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let path = ctx.tmp.join("burst.out");
    let mut sink = File::create(&path)?;
    let fast = Arc::new(AtomicBool::new(false));
    let reader_fast = fast.clone();
    let reader = thread::spawn(move || -> (u64, u64) {
        let mut read_end = read_end;
        let (mut slow, mut total) = (0u64, 0u64);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let fast = reader_fast.load(Ordering::Relaxed);
            let want = if fast { buf.len() } else { 4096 };
            let n = match read_end.read(&mut buf[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let _ = sink.write_all(&buf[..n]);
            total += n as u64;
            if !fast {
                slow += n as u64;
                thread::sleep(Duration::from_millis(10));
            }
        }
        (slow, total)
    });
    let running = tracer::start_with(
        &ctx.tools,
        Tracer::ZtJson,
        &ctx.tmp,
        Some(Stdio::from(write_end)),
        // Only the loops' processes: on a busy machine others' leaking parents would rank
        // before the loops in the summary's parents, whose counts the check reads.
        &["--comm", LOOP_COMM],
    )?;
    let cpu_before = running.cpu_ns();
    // The loop processes stay alive (live parents keep their per-parent counts) until the
    // summary is out.
    let mut loops = workload::spawn_loops(&ctx.tools.forkloop, 2, false, Stop::Count(per_parent));
    let load = match &mut loops {
        Ok(loops) => loops.go(),
        Err(err) => Err(anyhow::anyhow!("{err:#}")),
    };
    let cpu_after = running.cpu_ns();
    fast.store(true, Ordering::Relaxed);
    let stopped = running.stop(Duration::from_secs(300));
    drop(loops);
    let (slow_bytes, bytes) = reader.join().unwrap_or_default();
    let (load, stopped) = (load?, stopped?);
    let seen = parse::read(&path, Tracer::ZtJson, &load.parents, LOOP_COMM);
    Ok(Burst {
        load,
        seen,
        stopped,
        cpu_load_secs: cpu_after.saturating_sub(cpu_before) as f64 / 1e9,
        slow_bytes,
        bytes,
    })
}

pub struct Scale {
    pub tracer: Tracer,
    pub spawners: usize,
    /// Zombies the spawners said were outstanding at once, and reaped.
    pub made: u64,
    pub reaped: u64,
    pub seen: Seen,
    pub stopped: Stopped,
    /// VmRSS and VmHWM with every zombie outstanding, KiB.
    pub rss_held_kib: (u64, u64),
    /// Collector CPU from its start until all were reaped, seconds.
    pub cpu_secs: f64,
    /// Making them all, holding, reaping them all.
    pub make_secs: f64,
    pub reap_secs: f64,
    /// From the last reap (the last spawner gone) to the collector's exit after SIGINT.
    pub last_reap_to_summary_secs: f64,
    pub parents: Vec<u32>,
}

impl Scale {
    pub fn to_json(&self) -> Value {
        let s = self.seen.summary.as_ref();
        json!({
            "tracer": self.tracer.key(),
            "spawners": self.spawners,
            "parents": self.parents,
            "zombies_outstanding": self.made,
            "reaped_by_spawners": self.reaped,
            "zombie_lines_seen": self.seen.exits,
            "reap_lines_seen": self.seen.reaps,
            "summary_parents_zombies": s.and_then(|s| s.load_zombies),
            "summary_parents_reaped": s.and_then(|s| s.load_reaped),
            "lost": s.map(|s| s.lost),
            "vmrss_held_kib": self.rss_held_kib.0,
            "vmhwm_held_kib": self.rss_held_kib.1,
            "max_rss_kib": self.stopped.max_rss_kib,
            "cpu_until_reaped_secs": self.cpu_secs,
            "cpu_total_secs": self.stopped.cpu_secs,
            "make_secs": self.make_secs,
            "reap_secs": self.reap_secs,
            "stop_secs": self.stopped.stop_secs,
            "last_reap_to_summary_secs": self.last_reap_to_summary_secs,
        })
    }
}

/// `spawners` × `spawn never --children N --subreaper --json` at once under `tracer`; SIGTERM
/// them all once every zombie is out, then stop the collector as soon as the last is reaped.
pub fn scale(ctx: &Ctx, tracer: Tracer, spawners: usize, children: u32) -> Result<Scale> {
    let running = tracer::start(&ctx.tools, tracer, &ctx.tmp)?;
    let began = Instant::now();
    let mut kids: Vec<(Child, std::path::PathBuf)> = Vec::new();
    let spawn_all = || -> Result<Vec<(Child, std::path::PathBuf)>> {
        let mut kids = Vec::new();
        for i in 0..spawners {
            let path = ctx.tmp.join(format!("scale-{i}.out"));
            let child = Command::new(&ctx.tools.zombietrace)
                .args(["spawn", "never", "--json", "--subreaper", "--hold", "120s"])
                .args(["--children", &children.to_string()])
                .stdout(File::create(&path)?)
                .stderr(Stdio::null())
                .spawn()
                .context("starting spawn never")?;
            kids.push((child, path));
        }
        Ok(kids)
    };
    let result = spawn_all().and_then(|k| {
        kids = k;
        wait_ready(&kids, Duration::from_secs(120))
    });
    let parents = match result {
        Ok(parents) => parents,
        Err(err) => {
            for (child, _) in &mut kids {
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = running.stop(Duration::from_secs(60));
            return Err(err);
        }
    };
    let make_secs = began.elapsed().as_secs_f64();
    // Held a while: the collector ticks, notices the leaks and diagnoses them.
    thread::sleep(Duration::from_secs(3));
    let rss_held_kib = running.rss_kib();
    let reaping = Instant::now();
    for (child, _) in &kids {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    }
    let mut reaped = 0;
    let mut made = 0;
    for (child, path) in &mut kids {
        child.wait()?;
        let done = fs::read_to_string(path.as_path()).unwrap_or_default();
        let done: Value = done
            .lines()
            .rev()
            .find(|l| l.contains(r#""event":"done""#))
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null);
        reaped += done["reaped"].as_u64().unwrap_or(0);
        made += done["children"].as_u64().unwrap_or(0);
    }
    let last_reap = Instant::now();
    let reap_secs = reaping.elapsed().as_secs_f64();
    let cpu_secs = running.cpu_ns() as f64 / 1e9;
    let output = running.output.clone();
    let stopped = running.stop(Duration::from_secs(120))?;
    let last_reap_to_summary_secs = last_reap.elapsed().as_secs_f64();
    let seen = output
        .map(|p| parse::read(&p, tracer, &parents, ""))
        .unwrap_or_default();
    Ok(Scale {
        tracer,
        spawners,
        made,
        reaped,
        seen,
        stopped,
        rss_held_kib,
        cpu_secs,
        make_secs,
        reap_secs,
        last_reap_to_summary_secs,
        parents,
    })
}

/// Waits for every spawner's `ready` line; returns their parents' pids.
fn wait_ready(kids: &[(Child, std::path::PathBuf)], timeout: Duration) -> Result<Vec<u32>> {
    let began = Instant::now();
    loop {
        let mut parents = Vec::new();
        for (_, path) in kids {
            let text = fs::read_to_string(path).unwrap_or_default();
            let ready = text.lines().find(|l| l.contains(r#""event":"ready""#));
            if let Some(v) = ready.and_then(|l| serde_json::from_str::<Value>(l).ok()) {
                parents.push(v["parent_pid"].as_u64().unwrap_or(0) as u32);
            }
        }
        if parents.len() == kids.len() {
            return Ok(parents);
        }
        if began.elapsed() > timeout {
            bail!(
                "{} of {} spawners ready after {timeout:?}",
                parents.len(),
                kids.len()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

pub struct Stress {
    pub secs: u64,
    pub bogo_ops: u64,
    pub traced: Traced,
}

impl Stress {
    pub fn to_json(&self) -> Value {
        let s = self.traced.seen.summary.as_ref();
        json!({
            "command": format!("stress-ng --vfork 2 --timeout {}s", self.secs),
            "bogo_ops": self.bogo_ops,
            "summary_events": s.map(|s| s.events),
            "summary_zombies": s.map(|s| s.zombies),
            "summary_reaped": s.map(|s| s.reaped),
            "lost": s.map(|s| s.lost),
            "output_lines": self.traced.seen.lines,
            "cpu_share_of_one_core": self.traced.cpu_share(),
            "max_rss_kib": self.traced.stopped.max_rss_kib,
        })
    }
}

/// `stress-ng --vfork 2 --timeout Ns` under `zombietrace --json > file`.
pub fn stress(ctx: &Ctx, secs: u64) -> Result<Stress> {
    let mut bogo_ops = 0;
    let traced = traced(ctx, Tracer::ZtJson, "stress-ng-vfork", || {
        let start_ns = workload::now_ns();
        let out = Command::new(&ctx.tools.stress_ng)
            .args([
                "--vfork",
                "2",
                "--timeout",
                &format!("{secs}s"),
                "--metrics-brief",
            ])
            .output()
            .context("running stress-ng")?;
        let end_ns = workload::now_ns();
        if !out.status.success() {
            bail!("stress-ng failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        // "stress-ng: metrc: [pid] vfork  65897  3.01 …"
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        bogo_ops = text
            .lines()
            .filter_map(|l| l.split_once("] ").map(|(_, r)| r))
            .find_map(|r| {
                r.strip_prefix("vfork")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        let secs_run = (end_ns - start_ns) as f64 / 1e9;
        let load = Load {
            exits: bogo_ops,
            rate: bogo_ops as f64 / secs_run,
            secs: secs_run,
            parents: Vec::new(),
            start_ns,
            end_ns,
            steady_rate: None,
        };
        Ok((load, None))
    })?;
    Ok(Stress {
        secs,
        bogo_ops,
        traced,
    })
}
