//! SIGCHLD's disposition and mask from the hex signal sets of /proc/<pid>/status
//! (`SigBlk`, `SigIgn`, `SigCgt`): signal N is bit N−1, so SIGCHLD (17) is bit 16.

use serde::{Deserialize, Serialize};

/// What a process does with SIGCHLD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sigchld {
    /// SIG_DFL: nothing happens on a child's exit; the children stay zombies until waited for.
    Default,
    /// A handler is installed (`SigCgt`).
    Caught,
    /// SIG_IGN (`SigIgn`): the kernel reaps the children itself as they exit.
    Ignored,
}

impl Sigchld {
    pub fn name(self) -> &'static str {
        match self {
            Sigchld::Default => "default",
            Sigchld::Caught => "caught",
            Sigchld::Ignored => "ignored",
        }
    }
}

/// SIGCHLD's bit in a procfs signal set.
pub const SIGCHLD_BIT: u64 = 1 << (libc::SIGCHLD - 1);

/// SIGCHLD's disposition from `SigIgn` and `SigCgt`. A handler wins over SIG_IGN (procfs never
/// shows both, but a handler is what runs).
pub fn disposition(sigign: u64, sigcgt: u64) -> Sigchld {
    if sigcgt & SIGCHLD_BIT != 0 {
        Sigchld::Caught
    } else if sigign & SIGCHLD_BIT != 0 {
        Sigchld::Ignored
    } else {
        Sigchld::Default
    }
}

/// SIGCHLD is in this thread's `SigBlk`.
pub fn blocked(sigblk: u64) -> bool {
    sigblk & SIGCHLD_BIT != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigchld_is_bit_16() {
        assert_eq!(SIGCHLD_BIT, 0x10000);
    }

    #[test]
    fn decodes_dispositions() {
        // bash: SIGCHLD caught, SIGQUIT/SIGTERM/… ignored.
        assert_eq!(disposition(0x380004, 0x4b817efb), Sigchld::Caught);
        // python3 at rest: SIGPIPE and SIGXFSZ ignored, SIGINT caught; SIGCHLD default.
        assert_eq!(disposition(0x1001000, 0x2), Sigchld::Default);
        assert_eq!(disposition(0x10000, 0), Sigchld::Ignored);
        assert_eq!(disposition(0x10000 | 0x1000, 0x2), Sigchld::Ignored);
        assert_eq!(disposition(0, 0x10000), Sigchld::Caught);
        assert_eq!(disposition(0xffff_ffff & !0x10000, 0), Sigchld::Default);
    }

    #[test]
    fn decodes_blocked() {
        assert!(blocked(0x10000));
        assert!(blocked(0xfffffffe7ffbfeff));
        assert!(!blocked(0));
        assert!(!blocked(!0x10000));
    }
}
