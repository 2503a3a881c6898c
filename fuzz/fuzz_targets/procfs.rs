//! Every procfs parser (and the other text files of the kernel: /etc/passwd, tracepoint
//! formats, mounts; and the workload a cgroup path names) on the same arbitrary bytes: never a
//! panic; what they return is lossless text that the one output escaping makes safe for a
//! terminal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zombietrace::{
    diagnose::{Users, schedclock::parse_exec_start},
    kernel::tracefs::parse_format,
    output::escape::escape,
    sys::{cgroup, proc, text::unescape, workload},
};

/// What the outputs show of `text` (lossless text) is safe, and reads back as bytes; returns them.
fn shown_safely(text: &str) -> Vec<u8> {
    let shown = escape(text);
    let acted_on = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
    };
    assert!(!shown.chars().any(acted_on), "{shown:?}");
    unescape(&shown).unwrap_or_else(|e| panic!("{shown:?} does not read back: {e}"))
}

fuzz_target!(init: quiet_errors(), |raw: &[u8]| check(raw));

/// anyhow captures a backtrace with every error when RUST_BACKTRACE is set (as cargo fuzz sets
/// it): most of the time per input, for errors thrown away.
fn quiet_errors() {
    // SAFETY: before the fuzzer starts, no other thread reads the environment.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
}

fn check(raw: &[u8]) {
    if let Ok(stat) = proc::parse_stat(raw) {
        let open = raw.iter().position(|&b| b == b'(').unwrap();
        let close = raw.iter().rposition(|&b| b == b')').unwrap();
        assert_eq!(shown_safely(&stat.comm), &raw[open + 1..close]);
        assert!(stat.state.is_ascii_alphabetic());
    }
    if let Ok(status) = proc::parse_status(raw) {
        assert!(status.state.is_ascii_alphabetic());
        assert!(!status.state_text.contains('\n'));
    }
    for cut in [false, true] {
        let cmdline = proc::parse_cmdline(raw, cut);
        assert!(!cmdline.contains('\0'));
        assert!(!cut || cmdline.ends_with('…'));
        shown_safely(&cmdline);
    }
    if let Some(cgroup) = proc::parse_cgroup(raw) {
        assert!(!cgroup.is_empty() && !cgroup.contains('\n'));
        shown_safely(&cgroup);
    }
    for path in proc::parse_cgroup_paths(raw) {
        assert!(!path.contains('\n'));
        shown_safely(&path);
        if let Some(named) = workload::classify(&path) {
            shown_safely(&named.short());
        }
    }
    if let Some(wchan) = proc::parse_wchan(raw) {
        assert!(!wchan.is_empty() && wchan != "0");
        shown_safely(&wchan);
    }
    if let Some(uid) = proc::parse_loginuid(raw) {
        assert_ne!(uid, u32::MAX);
    }
    let users = Users::parse(raw);
    for line in raw.split(|&b| b == b'\n') {
        let uid = line
            .split(|&b| b == b':')
            .nth(2)
            .and_then(|u| std::str::from_utf8(u).ok());
        if let Some(uid) = uid.and_then(|u| u.parse().ok()) {
            shown_safely(&users.name(uid));
        }
    }
    let text = String::from_utf8_lossy(raw);
    if let Ok(mask) = proc::parse_mask(&text) {
        assert_eq!(proc::parse_mask(&format!("{mask:016x}")), Ok(mask));
    }
    let _ = parse_exec_start(&text);
    let _ = cgroup::v2_mount(&text);
    if let Ok(format) = parse_format(&text) {
        for field in &format.fields {
            assert_eq!(
                format.field(&field.name).map(|f| f.name.as_str()).ok(),
                Some(&*field.name)
            );
        }
    }
}
