//! Signal names (`SIGSEGV`) and parsing them back from what a person types.

/// Names of signals 1..=31, by number.
const NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// `SIGSEGV` for 11; `SIG<n>` for a signal without a name of its own (real-time signals).
pub fn name(sig: i32) -> String {
    match usize::try_from(sig - 1).ok().and_then(|i| NAMES.get(i)) {
        Some(name) => (*name).to_string(),
        None => format!("SIG{sig}"),
    }
}

/// Parses `SEGV`, `SIGSEGV`, `segv`, `11` or `SIG40` (as [`name`] shows a real-time signal)
/// into a signal whose default action ends the process.
pub fn parse_fatal(text: &str) -> Result<i32, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let sig = if let Ok(n) = bare.parse::<i32>() {
        n
    } else {
        let want = format!("SIG{bare}");
        (1..=31).find(|&s| name(s) == want).ok_or_else(|| {
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
    fn names_match_libc() {
        for (sig, want) in [
            (libc::SIGHUP, "SIGHUP"),
            (libc::SIGKILL, "SIGKILL"),
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGCHLD, "SIGCHLD"),
            (libc::SIGSYS, "SIGSYS"),
        ] {
            assert_eq!(name(sig), want);
        }
        assert_eq!(name(64), "SIG64");
        assert_eq!(name(0), "SIG0");
        assert_eq!(name(-3), "SIG-3");
    }

    #[test]
    fn parses_signals() {
        assert_eq!(parse_fatal("SEGV"), Ok(libc::SIGSEGV));
        assert_eq!(parse_fatal("sigabrt"), Ok(libc::SIGABRT));
        assert_eq!(parse_fatal("9"), Ok(9));
        assert!(parse_fatal("CHLD").is_err());
        assert!(parse_fatal("STOP").is_err());
        assert!(parse_fatal("NOPE").is_err());
        assert!(parse_fatal("0").is_err());
    }

    /// Found by fuzzing (cli_values): `SIG49`, the name shown for signal 49, did not parse.
    #[test]
    fn every_name_shown_parses_back() {
        assert_eq!(parse_fatal("SIG49"), Ok(49));
        assert_eq!(parse_fatal("sig9"), Ok(9));
        for sig in 1..=64 {
            if let Ok(parsed) = parse_fatal(&sig.to_string()) {
                assert_eq!(parse_fatal(&name(sig)), Ok(parsed), "{}", name(sig));
            }
        }
    }
}
