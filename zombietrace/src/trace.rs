//! A tracing run: load the probes, feed every ring-buffer record to the pipeline until told to
//! stop, detach, and let the pipeline finish (the summary).

use std::{io, os::fd::AsRawFd, process::ExitCode, time::Duration};

use anyhow::{Context as _, Result};
use aya::maps::{MapData, RingBuf};
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
    time::{MissedTickBehavior, interval, sleep},
};

use crate::{
    clock::{WallClock, monotonic_ns},
    config::{Config, Mode},
    diagnose::{ProcHost, scan::scan},
    kernel::{least_privilege, loader::Probes},
    output,
    pipeline::{Pipeline, tracker::Existing},
    serve,
    sys::proc,
};

/// How often the ring buffer is drained when the kernel does not wake us (it wakes us early
/// only when the buffer fills up), and the books are closed on freed tasks.
const POLL: Duration = Duration::from_millis(50);

pub fn run(config: Config) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    runtime.block_on(trace(config))
}

async fn trace(config: Config) -> Result<ExitCode> {
    // Load: the listening socket first (a port in use fails before anything is loaded), procfs
    // (it seeds who forked whom), then the probes.
    let listener = match &config.mode {
        Mode::Serve { listen, .. } => Some(serve::bind(*listen).await?),
        _ => None,
    };
    if let Some(root) = &config.proc_root {
        proc::set_root(root.clone());
    }
    let procs = scan();
    let first_parents: Vec<(u32, u32)> = procs.processes.iter().map(|p| (p.pid, p.ppid)).collect();
    let user = config
        .user
        .as_deref()
        .map(least_privilege::lookup)
        .transpose()?;
    let (mut probes, ring) = Probes::load(config.settings(), &first_parents)?;
    // Before any thread starts (they inherit the reduced sets).
    let holds = least_privilege::drop_after_attach(user.as_ref())
        .context("dropping privileges after attaching")?;
    let started = monotonic_ns();
    let lines: (&str, Box<dyn io::Write + Send>) = match config.mode {
        Mode::Serve { .. } => ("stderr", Box::new(io::stderr())),
        _ => ("stdout", Box::new(io::stdout())),
    };
    let outputs = output::consumers(&config, WallClock::now(), lines, &kernel_release())
        .context("starting the output thread")?;
    let mut pipeline = Pipeline::new(
        config.pipeline_settings(),
        Box::new(ProcHost::new(config.cgroup_root.clone())),
        outputs.consumers,
        started,
    );
    let readiness = listener
        .zip(outputs.registry)
        .map(|(listener, registry)| serve::start(listener, registry));
    eprintln!(
        "zombietrace: tracing, {} probes attached ({}); Ctrl-C to stop",
        probes.attached,
        probes.reads.describe()
    );
    eprintln!("zombietrace: {}", holds.describe());
    if let (Some(ready), Mode::Serve { listen, .. }) = (&readiness, &config.mode) {
        ready.set(true);
        eprintln!("zombietrace: serving http://{listen}/metrics and /healthz");
    }
    for z in &procs.zombies {
        pipeline.adopt(Existing {
            pid: z.stat.pid,
            nspids: z.nspids(),
            ppid: z.stat.ppid,
            comm: z.stat.comm.clone(),
            parent_comm: procs.comm_of(z.stat.ppid).unwrap_or("").to_string(),
            cgroup: z.cgroup.clone(),
        });
    }
    drop(procs);

    // SAFETY: RingFd owns the map's fd, which stays open and unchanged until it is dropped
    // together with the AsyncFd.
    let mut ring = unsafe { AsyncFd::register(RingFd(ring)) }
        .map_err(|e| e.into_parts().1)
        .context("watching the ring buffer")?;
    // A shell starts background jobs with SIGINT ignored, and tokio leaves an ignored signal
    // ignored: restore the default first, so `kill -INT` stops the trace like Ctrl-C does.
    // SAFETY: resetting a disposition before any handler for it exists.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut ticker = interval(POLL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline = config.duration;
    let stop = async {
        match deadline {
            Some(d) => sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);

    // Loop: every record through the pipeline; periodic work on the tick.
    let stopped = loop {
        tokio::select! {
            _ = sigint.recv() => break Ok(()),
            _ = sigterm.recv() => break Ok(()),
            _ = &mut stop => break Ok(()),
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                drain(&mut guard.get_inner_mut().0, &mut pipeline);
                guard.clear_ready();
            }
            _ = ticker.tick() => {
                drain(&mut ring.get_mut().0, &mut pipeline);
                pipeline.tick(monotonic_ns(), probes.counters());
                probes.flush_logs();
            }
        }
        if let Err(err) = pipeline.flush() {
            break Err(err);
        }
        if pipeline.stop_requested() {
            break Ok(());
        }
    };

    // Shutdown: detach first, so a fork storm cannot keep the final drain going.
    if let Some(ready) = &readiness {
        ready.set(false);
    }
    probes.detach();
    match stopped {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(err) => return Err(err).context("writing to stdout"),
        Ok(()) => {}
    }
    drain(&mut ring.get_mut().0, &mut pipeline);
    pipeline
        .finish(monotonic_ns(), probes.counters())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// The running kernel's release (`uname -r`).
fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn drain(ring: &mut RingBuf<MapData>, pipeline: &mut Pipeline) {
    while let Some(item) = ring.next() {
        pipeline.record(&item);
    }
}

/// The ring buffer, as something tokio can poll.
struct RingFd(RingBuf<MapData>);

impl AsRawFd for RingFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}
