//! What a wait status says: how a process ended. The one decoder of the status word that
//! wait(2) returns (also `/proc/<pid>/stat` field 52 and the kernel records), and of the
//! `si_code`/`si_status` pair a child-exit siginfo carries.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A wait status word, as wait(2) returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub struct WaitStatus(pub u32);

impl WaitStatus {
    /// From a child-exit siginfo (`CLD_EXITED`, `CLD_KILLED`, `CLD_DUMPED`).
    pub fn from_siginfo(si_code: i32, si_status: i32) -> Self {
        WaitStatus(zombietrace_common::siginfo_status(
            si_code,
            si_status as u32,
        ))
    }

    /// Its exit code, when it exited (rather than being killed).
    pub fn exit_code(self) -> Option<i32> {
        (self.0 & 0x7f == 0).then_some(((self.0 >> 8) & 0xff) as i32)
    }

    /// The signal that killed it, when one did.
    pub fn signal(self) -> Option<i32> {
        let sig = self.0 & 0x7f;
        (sig != 0 && sig != 0x7f).then_some(sig as i32)
    }

    pub fn core_dumped(self) -> bool {
        self.signal().is_some() && self.0 & 0x80 != 0
    }

    /// A sentence: "exited with code 3", "killed by SIGSEGV (core dumped)".
    pub fn describe(self) -> String {
        match (self.exit_code(), self.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(sig)) => format!(
                "killed by {}{}",
                super::signal::name(sig),
                if self.core_dumped() {
                    " (core dumped)"
                } else {
                    ""
                }
            ),
            _ => format!("ended with status {:#x}", self.0),
        }
    }
}

/// A column: "exit 3", "SIGSEGV (core)".
impl fmt::Display for WaitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.exit_code(), self.signal()) {
            (Some(code), _) => write!(f, "exit {code}"),
            (None, Some(sig)) => {
                write!(f, "{}", super::signal::name(sig))?;
                if self.core_dumped() {
                    write!(f, " (core)")?;
                }
                Ok(())
            }
            _ => write!(f, "status {:#x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_like_wait() {
        assert_eq!(WaitStatus(3 << 8).to_string(), "exit 3");
        assert_eq!(WaitStatus(3 << 8).exit_code(), Some(3));
        assert_eq!(WaitStatus(9).to_string(), "SIGKILL");
        assert_eq!(WaitStatus(9).exit_code(), None);
        assert_eq!(WaitStatus(11 | 0x80).to_string(), "SIGSEGV (core)");
        assert!(WaitStatus(11 | 0x80).core_dumped());
        assert!(!WaitStatus(0x80 << 8).core_dumped());
        assert_eq!(
            WaitStatus(0x137f).signal(),
            None,
            "a stop report is no death"
        );
    }

    #[test]
    fn agrees_with_libc() {
        for raw in [0, 1 << 8, 255 << 8, 9, 11 | 0x80, 15, 0x137f, 0xffff] {
            let s = WaitStatus(raw as u32);
            assert_eq!(s.exit_code().is_some(), libc::WIFEXITED(raw), "{raw:#x}");
            if libc::WIFEXITED(raw) {
                assert_eq!(s.exit_code(), Some(libc::WEXITSTATUS(raw)));
            }
            assert_eq!(s.signal().is_some(), libc::WIFSIGNALED(raw), "{raw:#x}");
            if libc::WIFSIGNALED(raw) {
                assert_eq!(s.signal(), Some(libc::WTERMSIG(raw)));
                assert_eq!(s.core_dumped(), libc::WCOREDUMP(raw));
            }
        }
    }

    #[test]
    fn siginfo_matches_the_status_word() {
        assert_eq!(
            WaitStatus::from_siginfo(libc::CLD_EXITED, 7),
            WaitStatus(7 << 8)
        );
        assert_eq!(WaitStatus::from_siginfo(libc::CLD_KILLED, 9), WaitStatus(9));
        assert_eq!(
            WaitStatus::from_siginfo(libc::CLD_DUMPED, 11),
            WaitStatus(11 | 0x80)
        );
        assert_eq!(
            WaitStatus::from_siginfo(libc::CLD_DUMPED, 11).describe(),
            "killed by SIGSEGV (core dumped)"
        );
        assert_eq!(WaitStatus(2 << 8).describe(), "exited with code 2");
    }
}
