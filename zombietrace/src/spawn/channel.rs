//! The pipe from the spawner's other processes (parents) back to the top, which prints every
//! line: one JSON message per line. Where several processes write to one pipe (storm), their
//! messages are short: a write of at most PIPE_BUF bytes is atomic, so they never interleave.
//! Longer messages (a list of 1000 pids) come from a pipe's only writer.

use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::process::{self, Pid};
use super::truth::ChildRecord;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "m", rename_all = "snake_case")]
pub enum Msg {
    /// A parent forked these children.
    Forked { parent: Pid, pids: Vec<Pid> },
    /// A parent's children are in place (zombies, or already autoreaped) and its hold begins.
    Holding { parent: Pid, pids: Vec<Pid> },
    /// A fate the sender saw first-hand.
    Child(ChildRecord),
    /// A parent's hold ended; how many SIGCHLD its handler caught.
    Released { parent: Pid, sigchld: u64 },
    /// A storm parent's totals.
    Storm {
        parent: Pid,
        exits: u64,
        start_ns: u64,
        end_ns: u64,
    },
    /// contended: the CPU hog's first reading once it began spinning, and its last.
    Hog { start_ns: u64, end_ns: u64 },
    /// A fatal error in another process of the spawner.
    Error { message: String },
}

/// The writing end, used in a forked process.
#[derive(Clone, Copy, Debug)]
pub struct MsgWriter(pub RawFd);

impl MsgWriter {
    pub fn send(&self, msg: &Msg) -> io::Result<()> {
        let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
        line.push(b'\n');
        process::write_all(self.0, &line)
    }

    /// Reports an error to the top; the top turns it into the spawner's error.
    pub fn send_error(&self, err: &anyhow::Error) {
        let mut message = format!("{err:#}");
        message.truncate(3000);
        let _ = self.send(&Msg::Error { message });
    }
}

/// The reading end, in the top: non-blocking, fed when poll says it is readable.
#[derive(Debug)]
pub struct MsgReader {
    fd: OwnedFd,
    buf: Vec<u8>,
    pub eof: bool,
}

impl MsgReader {
    pub fn new(fd: OwnedFd) -> Self {
        MsgReader {
            fd,
            buf: Vec::new(),
            eof: false,
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads what is there without blocking; sets `eof` when every writer has closed.
    pub fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 16384];
        loop {
            // SAFETY: `chunk` is writable for its length.
            let n =
                unsafe { libc::read(self.fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if n > 0 {
                self.buf.extend_from_slice(&chunk[..n as usize]);
                continue;
            }
            if n == 0 {
                self.eof = true;
                return Ok(());
            }
            match process::errno() {
                libc::EINTR => continue,
                libc::EAGAIN => return Ok(()),
                _ => {
                    return Err(io::Error::last_os_error())
                        .context("reading from a spawner process");
                }
            }
        }
    }

    /// The next complete message, if one has arrived. An `Error` message becomes an error.
    pub fn next(&mut self) -> anyhow::Result<Option<Msg>> {
        let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let line: Vec<u8> = self.buf.drain(..=end).collect();
        let msg: Msg = serde_json::from_slice(&line[..end])
            .context("a garbled message from a spawner process")?;
        if let Msg::Error { message } = msg {
            bail!("{message}");
        }
        Ok(Some(msg))
    }
}
