//! How a child ends: the memory it touches first, its exit code or the signal it dies by;
//! and signal names for the command line and for people.

use std::ptr;

/// What a child does before it ends: touch some memory, then exit or die by a signal.
#[derive(Clone, Copy, Debug)]
pub struct Fate {
    pub exit_code: i32,
    pub kill_with: Option<i32>,
    pub touch_mib: u32,
}

impl Fate {
    /// Allocates and writes `touch_mib` MiB of heap, so that the exit has memory to tear down.
    pub fn touch(&self) {
        if self.touch_mib == 0 {
            return;
        }
        let len = (self.touch_mib as usize) << 20;
        // SAFETY: malloc of `len` bytes; every page is written through a valid pointer.
        unsafe {
            let p = libc::malloc(len).cast::<u8>();
            if p.is_null() {
                return;
            }
            let mut off = 0;
            while off < len {
                ptr::write_volatile(p.add(off), 1);
                off += 4096;
            }
        }
    }

    /// Ends the whole process as asked (no touching), stamping its last clock reading first.
    pub fn finish(&self) -> ! {
        super::exit_stamp::stamp();
        if let Some(sig) = self.kill_with {
            raise_default(sig);
        }
        // SAFETY: ends the process.
        unsafe { libc::_exit(self.exit_code) }
    }

    pub fn die(&self) -> ! {
        self.touch();
        self.finish()
    }
}

/// Raises `sig` with its default action restored and unblocked (so it kills the process).
pub fn raise_default(sig: i32) {
    // SAFETY: signal-state changes in a process that is about to die.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, ptr::null_mut());
        libc::raise(sig);
    }
}

pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "HUP",
        libc::SIGINT => "INT",
        libc::SIGQUIT => "QUIT",
        libc::SIGILL => "ILL",
        libc::SIGTRAP => "TRAP",
        libc::SIGABRT => "ABRT",
        libc::SIGBUS => "BUS",
        libc::SIGFPE => "FPE",
        libc::SIGKILL => "KILL",
        libc::SIGUSR1 => "USR1",
        libc::SIGSEGV => "SEGV",
        libc::SIGUSR2 => "USR2",
        libc::SIGPIPE => "PIPE",
        libc::SIGALRM => "ALRM",
        libc::SIGTERM => "TERM",
        libc::SIGSTKFLT => "STKFLT",
        libc::SIGCHLD => "CHLD",
        libc::SIGCONT => "CONT",
        libc::SIGSTOP => "STOP",
        libc::SIGTSTP => "TSTP",
        libc::SIGTTIN => "TTIN",
        libc::SIGTTOU => "TTOU",
        libc::SIGURG => "URG",
        libc::SIGWINCH => "WINCH",
        libc::SIGXCPU => "XCPU",
        libc::SIGXFSZ => "XFSZ",
        libc::SIGVTALRM => "VTALRM",
        libc::SIGPROF => "PROF",
        libc::SIGIO => "IO",
        libc::SIGPWR => "PWR",
        libc::SIGSYS => "SYS",
        _ => return format!("signal {sig}"),
    };
    format!("SIG{name}")
}

/// Parses `SEGV`, `SIGSEGV`, `segv` or `11` into a signal whose default action ends the process.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let t = text.trim();
    let sig = if let Ok(n) = t.parse::<i32>() {
        n
    } else {
        let upper = t.to_ascii_uppercase();
        let want = upper.strip_prefix("SIG").unwrap_or(&upper).to_string();
        (1..=31)
            .find(|&s| signal_name(s) == format!("SIG{want}"))
            .ok_or_else(|| {
                format!("unknown signal `{text}`: use e.g. SEGV, ABRT, KILL, TERM or a number")
            })?
    };
    let stops_or_ignored = [
        libc::SIGCHLD,
        libc::SIGCONT,
        libc::SIGSTOP,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGURG,
        libc::SIGWINCH,
    ];
    if !(1..=64).contains(&sig) {
        return Err(format!("`{text}` is not a signal number (1..=64)"));
    }
    if stops_or_ignored.contains(&sig) {
        return Err(format!(
            "signal {sig} does not end a process by default; use e.g. SEGV, ABRT, KILL or TERM"
        ));
    }
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signals() {
        assert_eq!(parse_signal("SEGV"), Ok(libc::SIGSEGV));
        assert_eq!(parse_signal("sigabrt"), Ok(libc::SIGABRT));
        assert_eq!(parse_signal("9"), Ok(9));
        assert!(parse_signal("CHLD").is_err());
        assert!(parse_signal("STOP").is_err());
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
