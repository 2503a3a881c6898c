//! Property tests of every parser of untrusted input, in the normal suite (the fuzz targets in
//! fuzz/ run the same properties for longer): arbitrary bytes never panic, and what comes out
//! is what it claims. Each parser's regression inputs are unit tests next to it.

use std::{ffi::OsString, mem::size_of, os::unix::ffi::OsStringExt as _};

use clap::Parser as _;
use proptest::prelude::*;
use zombietrace_common::{
    FreeEvent, Header, ReparentEvent, ThreadExitEvent, WaitEvent, ZombieEvent, call, kind,
};

use crate::{
    cli::Cli,
    diagnose::{Users, schedclock::parse_exec_start},
    duration::{format_ns, parse_duration},
    kernel::tracefs::parse_format,
    output::escape::{cut, escape},
    pipeline::decode::{DecodeError, decode},
    sys::{
        cgroup, proc,
        signal::{name, parse_fatal},
        text::{lossless, unescape},
        workload,
    },
};

/// What no escaped text may hold: a control, or bidirectional or zero-width formatting.
fn acted_on(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// Lossless text as the outputs show it: nothing a terminal acts on, and it reads back.
fn shown(text: &str) -> Vec<u8> {
    let shown = escape(text);
    assert!(!shown.chars().any(acted_on), "{shown:?}");
    unescape(&shown).unwrap()
}

fn record_size(kind: u32) -> usize {
    match kind {
        kind::ZOMBIE => size_of::<ZombieEvent>(),
        kind::REPARENT => size_of::<ReparentEvent>(),
        kind::WAIT => size_of::<WaitEvent>(),
        kind::FREE => size_of::<FreeEvent>(),
        _ => size_of::<ThreadExitEvent>(),
    }
}

/// Bytes shaped like procfs text: lines of `Key:\tvalue` and runs of fields, hostile bytes in.
fn procfs_text() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![
        Just(b"State:\t".to_vec()),
        Just(b"SigCgt:\t".to_vec()),
        Just(b"Uid:\t".to_vec()),
        Just(b"0::/".to_vec()),
        Just(b"/system.slice/docker-".to_vec()),
        Just(b"/kubepods-burstable-pod".to_vec()),
        Just(b" cgroup2 ".to_vec()),
        Just(b"se.exec_start : ".to_vec()),
        Just(b"field:".to_vec()),
        Just(b") Z ".to_vec()),
        Just(b" (".to_vec()),
        "[0-9a-f. ]{1,24}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(word, 0..24).prop_map(|w| w.join(&b"\n"[..(w.len() % 2)]))
}

proptest! {
    #[test]
    fn records_are_refused_only_for_their_length_or_kind(
        kind in 0u32..7,
        len_delta in -2i64..=2,
        body in prop::collection::vec(any::<u8>(), 256),
    ) {
        let want = record_size(kind);
        let len = (want as i64 + len_delta).max(0) as usize;
        let mut bytes = body[..len].to_vec();
        if len >= 12 {
            bytes[8..12].copy_from_slice(&kind.to_le_bytes());
        }
        let result = decode(&bytes);
        if len < size_of::<Header>() {
            prop_assert_eq!(result, Err(DecodeError::Short(len)));
        } else if !(1..=5).contains(&kind) {
            prop_assert_eq!(result, Err(DecodeError::UnknownKind(kind)));
        } else if len != want {
            prop_assert_eq!(result, Err(DecodeError::Size { kind, len, want }));
        } else if let Err(err) = result {
            // Exactly its kind's size: only a wait record's call can still be refused.
            let DecodeError::UnknownCall(c) = err else {
                panic!("a record of its kind's exact size was refused: {err}");
            };
            prop_assert_eq!(kind, kind::WAIT);
            prop_assert!(![call::WAIT4, call::WAITID, call::WAITID_PIDFD, call::IO_URING_WAITID].contains(&c));
        }
    }

    #[test]
    fn any_bytes_are_a_record_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn procfs_parsers_never_panic(raw in prop_oneof![procfs_text(), prop::collection::vec(any::<u8>(), 0..256)]) {
        if let Ok(stat) = proc::parse_stat(&raw) {
            let open = raw.iter().position(|&b| b == b'(').unwrap();
            let close = raw.iter().rposition(|&b| b == b')').unwrap();
            prop_assert_eq!(shown(&stat.comm), &raw[open + 1..close]);
            prop_assert!(stat.state.is_ascii_alphabetic());
        }
        if let Ok(status) = proc::parse_status(&raw) {
            prop_assert!(status.state.is_ascii_alphabetic());
        }
        let cmdline = proc::parse_cmdline(&raw, true);
        prop_assert!(!cmdline.contains('\0') && cmdline.ends_with('…'));
        shown(&cmdline);
        if let Some(cgroup) = proc::parse_cgroup(&raw) {
            prop_assert!(!cgroup.contains('\n'));
            shown(&cgroup);
        }
        for path in proc::parse_cgroup_paths(&raw) {
            prop_assert!(!path.contains('\n'));
            shown(&path);
            if let Some(named) = workload::classify(&path) {
                shown(&named.short());
            }
        }
        if let Some(wchan) = proc::parse_wchan(&raw) {
            shown(&wchan);
        }
        prop_assert_ne!(proc::parse_loginuid(&raw), Some(u32::MAX));
        shown(&Users::parse(&raw).name(0));
        let text = String::from_utf8_lossy(&raw);
        if let Ok(mask) = proc::parse_mask(&text) {
            prop_assert_eq!(proc::parse_mask(&format!("{mask:x}")), Ok(mask));
        }
        let _ = parse_exec_start(&text);
        let _ = parse_format(&text);
        let _ = cgroup::v2_mount(&text);
    }

    #[test]
    fn durations_read_back(text in "\\PC{0,12}", ns in 0u64..60_000_000_000) {
        if let Ok(d) = parse_duration(&text) {
            prop_assert_eq!(parse_duration(&format!("{}ns", d.as_nanos())), Ok(d));
        }
        // What the outputs show parses back, to the precision shown.
        let back = parse_duration(&format_ns(ns)).unwrap().as_nanos() as u64;
        prop_assert!(back.abs_diff(ns) <= (ns / 200).max(999), "{} → {}", ns, back);
    }

    #[test]
    fn signals_read_back(text in "\\PC{0,10}", sig in 1i32..=64) {
        if let Ok(s) = parse_fatal(&text) {
            prop_assert!((1..=64).contains(&s));
        }
        prop_assert_eq!(parse_fatal(&name(sig)), parse_fatal(&sig.to_string()));
    }

    #[test]
    fn escaping_leaves_nothing_to_act_on(text in "\\PC*|[\\x00-\\x{a0}\\u{2000}-\\u{2070}\\\\]{0,24}") {
        prop_assert!(!escape(&text).chars().any(acted_on));
        prop_assert!(cut(&text, 4).chars().count() <= 5);
        if let Ok(bytes) = unescape(&text) {
            prop_assert_eq!(shown(&lossless(&bytes)), bytes);
        }
    }
}

proptest! {
    // Building clap's parser takes a millisecond or two: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_command_line_is_parsed_or_refused(
        args in prop::collection::vec(prop_oneof![
            Just(b"--json".to_vec()), Just(b"--ppid".to_vec()), Just(b"--min-zombie".to_vec()),
            Just(b"report".to_vec()), Just(b"--for".to_vec()), Just(b"spawn".to_vec()),
            Just(b"ps".to_vec()), Just(b"--child-name".to_vec()), Just(b"--kill-with".to_vec()),
            Just(b"--duration".to_vec()), Just(b"--".to_vec()), Just(b"-h".to_vec()),
            "[0-9a-z.\\\\]{0,6}".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..6),
        ], 0..8)
    ) {
        let args = std::iter::once(OsString::from("zombietrace")).chain(args.into_iter().map(OsString::from_vec));
        if let Err(err) = Cli::try_parse_from(args) {
            let _ = err.render().to_string();
        }
    }
}
