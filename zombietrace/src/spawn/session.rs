//! The top process's state for one scenario run: output, stop pipe, lifeline and registry,
//! with the waits (always wakeable by a stop signal), forks and reaps built on them.

use std::os::fd::RawFd;

use anyhow::{Context as _, bail};

use super::channel::{Msg, MsgReader, MsgWriter};
use super::cleanup::{self, Lifeline, Registry, StopPipe};
use super::cli::ReapMethod;
use super::fate::Fate;
use super::process::{self, Pid, now_ns, pollfd};
use super::truth::{Reap, Reaped, Reporter};

pub enum Wake {
    Stop,
    Timeout,
    Events,
}

pub enum Recv {
    Msg(Msg),
    Eof,
    Timeout,
    Stop,
}

pub struct Session {
    pub out: Reporter,
    pub reg: Registry,
    pub stop: StopPipe,
    pub lifeline: Lifeline,
    pub top: Pid,
}

impl Session {
    pub fn new(scenario: &'static str, json: bool) -> anyhow::Result<Self> {
        cleanup::reset_inherited();
        let stop = cleanup::install_stop().context("installing the SIGINT/SIGTERM handlers")?;
        Ok(Session {
            out: Reporter::new(scenario, json),
            reg: Registry::default(),
            stop,
            lifeline: Lifeline::new().context("creating the lifeline pipe")?,
            // SAFETY: getpid has no preconditions.
            top: unsafe { libc::getpid() },
        })
    }

    pub fn stopped(&self) -> Option<i32> {
        cleanup::stop_signal()
    }

    /// Polls `fds` until an event, the deadline, or (with `watch_stop`) a stop signal.
    pub fn poll(
        &self,
        fds: &mut [libc::pollfd],
        deadline: Option<u64>,
        watch_stop: bool,
    ) -> anyhow::Result<Wake> {
        if watch_stop && self.stopped().is_some() {
            return Ok(Wake::Stop);
        }
        let mut all: Vec<libc::pollfd> = Vec::with_capacity(fds.len() + 1);
        if watch_stop {
            all.push(pollfd(self.stop.fd(), libc::POLLIN));
        }
        all.extend(fds.iter().map(|p| pollfd(p.fd, p.events)));
        let any = process::poll_until(&mut all, deadline).context("poll")?;
        let skip = usize::from(watch_stop);
        for (dst, src) in fds.iter_mut().zip(&all[skip..]) {
            dst.revents = src.revents;
        }
        if watch_stop && self.stopped().is_some() {
            return Ok(Wake::Stop);
        }
        if any && fds.iter().any(|p| p.revents != 0) {
            return Ok(Wake::Events);
        }
        Ok(Wake::Timeout)
    }

    /// Sleeps until `deadline`; false if a stop signal came first.
    pub fn sleep_until(&self, deadline: u64) -> anyhow::Result<bool> {
        while now_ns() < deadline {
            if let Wake::Stop = self.poll(&mut [], Some(deadline), true)? {
                return Ok(false);
            }
        }
        Ok(self.stopped().is_none())
    }

    /// The next message from `reader`, or EOF, the deadline, or a stop signal.
    pub fn recv(
        &self,
        reader: &mut MsgReader,
        deadline: Option<u64>,
        watch_stop: bool,
    ) -> anyhow::Result<Recv> {
        loop {
            if let Some(msg) = reader.next()? {
                return Ok(Recv::Msg(msg));
            }
            if reader.eof {
                return Ok(Recv::Eof);
            }
            let mut fds = [pollfd(reader.fd(), libc::POLLIN)];
            match self.poll(&mut fds, deadline, watch_stop)? {
                Wake::Stop => return Ok(Recv::Stop),
                Wake::Timeout => return Ok(Recv::Timeout),
                Wake::Events => reader.fill()?,
            }
        }
    }

    /// Forks a child of the top and tracks it. In the child: default signal handling, the
    /// top's pipes closed, SIGKILL when the top dies (`die_with_top`), then `body`, then
    /// `_exit`. A failing `body` reports through `errors` when given (else to stderr).
    pub fn fork(
        &mut self,
        die_with_top: bool,
        errors: Option<MsgWriter>,
        body: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<Pid> {
        let pid = process::fork()?;
        if pid == 0 {
            cleanup::reset_in_child();
            self.stop.close_in_child();
            self.lifeline.close_write_in_child();
            if die_with_top {
                process::die_with_parent(self.top);
            }
            process::run_child(body, |err| match errors {
                Some(w) => w.send_error(err),
                None => eprintln!("zombietrace: {err:#}"),
            });
        }
        if let Err(err) = self.reg.track_child(pid) {
            // SAFETY: `pid` is our unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = process::wait4(pid, 0);
            return Err(err).context("pidfd_open on a new child");
        }
        Ok(pid)
    }

    /// Forks `n` children of the top that end at once as `fate` says.
    pub fn fork_fated(&mut self, n: u32, fate: Fate) -> anyhow::Result<Vec<Pid>> {
        (0..n)
            .map(|_| self.fork(false, None, move || fate.die()))
            .collect()
    }

    /// Reaps our child `pid` with `method`; returns its status and CLOCK_MONOTONIC right before
    /// the call and right after it returned.
    pub fn reap(&mut self, pid: Pid, method: ReapMethod) -> anyhow::Result<Reaped> {
        let pidfd = match method {
            ReapMethod::Pidfd => self.reg.pidfd(pid).context("no pidfd for a child")?,
            _ => -1,
        };
        let call_ns = now_ns();
        let result = match method {
            ReapMethod::Wait4 => process::wait4(pid, 0),
            ReapMethod::Waitid => process::waitid(libc::P_PID, pid as u32, libc::WEXITED),
            ReapMethod::Pidfd => process::waitid(libc::P_PIDFD, pidfd as u32, libc::WEXITED),
        };
        let ns = now_ns();
        let (got, status) = match result {
            Ok(Some(x)) => x,
            Ok(None) => bail!("reaping {pid}: nothing to reap"),
            Err(err) => return Err(err).with_context(|| format!("reaping {pid}")),
        };
        if got != pid {
            bail!("reaping {pid} returned {got}");
        }
        self.reg.forget(pid);
        Ok(Reaped {
            status,
            call_ns,
            ns,
        })
    }

    /// CLOCK_MONOTONIC once the exit of our child `pid`, whose pidfd has turned readable, is
    /// fully notified. The pidfd wakes its pollers at the start of the notification, before the
    /// child-exit signal is sent (the moment a tracer sees the zombie), and an emulated CPU can
    /// stall milliseconds in between. The exiting task holds the tasklist lock for writing
    /// throughout; a WNOWAIT peek takes it for reading, so a clock read after the peek comes
    /// after the whole notification, and the zombie moment is at or before it.
    pub fn seen_gone(&self, pid: Pid) -> anyhow::Result<u64> {
        process::waitid(
            libc::P_PID,
            pid as u32,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
        .with_context(|| format!("waitid(WNOWAIT) on {pid}"))?;
        Ok(now_ns())
    }

    pub fn pidfd(&self, pid: Pid) -> anyhow::Result<RawFd> {
        self.reg
            .pidfd(pid)
            .with_context(|| format!("no pidfd for {pid}"))
    }

    /// The report pipe for processes forked next: (reader for the top, writer for them).
    /// The top must drop `keep_write` once it has forked every writer.
    pub fn report_pipe(&self) -> anyhow::Result<(MsgReader, std::os::fd::OwnedFd)> {
        let (read, write) = process::pipe(true).context("creating the report pipe")?;
        Ok((MsgReader::new(read), write))
    }
}

impl ReapMethod {
    pub fn reap(self) -> Reap {
        match self {
            ReapMethod::Wait4 => Reap::Wait4,
            ReapMethod::Waitid => Reap::Waitid,
            ReapMethod::Pidfd => Reap::WaitidPidfd,
        }
    }
}
