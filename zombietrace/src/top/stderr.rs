//! stderr while the view is up: when it is the terminal, what the tracer writes there
//! (warnings, its kernel programs' logs) would be drawn over the view. So fd 2 becomes a pipe
//! for that time; a thread reads it into memory, the view shows the latest line, and when the
//! terminal is given back every line kept is written to the real stderr. Nothing is lost
//! silently: past `KEPT` lines, the oldest are counted and said to be missing.

use std::{
    collections::VecDeque,
    fs::File,
    io::{self, BufRead, BufReader, IsTerminal, Write},
    os::fd::{FromRawFd, OwnedFd},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI32, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// Lines kept for the real stderr.
const KEPT: usize = 1000;
/// How long the latest line stays on the view.
const SHOWN_FOR: Duration = Duration::from_secs(10);

/// The real stderr, duplicated while fd 2 is the pipe (-1 when it is not).
static SAVED: AtomicI32 = AtomicI32::new(-1);

#[derive(Default)]
struct Kept {
    lines: VecDeque<String>,
    /// Lines that did not fit.
    missing: u64,
    latest: Option<(String, Instant)>,
}

pub struct Capture {
    kept: Arc<Mutex<Kept>>,
    reader: Option<JoinHandle<()>>,
}

impl Capture {
    /// Puts a pipe in the place of fd 2 when stderr is a terminal (else leaves it: a file or
    /// a pipe is not drawn over).
    pub fn start() -> io::Result<Option<Capture>> {
        if !io::stderr().is_terminal() {
            return Ok(None);
        }
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two fds into the array; dup and dup2 act on fds we own.
        let (read, saved) = unsafe {
            if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                return Err(io::Error::last_os_error());
            }
            let read = OwnedFd::from_raw_fd(fds[0]);
            let write = OwnedFd::from_raw_fd(fds[1]);
            let saved = libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3);
            if saved < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&write), 2) < 0 {
                let err = io::Error::last_os_error();
                libc::close(saved);
                return Err(err);
            }
            // fd 2 is now the pipe's only writer: restoring fd 2 ends the reader.
            drop(write);
            (read, saved)
        };
        SAVED.store(saved, Ordering::SeqCst);
        let kept = Arc::new(Mutex::new(Kept::default()));
        let into = kept.clone();
        let reader = thread::Builder::new()
            .name("zombietrace-stderr".into())
            .spawn(move || {
                for line in BufReader::new(File::from(read)).lines() {
                    let Ok(line) = line else { break };
                    let mut k = into.lock().unwrap_or_else(|e| e.into_inner());
                    k.latest = Some((line.clone(), Instant::now()));
                    k.lines.push_back(line);
                    if k.lines.len() > KEPT {
                        k.lines.pop_front();
                        k.missing += 1;
                    }
                }
            });
        match reader {
            Ok(reader) => Ok(Some(Capture {
                kept,
                reader: Some(reader),
            })),
            Err(err) => {
                release_now();
                Err(err)
            }
        }
    }

    /// The latest line, while it is recent.
    pub fn latest(&self) -> Option<String> {
        let k = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        k.latest
            .as_ref()
            .filter(|(_, at)| at.elapsed() < SHOWN_FOR)
            .map(|(line, _)| line.clone())
    }

    /// fd 2 back in place; the lines written meanwhile (the first says how many are missing).
    pub fn release(mut self) -> Vec<String> {
        release_now();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let mut k = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let mut lines = Vec::with_capacity(k.lines.len() + 1);
        if k.missing > 0 {
            lines.push(format!(
                "zombietrace: {} earlier lines written to stderr during top were not kept",
                k.missing
            ));
        }
        lines.extend(k.lines.drain(..));
        lines
    }
}

/// Puts the real stderr back on fd 2 (once; then a no-op). Safe to call from a panic hook.
pub fn release_now() {
    let saved = SAVED.swap(-1, Ordering::SeqCst);
    if saved >= 0 {
        // SAFETY: `saved` is our duplicate of the real stderr; dup2 closes the pipe's end.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
    }
}

/// Writes lines kept to the (real) stderr.
pub fn replay(lines: &[String]) {
    let mut err = io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}
