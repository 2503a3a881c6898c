//! Waiting for something that may never answer, for a bounded time: a read of /proc/<pid>
//! blocks while that process holds its memory map's lock (stuck in a page fault on a dead NFS
//! mount, say), and the event loop must never stall behind it.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

/// Calls still running on their threads (answered or not): the ones that time out stay here
/// until they return.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// At most this many calls may be left running behind at once; beyond, `within` refuses at
/// once (the cause, a stuck /proc, is already known).
pub const MAX_RUNNING: usize = 4;

/// Runs `f` on a thread of its own and waits at most `limit` for its answer; `None` when it
/// did not answer in time (it is left to finish on its own), or too many are still running.
pub fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    if RUNNING.fetch_add(1, Ordering::SeqCst) >= MAX_RUNNING {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        return None;
    }
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name("zombietrace-procfs".into())
        .spawn(move || {
            let answer = f();
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(answer);
        });
    if spawned.is_err() {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        return None;
    }
    rx.recv_timeout(limit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{sync::Arc, sync::Barrier, time::Instant};

    #[test]
    fn answers_in_time_and_gives_up_on_the_stuck() {
        assert_eq!(within(Duration::from_secs(5), || 7), Some(7));
        let release = Arc::new(Barrier::new(MAX_RUNNING + 1));
        let started = Instant::now();
        for _ in 0..MAX_RUNNING {
            let release = release.clone();
            let stuck = within(Duration::from_millis(20), move || {
                release.wait();
            });
            assert_eq!(stuck, None);
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        // Every slot is taken by a stuck call: refused at once, without waiting.
        let refused = Instant::now();
        assert_eq!(within(Duration::from_secs(5), || 1), None);
        assert!(refused.elapsed() < Duration::from_millis(100));
        release.wait();
        // Once they return, calls run again.
        let deadline = Instant::now() + Duration::from_secs(5);
        while RUNNING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(within(Duration::from_secs(5), || 2), Some(2));
    }
}
