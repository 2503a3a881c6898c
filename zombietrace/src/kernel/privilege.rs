//! Checking, before loading anything, that this process may load eBPF tracing
//! programs, so the user gets one clear line instead of an EPERM from deep inside.

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The capabilities tracing needs that `capeff` lacks: none with CAP_SYS_ADMIN,
/// otherwise whichever of CAP_BPF and CAP_PERFMON is missing.
fn missing_caps(capeff: u64) -> Vec<&'static str> {
    let has = |cap: u32| capeff & (1u64 << cap) != 0;
    if has(CAP_SYS_ADMIN) {
        return Vec::new();
    }
    [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|&(cap, _)| !has(cap))
        .map(|(_, name)| name)
        .collect()
}

/// The effective capability set from the text of `/proc/<pid>/status`.
fn parse_capeff(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

/// Checks that this process may trace: it needs CAP_BPF and CAP_PERFMON, or
/// CAP_SYS_ADMIN. On failure returns one line naming exactly what is missing.
pub fn check_tracing_privileges() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status to check capabilities: {e}"))?;
    let capeff = parse_capeff(&status)
        .ok_or("cannot find the CapEff line in /proc/self/status to check capabilities")?;
    let missing = missing_caps(capeff);
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "tracing needs root, or CAP_BPF and CAP_PERFMON (missing: {}): run it with sudo",
        missing.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_caps_cases() {
        let bit = |c: u32| 1u64 << c;
        assert_eq!(missing_caps(0), ["CAP_BPF", "CAP_PERFMON"]);
        assert!(missing_caps(bit(CAP_SYS_ADMIN)).is_empty());
        assert!(missing_caps(bit(CAP_BPF) | bit(CAP_PERFMON)).is_empty());
        assert_eq!(missing_caps(bit(CAP_BPF)), ["CAP_PERFMON"]);
        assert_eq!(missing_caps(bit(CAP_PERFMON)), ["CAP_BPF"]);
        // A full root set (CapEff of root on a 6.x kernel).
        assert!(missing_caps(0x000001ffffffffff).is_empty());
        // Some unrelated capabilities (CAP_NET_ADMIN, CAP_SYS_PTRACE) do not help.
        assert_eq!(missing_caps(bit(12) | bit(19)), ["CAP_BPF", "CAP_PERFMON"]);
    }

    #[test]
    fn parse_capeff_from_status() {
        let status = "Name:\tcat\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n\
                      CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(parse_capeff(status), Some(0x000001ffffffffff));
        assert_eq!(parse_capeff("CapEff:\t0000000000000000\n"), Some(0));
        assert_eq!(parse_capeff("Name:\tcat\n"), None);
        assert_eq!(parse_capeff("CapEff:\tzz\n"), None);
    }

    #[test]
    fn live_check_matches_capeff() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let capeff = parse_capeff(&status).unwrap();
        match check_tracing_privileges() {
            Ok(()) => assert!(missing_caps(capeff).is_empty()),
            Err(e) => {
                assert!(
                    e.contains("missing: ") && e.contains("sudo") && !e.contains('\n'),
                    "{e}"
                );
            }
        }
    }
}
