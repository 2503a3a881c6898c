//! What a person types: durations, signals, escaped names, and the whole command line; and the
//! one output escaping. Properties: never a panic; `parse_duration` reads back what
//! `format_ns` writes (below a minute, to the precision shown) and what it parsed; a signal
//! reads back from its number and its name; escaping leaves nothing a terminal acts on and
//! reads back as the very bytes.
#![no_main]

use std::{ffi::OsString, os::unix::ffi::OsStringExt as _};

use clap::Parser as _;
use libfuzzer_sys::fuzz_target;
use zombietrace::{
    cli::{Cli, Command},
    config::Config,
    duration::{format_ns, parse_duration},
    output::escape::{cut, escape},
    sys::{
        signal::{name, parse_fatal},
        text::{lossless, unescape},
    },
};

/// What no escaped text may hold: controls, and bidirectional or zero-width formatting.
fn acted_on(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}'
            | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

fn durations(text: &str, ns: u64) {
    if let Ok(d) = parse_duration(text) {
        assert_eq!(parse_duration(&format!("{}ns", d.as_nanos())), Ok(d));
    }
    if ns < 60_000_000_000 {
        let shown = format_ns(ns);
        let back = parse_duration(&shown)
            .unwrap_or_else(|e| panic!("{ns} ns is shown as {shown}, which does not parse: {e}"));
        let err = (back.as_nanos() as u64).abs_diff(ns);
        assert!(err <= (ns / 200).max(999), "{ns} ns → {shown} → {back:?}");
    }
}

fn signals(text: &str) {
    if let Ok(sig) = parse_fatal(text) {
        assert!((1..=64).contains(&sig));
        assert_eq!(parse_fatal(&sig.to_string()), Ok(sig));
        assert_eq!(parse_fatal(&name(sig)), Ok(sig), "{}", name(sig));
    }
}

fn escaping(raw: &[u8], text: &str) {
    let shown = escape(&lossless(raw)).into_owned();
    assert!(!shown.chars().any(acted_on), "{shown:?}");
    assert_eq!(unescape(&shown).unwrap(), raw);
    assert!(!escape(text).chars().any(acted_on));
    assert!(cut(text, 8).chars().count() <= 9);
    if let Ok(bytes) = unescape(text) {
        // Whatever a person typed reads back through what the outputs would show of it.
        assert_eq!(unescape(&escape(&lossless(&bytes))).unwrap(), bytes);
    }
}

fn command_line(raw: &[u8]) {
    let args = std::iter::once(OsString::from("zombietrace")).chain(
        raw.split(|&b| b == 0)
            .map(|a| OsString::from_vec(a.to_vec())),
    );
    match Cli::try_parse_from(args) {
        Ok(cli) => {
            let config = match cli.command {
                Some(Command::Report(r)) => match r.for_ {
                    Some(trace_for) => Config::report(r.trace, trace_for),
                    // `--from FILE`: a recording to replay, no tracing to configure.
                    None => return,
                },
                Some(Command::Serve(s)) => Config::serve(s),
                Some(_) => return,
                None => Config::live(cli.trace, cli.duration),
            };
            // Refused (e.g. a --cgroup that is not there) or configured whole.
            if let Ok(config) = config {
                let _ = config.settings();
                let _ = config.pipeline_settings();
            }
        }
        Err(err) => {
            let _ = err.render().to_string();
        }
    }
}

fuzz_target!(|raw: &[u8]| {
    let text = String::from_utf8_lossy(raw);
    let ns = raw
        .get(..8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()));
    durations(&text, ns);
    signals(&text);
    escaping(raw, &text);
    // Building clap's parser takes most of the time: only inputs of several words try it.
    if raw.contains(&0) {
        command_line(raw);
    }
});
