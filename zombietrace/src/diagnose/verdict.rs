//! The verdict: one line a person can act on, built only from the facts of a diagnosis.
//!
//! The line says what the parent is doing, what it does with SIGCHLD and how many zombies it
//! holds, then, after a colon, why it is not reaping and what to do. The first cause that
//! applies wins: init, stopped or traced, stuck in the kernel, a container init, SIGCHLD
//! ignored, blocked, caught, and last a parent that simply never waits.

use super::diagnosis::Diagnosis;
use super::sigchld::Sigchld;
use crate::duration::format_ns;

/// Zombies of init older than this mean init is not reaping (it normally reaps in moments).
const INIT_SLOW_NS: u64 = 5_000_000_000;

/// One line for a person, e.g. "python3 (pid 4121) sleeps in hrtimer_nanosleep with SIGCHLD
/// at default and 12 zombies, oldest 41s: it starts children and never waits for them; …".
/// `oldest_age_ns` is how long the oldest zombie has been one; 0 leaves the age out (unknown).
pub fn verdict(d: &Diagnosis, zombies: usize, oldest_age_ns: u64) -> String {
    format!(
        "{}: {}",
        situation(d, zombies, oldest_age_ns),
        cause(d, oldest_age_ns)
    )
}

/// When every zombie has one command name that is not the parent's, that is a fact worth a
/// sentence: either the children exec'd that program, or the parent was that program when it
/// forked them and has exec'd since (`sh -c 'cmd & exec sleep 30'`). procfs cannot tell which.
pub fn exec_hint(parent_comm: &str, zombie_comms: &[&str]) -> Option<String> {
    let first = *zombie_comms.first()?;
    if first == parent_comm || zombie_comms.iter().any(|c| *c != first) {
        return None;
    }
    let them = if zombie_comms.len() == 1 {
        "it"
    } else {
        "them"
    };
    let are = if zombie_comms.len() == 1 {
        "Its zombie is"
    } else {
        "Its zombies are"
    };
    Some(format!(
        "{are} named {first}, not {parent_comm}: either {them_} exec'd, or it was {first} when \
         it forked {them} and has since exec'd {parent_comm}, which does not wait for children \
         it did not start.",
        them_ = if them == "it" { "it" } else { "they" },
    ))
}

/// "python3 (pid 4121) sleeps in hrtimer_nanosleep with SIGCHLD at default and 12 zombies, oldest 41s"
fn situation(d: &Diagnosis, zombies: usize, oldest_age_ns: u64) -> String {
    let activity = match d.state {
        'R' => "is running".to_string(),
        'S' => match &d.wchan {
            Some(w) => format!("sleeps in {w}"),
            None if d.wchan_hidden => "sleeps (where is hidden from this user)".to_string(),
            None => "sleeps".to_string(),
        },
        'D' => match &d.wchan {
            Some(w) => format!("is in uninterruptible sleep (D) in {w}"),
            None => "is in uninterruptible sleep (D)".to_string(),
        },
        'T' => "is stopped (T)".to_string(),
        't' => "is stopped by its tracer (t)".to_string(),
        'Z' => "has exited its main thread".to_string(),
        c => format!("is in state {c} ({})", d.state_text),
    };
    let traced = if d.traced && d.state != 't' {
        ", traced,"
    } else {
        ""
    };
    let signal = match (d.sigchld, d.sigchld_blocked) {
        (Sigchld::Default, false) => "SIGCHLD at default",
        (Sigchld::Default, true) => "SIGCHLD blocked (at default)",
        (Sigchld::Caught, false) => "a SIGCHLD handler",
        (Sigchld::Caught, true) => "SIGCHLD blocked (a handler installed)",
        (Sigchld::Ignored, false) => "SIGCHLD ignored",
        (Sigchld::Ignored, true) => "SIGCHLD ignored (and blocked)",
    };
    let count = match zombies {
        1 => "1 zombie".to_string(),
        n => format!("{n} zombies"),
    };
    let oldest = match (zombies, oldest_age_ns) {
        (_, 0) => String::new(),
        (1, age) => format!(" of {}", format_ns(age)),
        (_, age) => format!(", oldest {}", format_ns(age)),
    };
    format!(
        "{} (pid {}){traced} {activity} with {signal} and {count}{oldest}",
        d.comm, d.pid
    )
}

/// Who inherits the zombies if the parent dies: init, or its container's PID 1.
fn heir(d: &Diagnosis) -> &'static str {
    if d.nspid.is_some() {
        "its container's PID 1 (or a subreaper) inherits them"
    } else {
        "init (or a subreaper) will reap them"
    }
}

const USELESS: &str = "Killing the zombies does nothing.";

/// Why it is not reaping, and what to do.
fn cause(d: &Diagnosis, oldest_age_ns: u64) -> String {
    if d.pid == 1 && !d.ns_init {
        return if oldest_age_ns >= INIT_SLOW_NS {
            "it is init, which should reap orphans at once, yet these have waited: init is not \
             reaping (stuck, stopped, or an init that does not wait)."
                .to_string()
        } else {
            "it is init, which reaps orphans: they should go in a moment; if they stay, init is \
             not reaping."
                .to_string()
        };
    }
    match d.state {
        'T' if !d.traced => {
            return format!(
                "it is stopped, so it cannot run to reap; resume it (kill -CONT {}). {USELESS}",
                d.pid
            );
        }
        'T' | 't' => {
            return format!(
                "it is stopped under a tracer (debugger, strace), so it cannot run to reap; \
                 continue it or detach the tracer. {USELESS}"
            );
        }
        'D' => {
            let what = d.wchan.as_deref().unwrap_or("the kernel");
            return format!(
                "it is stuck in the kernel, so it cannot reap until that call returns; see what \
                 {what} waits for (disk, NFS, FUSE, a driver). {USELESS}"
            );
        }
        'Z' => {
            return format!(
                "its other threads must wait for these children; if they all exit, {}. {USELESS}",
                heir(d)
            );
        }
        _ => {}
    }
    if d.ns_init {
        let what = match d.workload.as_ref().filter(|w| w.container_id.is_some()) {
            Some(w) => format!("PID 1 of container {}", w.short()),
            None => "PID 1 of its pid namespace (a container init)".to_string(),
        };
        return format!(
            "it is {what} and does not reap, so every orphan in the container ends here too; \
             use an init that reaps (tini, `docker run --init`), or make PID 1 wait for its \
             children. {USELESS}"
        );
    }
    let fix = match (d.sigchld, d.sigchld_blocked) {
        (Sigchld::Ignored, _) => format!(
            "with SIGCHLD ignored it should have no zombies (the kernel reaps its children at \
             once), so these most likely exited before it ignored SIGCHLD; it must still wait \
             for them, or kill it and {}.",
            heir(d)
        ),
        (Sigchld::Caught, true) => format!(
            "SIGCHLD is blocked, so its handler never runs; unblock SIGCHLD, or poll with \
             waitpid(-1, WNOHANG), or kill it and {}.",
            heir(d)
        ),
        (Sigchld::Default, true) => format!(
            "SIGCHLD is blocked, so it is never notified (if it reads SIGCHLD from a signalfd or \
             sigwaitinfo, it does not wait after); unblock SIGCHLD or poll with waitpid(-1, \
             WNOHANG), or kill it and {}.",
            heir(d)
        ),
        (Sigchld::Caught, false) => format!(
            "its SIGCHLD handler runs but does not reap: the handler is the bug; it must call \
             waitpid(-1, &status, WNOHANG) until it returns 0, or kill it and {}.",
            heir(d)
        ),
        (Sigchld::Default, false) => format!(
            "it starts children and never waits for them; fix the parent (wait/join them, or \
             ignore SIGCHLD), or kill it and {}.",
            heir(d)
        ),
    };
    format!("{fix} {USELESS}")
}

/// The cause in a word or two, for a column (`zombietrace top`): the same causes as [`cause`],
/// in the same order (the first that applies wins), at most 12 columns wide.
pub fn label(d: &Diagnosis) -> &'static str {
    if d.pid == 1 && !d.ns_init {
        return "init";
    }
    match d.state {
        'T' if !d.traced => return "stopped",
        'T' | 't' => return "traced",
        'D' => return "stuck (D)",
        'Z' => return "main exited",
        _ => {}
    }
    if d.ns_init {
        return "ctr PID 1";
    }
    match (d.sigchld, d.sigchld_blocked) {
        (Sigchld::Ignored, _) => "ignored late",
        (_, true) => "SIGCHLD blkd",
        (Sigchld::Caught, false) => "bad handler",
        (Sigchld::Default, false) => "never waits",
    }
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
