//! Why a reap took the time it took: a zombie's time split into phases, from the reaping wait
//! call's own moments.
//!
//! - `ptrace_ns`: a ptracer (strace, gdb) was told of the exit first; until it collected it,
//!   the real parent could not reap.
//! - `ask_ns`: from the moment the real parent could reap until it entered the wait call that
//!   did (0 when it was already waiting): the parent did not ask — an application matter.
//! - `wake_ns`: from the later of that moment and the call's entry until the call returned: the
//!   wake-up and the CPU came late — a scheduling matter.
//! - `handler_ns`: for a parent that catches SIGCHLD, when the handler started (the signal's
//!   delivery), counted from the zombie moment: a mark inside `ptrace_ns + ask_ns`.
//!
//! `ptrace_ns + ask_ns + wake_ns` is the zombie time, whenever the entry is known (it is not
//! for a call entered before tracing started).

use serde::{Deserialize, Serialize};

use super::summary::Latency;
use crate::duration::format_ns;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    pub ptrace_ns: Option<u64>,
    pub ask_ns: Option<u64>,
    pub wake_ns: Option<u64>,
    pub handler_ns: Option<u64>,
}

/// The moments of one wait-based reap (CLOCK_MONOTONIC ns).
pub struct Moments {
    /// When the process became a zombie.
    pub zombie: u64,
    /// When a ptracer collected its exit, if one was told of it first.
    pub traced_until: Option<u64>,
    /// When the reaping call was entered, and when it returned.
    pub entered: Option<u64>,
    pub returned: u64,
    /// When a SIGCHLD was last delivered to the reaper's handler.
    pub sigchld: Option<u64>,
}

impl Phases {
    pub fn of(m: &Moments) -> Phases {
        let available = m.traced_until.unwrap_or(m.zombie).max(m.zombie);
        let entered = m.entered.filter(|&e| e <= m.returned);
        Phases {
            ptrace_ns: m.traced_until.map(|t| t.saturating_sub(m.zombie)),
            ask_ns: entered.map(|e| e.saturating_sub(available)),
            wake_ns: entered.map(|e| m.returned.saturating_sub(e.max(available))),
            handler_ns: m
                .sigchld
                .filter(|&s| s >= m.zombie && s <= entered.unwrap_or(m.returned))
                .map(|s| s - m.zombie),
        }
    }
}

/// Zombie times below this are not slow: no verdict about phases.
const SLOW_NS: u64 = 10_000_000;

/// For a parent whose reaps are slow, which phase dominates, in words a person acts on;
/// `zombie` is its zombie-time distribution, `ask` and `wake` its phases', `handler` when its
/// SIGCHLD handler began (for reaps where one ran).
pub fn slow_reaper(
    zombie: &Latency,
    ask: &Latency,
    wake: &Latency,
    handler: &Latency,
) -> Option<String> {
    if zombie.count == 0 || zombie.p50.max(zombie.p99) < SLOW_NS || ask.count + wake.count == 0 {
        return None;
    }
    let (a50, w50, w99) = (format_ns(ask.p50), format_ns(wake.p50), format_ns(wake.p99));
    let h50 = format_ns(handler.p50);
    // Asking late while a SIGCHLD handler runs: either the handler itself starts late (most of
    // the ask is spent before it), or it runs in time and the wait comes later.
    if ask.p50 >= wake.p99 && handler.count > 0 {
        return Some(
            if handler.p50.saturating_mul(10) >= ask.p50.saturating_mul(9) {
                format!(
                    "reaps in its SIGCHLD handler, but the handler starts late (handler p50 {h50} \
                 after the exit; ask p50 {a50}; wake p50 {w50}): SIGCHLD is blocked or the \
                 process is busy; unblock SIGCHLD sooner, or also reap from its main loop"
                )
            } else {
                format!(
                    "catches SIGCHLD in time (handler p50 {h50}) but calls wait only later (ask p50 \
                 {a50}; wake p50 {w50}): reap in the handler, or right after it"
                )
            },
        );
    }
    Some(if ask.p50 >= wake.p99 {
        format!(
            "reaps late because it calls wait late: every ~{a50} (ask p50 {a50}; wake p50 \
             {w50}); wait sooner (block in wait, or reap on SIGCHLD)"
        )
    } else {
        format!(
            "is blocked in wait but runs late (wake p99 {w99}, p50 {w50}; ask p50 {a50}): CPU \
             contention or a late wake-up; look at what else runs on its CPU, and its priority"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn phases_add_up_to_the_zombie_time() {
        // Asked 300 ms late, answered 40 µs later.
        let p = Phases::of(&Moments {
            zombie: 1_000 * MS,
            traced_until: None,
            entered: Some(1_300 * MS),
            returned: 1_300 * MS + 40_000,
            sigchld: None,
        });
        assert_eq!(p.ask_ns, Some(300 * MS));
        assert_eq!(p.wake_ns, Some(40_000));
        assert_eq!(p.ptrace_ns, None);
        // Already waiting: nothing to ask; all of it is the wake-up.
        let p = Phases::of(&Moments {
            zombie: 1_000 * MS,
            traced_until: None,
            entered: Some(500 * MS),
            returned: 1_012 * MS,
            sigchld: Some(1_005 * MS),
        });
        assert_eq!((p.ask_ns, p.wake_ns), (Some(0), Some(12 * MS)));
        assert_eq!(
            p.handler_ns, None,
            "the handler ran after the call was entered"
        );
        // Under strace: held 2 ms by the tracer, then the real parent's own phases.
        let p = Phases::of(&Moments {
            zombie: 1_000 * MS,
            traced_until: Some(1_002 * MS),
            entered: Some(2_000 * MS),
            returned: 2_000 * MS + 50_000,
            sigchld: Some(1_003 * MS),
        });
        assert_eq!(p.ptrace_ns, Some(2 * MS));
        assert_eq!(p.ask_ns, Some(998 * MS));
        assert_eq!(p.wake_ns, Some(50_000));
        assert_eq!(p.handler_ns, Some(3 * MS));
        assert_eq!(
            p.ptrace_ns.unwrap() + p.ask_ns.unwrap() + p.wake_ns.unwrap(),
            1_000 * MS + 50_000
        );
        // Entered before tracing started: no phases.
        let p = Phases::of(&Moments {
            zombie: 1,
            traced_until: None,
            entered: None,
            returned: 9,
            sigchld: None,
        });
        assert_eq!((p.ask_ns, p.wake_ns), (None, None));
    }

    fn lat(p50: u64, p99: u64) -> Latency {
        Latency {
            count: 10,
            p50,
            p90: p99,
            p99,
            max: p99,
            log2: Vec::new(),
        }
    }

    #[test]
    fn the_dominant_phase_is_named() {
        let none = Latency::default();
        let v = slow_reaper(
            &lat(300 * MS, 310 * MS),
            &lat(298 * MS, 305 * MS),
            &lat(40_000, 60_000),
            &none,
        )
        .unwrap();
        assert!(v.contains("calls wait late: every ~298.0ms"), "{v}");
        let v = slow_reaper(
            &lat(12 * MS, 15 * MS),
            &lat(0, 0),
            &lat(11 * MS, 12 * MS),
            &none,
        )
        .unwrap();
        assert!(
            v.contains("blocked in wait but runs late (wake p99 12.0ms"),
            "{v}"
        );
        assert_eq!(
            slow_reaper(
                &lat(50_000, 90_000),
                &lat(0, 0),
                &lat(50_000, 90_000),
                &none
            ),
            None
        );
        // A handler that starts 99 ms after the exit, then reaps at once.
        let v = slow_reaper(
            &lat(100 * MS, 101 * MS),
            &lat(99 * MS + 900_000, 100 * MS),
            &lat(10_000, 20_000),
            &lat(99 * MS + 890_000, 100 * MS),
        )
        .unwrap();
        assert!(
            v.contains("the handler starts late (handler p50 99.9ms"),
            "{v}"
        );
        // A handler that runs at once, and a wait 300 ms later.
        let v = slow_reaper(
            &lat(300 * MS, 310 * MS),
            &lat(298 * MS, 305 * MS),
            &lat(40_000, 60_000),
            &lat(20_000, 30_000),
        )
        .unwrap();
        assert!(
            v.contains("catches SIGCHLD in time (handler p50 20us)"),
            "{v}"
        );
    }
}
