//! The soak: `zombietrace --json` for a long time (30 minutes by default) under ~10,000 exits/s
//! from parents that come and go, pids wrapping around pid_max every few seconds. Its stdout
//! and the workload's own record of every process (soakload.rs) are read through pipes and
//! paired as they come (soakcheck.rs), so nothing the size of the run is kept or written;
//! the collector's VmRSS is sampled every few seconds (its slope: soakreport.rs).

use std::{
    fs::{self, File},
    io::{BufRead as _, BufReader, Read as _},
    os::fd::{FromRawFd as _, OwnedFd},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use super::{
    measure::Ctx,
    soakcheck::{self, AGE, Checker, Event, Truth},
    soakreport::Soak,
    tracer::{self, Tracer},
};
use anyhow::{Context as _, Result, bail};

/// What the soak does.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub secs: f64,
    /// Exits per second the workload's children are scheduled at (its parents add 1/batch).
    pub rate: u32,
    /// Parents alive at a time, and children per parent.
    pub slots: u32,
    pub batch: u32,
    /// VmRSS sampling interval.
    pub sample: Duration,
}

impl Plan {
    pub fn new(secs: f64) -> Plan {
        Plan {
            secs,
            rate: 10_000,
            slots: 4,
            batch: 50,
            sample: Duration::from_secs(5),
        }
    }
}

enum Msg {
    Event(Event),
    Truths(Vec<Truth>),
}

/// This process's CPU so far (all threads), seconds.
fn own_cpu_secs() -> f64 {
    // SAFETY: a zeroed rusage is valid; getrusage fills it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn loadavg() -> f64 {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0.0)
}

/// A pipe: (read end, write end), both close-on-exec.
fn pipe() -> Result<(File, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe");
    }
    // SAFETY: both fds are new and ours.
    Ok(unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The workload's records from its stdout, in batches.
fn read_truths(mut from: impl std::io::Read, to: mpsc::Sender<Msg>) {
    let mut buf = vec![0u8; 64 * Truth::SIZE * 16];
    let mut have = 0;
    loop {
        let n = match from.read(&mut buf[have..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        have += n;
        let whole = have / Truth::SIZE * Truth::SIZE;
        let batch = buf[..whole].chunks_exact(Truth::SIZE).map(Truth::parse);
        if to.send(Msg::Truths(batch.collect())).is_err() {
            return;
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
    }
}

/// Progress the checker publishes for the minute lines.
#[derive(Default)]
struct Progress {
    records: AtomicU64,
    matched: AtomicU64,
    bad: AtomicU64,
}

pub fn soak(ctx: &Ctx, plan: Plan) -> Result<Soak> {
    let pid_max: usize = fs::read_to_string("/proc/sys/kernel/pid_max")?
        .trim()
        .parse()?;
    let (read_end, write_end) = pipe()?;
    let running = tracer::start_with(
        &ctx.tools,
        Tracer::ZtJson,
        &ctx.tmp,
        Some(Stdio::from(write_end)),
        &[],
    )?;
    let (tx, rx) = mpsc::channel::<Msg>();
    let lines_tx = tx.clone();
    let lines = thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 20, read_end);
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 0) {
            let event = soakcheck::parse(&line);
            if event != Event::Other && lines_tx.send(Msg::Event(event)).is_err() {
                break;
            }
            line.clear();
        }
    });
    let mut load = match Command::new(&ctx.tools.soakload)
        .arg(plan.rate.to_string())
        .arg(plan.secs.to_string())
        .arg(plan.slots.to_string())
        .arg(plan.batch.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(load) => load,
        Err(err) => {
            let _ = running.stop(Duration::from_secs(60));
            return Err(err).context("starting the soak's workload");
        }
    };
    let top = load.id();
    let truths_from = load.stdout.take().expect("piped");
    let truths = thread::spawn(move || read_truths(truths_from, tx));
    let mut err_from = load.stderr.take().expect("piped");
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = err_from.read_to_string(&mut text);
        text
    });
    let progress = Arc::new(Progress::default());
    let published = progress.clone();
    let checker = thread::spawn(move || {
        let mut c = Checker::new(pid_max);
        c.ignore_pid = top;
        let began = Instant::now();
        let mut expired = Instant::now();
        loop {
            let now = began.elapsed().as_nanos() as u64;
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(Msg::Event(e)) => c.event(e, now),
                Ok(Msg::Truths(ts)) => ts.into_iter().for_each(|t| c.truth(t, now)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if expired.elapsed() >= Duration::from_secs(1) {
                c.expire(now, AGE);
                expired = Instant::now();
                published.records.store(c.records, Relaxed);
                published.matched.store(c.matched, Relaxed);
                let bad = c.mismatched + c.missing_reaps + c.unexpected_reaps;
                published.bad.store(bad, Relaxed);
            }
        }
        // Both streams have ended: whatever is still unpaired never will be.
        c.expire(u64::MAX, 0);
        c
    });

    let began = Instant::now();
    let (tracer_cpu0, own_cpu0) = (running.cpu_ns(), own_cpu_secs());
    let mut rss = Vec::new();
    let mut loadavgs = Vec::new();
    let mut next_sample = began;
    let mut next_minute = began + Duration::from_secs(60);
    let deadline = began + Duration::from_secs_f64(plan.secs * 2.0 + 120.0);
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting for our own child, with valid out-pointers.
        let r = unsafe { libc::wait4(top as i32, &mut status, libc::WNOHANG, &mut usage) };
        if r == top as i32 {
            break;
        }
        let now = Instant::now();
        if now >= next_sample {
            rss.push((began.elapsed().as_secs_f64(), running.rss_kib().0));
            next_sample += plan.sample;
        }
        if now >= next_minute {
            loadavgs.push(loadavg());
            next_minute += Duration::from_secs(60);
            eprintln!(
                "xtask bench: soak {:.0}/{:.0} min: {} processes checked, {} paired, {} wrong or \
                 missing so far; collector VmRSS {} KiB; load average {:.2}",
                began.elapsed().as_secs_f64() / 60.0,
                plan.secs / 60.0,
                progress.records.load(Relaxed),
                progress.matched.load(Relaxed),
                progress.bad.load(Relaxed),
                rss.last().map_or(0, |s| s.1),
                loadavgs.last().unwrap_or(&0.0)
            );
        }
        if r < 0 || now > deadline {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(top as i32, libc::SIGKILL) };
            let _ = running.stop(Duration::from_secs(60));
            bail!("the soak's workload did not end in time (or could not be waited for)");
        }
        thread::sleep(Duration::from_millis(100));
    }
    let tracer_cpu_secs = running.cpu_ns().saturating_sub(tracer_cpu0) as f64 / 1e9;
    let checker_cpu_secs = own_cpu_secs() - own_cpu0;
    let (last_rss, hwm_kib) = running.rss_kib();
    rss.push((began.elapsed().as_secs_f64(), last_rss));
    loadavgs.push(loadavg());
    // Let the collector drain what the last processes made before it is told to stop.
    thread::sleep(Duration::from_secs(1));
    let stopped = running.stop(Duration::from_secs(120));
    let _ = lines.join();
    let _ = truths.join();
    let errors = errors.join().unwrap_or_default();
    let check = checker
        .join()
        .map_err(|_| anyhow::anyhow!("the checker panicked"))?;
    let stopped = stopped?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("the soak's workload failed (status {status:#x}): {errors}");
    }
    // "ztsoak: parents P wraps W orphans O start_ns S end_ns E"
    let word = |key: &str| -> u64 {
        let mut words = errors.split_whitespace();
        words.find(|w| *w == key);
        words.next().and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Soak {
        plan,
        records: check.records,
        load_secs: word("end_ns").saturating_sub(word("start_ns")) as f64 / 1e9,
        parents: word("parents"),
        wraps: word("wraps"),
        load_cpu_secs: tv(usage.ru_utime) + tv(usage.ru_stime),
        rss,
        hwm_kib,
        tracer_cpu_secs,
        checker_cpu_secs,
        loadavg: loadavgs,
        stopped,
        check,
    })
}
