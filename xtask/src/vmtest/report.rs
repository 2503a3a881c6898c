//! Reading the guest's stdout port: per test binary, its exit status, libtest's counts and the
//! first lines of each failure.

use std::{path::PathBuf, time::Duration};

use super::initramfs::{BEGIN, DONE, END, MARKER};
use super::qemu::Logs;

#[derive(Default)]
pub struct Binary {
    pub name: String,
    /// The exit status init wrote; None when the boot ended before it finished.
    pub status: Option<i32>,
    pub passed: u32,
    pub failed: u32,
    pub ignored: u32,
    /// libtest's `test result:` line was seen.
    pub summary: bool,
    /// Failed test names with the first lines of their panic message.
    pub failures: Vec<(String, Vec<String>)>,
    /// The last `test name ...` line before the output stopped (for a hang or a crash; with
    /// several test threads libtest prints it when the test ends, with one when it starts).
    pub last_started: Option<String>,
    /// Tests libtest said were running for over 60 seconds and that never ended.
    pub running_long: Vec<String>,
}

impl Binary {
    pub fn ok(&self) -> bool {
        self.status == Some(0) && self.summary && self.failed == 0
    }

    pub fn cell(&self) -> String {
        if self.summary {
            let mut s = format!("{}/{}/{}", self.passed, self.failed, self.ignored);
            if self.status != Some(0) && self.failed == 0 {
                s.push_str(&format!(" exit {}", status_text(self.status)));
            }
            s
        } else {
            format!("no result (exit {})", status_text(self.status))
        }
    }
}

fn status_text(status: Option<i32>) -> String {
    status.map_or("?".into(), |s| s.to_string())
}

pub struct Run {
    pub kernel_line: Option<String>,
    pub binaries: Vec<Binary>,
    pub done: bool,
}

/// How many lines of each failure's message to keep.
const MESSAGE_LINES: usize = 4;

pub fn parse(stdout: &str) -> Run {
    let mut run = Run {
        kernel_line: None,
        binaries: Vec::new(),
        done: false,
    };
    // Failure sections: "---- name stdout ----" up to the next section or "failures:".
    let mut section: Option<(String, Vec<String>, bool)> = None;
    for line in lines(stdout) {
        if let Some(k) = line.strip_prefix("vmtest: kernel ") {
            run.kernel_line = Some(k.to_owned());
        } else if let Some(name) = line.strip_prefix(BEGIN) {
            run.binaries.push(Binary {
                name: name.to_owned(),
                ..Binary::default()
            });
            continue;
        } else if let Some(rest) = line.strip_prefix(END) {
            if let (Some(b), Some(code)) = (run.binaries.last_mut(), rest.rsplit(' ').next()) {
                b.status = code.parse().ok();
            }
            continue;
        } else if line == DONE {
            run.done = true;
            continue;
        }
        let Some(b) = run.binaries.last_mut() else {
            continue;
        };
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            flush(b, section.take());
            section = Some((name.to_owned(), Vec::new(), false));
            continue;
        }
        if line == "failures:" || line.starts_with("test result:") {
            flush(b, section.take());
        }
        if let Some((_, message, started)) = section.as_mut() {
            // Keep the panic line and what follows; the tracer's chatter before it is noise.
            if line.contains("panicked at") {
                *started = true;
            }
            if *started && message.len() < MESSAGE_LINES && !line.is_empty() {
                message.push(line.to_owned());
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("test ") {
            if let Some((name, _)) = rest.split_once(" ... ") {
                b.last_started = Some(name.to_owned());
                b.running_long.retain(|n| n != name);
            } else if let Some(name) = rest.strip_suffix(" has been running for over 60 seconds") {
                b.running_long.push(name.to_owned());
            }
        }
        if let Some(counts) = line.strip_prefix("test result: ") {
            b.summary = true;
            b.passed = count(counts, "passed");
            b.failed = count(counts, "failed");
            b.ignored = count(counts, "ignored");
        }
    }
    if let Some(b) = run.binaries.last_mut() {
        flush(b, section.take());
    }
    run
}

/// The lines of the port, with a marker that init wrote after a partial line (a test binary
/// killed mid-line) split onto a line of its own.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().flat_map(|raw| {
        let line = raw.trim_end_matches('\r');
        match line.find(MARKER) {
            Some(at) if at > 0 => vec![&line[..at], &line[at..]],
            _ => vec![line],
        }
    })
}

fn flush(b: &mut Binary, section: Option<(String, Vec<String>, bool)>) {
    if let Some((name, message, _)) = section {
        b.failures.push((name, message));
    }
}

/// "ok. 5 passed; 1 failed; 0 ignored; …" → the number before `what`.
fn count(counts: &str, what: &str) -> u32 {
    counts
        .split(';')
        .filter_map(|part| {
            let words: Vec<&str> = part.split_whitespace().collect();
            let at = words.iter().position(|w| *w == what)?;
            words.get(at.checked_sub(1)?)?.parse().ok()
        })
        .next()
        .unwrap_or(0)
}

/// One kernel's line of the table.
pub struct Row {
    pub kernel: String,
    pub boot: String,
    pub binaries: Vec<Binary>,
    pub wall: Duration,
    pub ok: bool,
    pub logs: Option<Logs>,
    /// What each earlier boot that panicked said (see `test_kernel`).
    pub panics: Vec<String>,
}

pub fn print_table(rows: &[Row], tests: &[(String, PathBuf)]) {
    let mut header = vec!["kernel".to_owned(), "result".to_owned(), "boot".to_owned()];
    header.extend(tests.iter().map(|(n, _)| format!("{n} p/f/i")));
    header.push("wall".to_owned());
    let mut table = vec![header];
    for r in rows {
        let result = if r.ok { "PASS" } else { "FAIL" };
        let mut line = vec![r.kernel.clone(), result.to_owned(), short(&r.boot)];
        for (name, _) in tests {
            line.push(
                r.binaries
                    .iter()
                    .find(|b| &b.name == name)
                    .map_or("-".to_owned(), |b| b.cell()),
            );
        }
        line.push(human(r.wall));
        table.push(line);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    println!();
    for line in &table {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    for r in rows.iter().filter(|r| !r.ok) {
        let failed: u32 = r.binaries.iter().map(|b| b.failed).sum();
        println!(
            "\n{} failed (boot: {}; {failed} tests failed):",
            r.kernel, r.boot
        );
        for b in &r.binaries {
            if !b.summary {
                let how = match b.status {
                    Some(137) => "killed after VMTEST_TIMEOUT".to_owned(),
                    Some(s) => format!("exit {s} without a test result"),
                    None => "did not finish".to_owned(),
                };
                let at = b.last_started.as_deref().unwrap_or("(none)");
                println!("  {}: {how}; last test reported: {at}", b.name);
                if !b.running_long.is_empty() {
                    println!("      still running: {}", b.running_long.join(", "));
                }
            }
            for (test, message) in &b.failures {
                println!("  {}::{test}", b.name);
                for m in message {
                    println!("      {m}");
                }
            }
        }
        if let Some(l) = &r.logs {
            for p in [&l.console, &l.stdout, &l.stderr, &l.qemu] {
                println!("  log: {}", p.display());
            }
        }
    }
    for r in rows {
        for p in &r.panics {
            println!("\n{}: a boot panicked and was retried:", r.kernel);
            for line in p.lines() {
                println!("      {line}");
            }
        }
    }
}

fn short(s: &str) -> String {
    let first = s.lines().next().unwrap_or_default();
    if first.chars().count() > 40 {
        format!("{}…", first.chars().take(40).collect::<String>())
    } else {
        first.to_owned()
    }
}

pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_counts_status_and_failures() {
        let log = "vmtest: kernel 6.1.0-56-amd64, 2 cpus\r\n=== vmtest begin trace\r\n\
            running 2 tests\ntest a ... ok\ntest b ... FAILED\n\nfailures:\n\n\
            ---- b stdout ----\n[tracer stderr] hello\n\nthread 'b' panicked at tests/trace.rs:1:2:\n\
            zombie_ns 5 vs 1\nreap: x\ntruth: y\nmore\n\nfailures:\n    b\n\n\
            test result: FAILED. 1 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out\n\
            === vmtest end trace status 101\n=== vmtest begin spawn\ntest c ... ok\n\
            test d has been running for over 60 seconds\ntest e has been running for over 60 seconds\n\
            test e ... ok\ntest f ... === vmtest end spawn status 137\n";
        let run = parse(log);
        assert!(!run.done);
        assert_eq!(run.kernel_line.as_deref(), Some("6.1.0-56-amd64, 2 cpus"));
        let t = &run.binaries[0];
        assert_eq!(
            (t.passed, t.failed, t.ignored, t.status),
            (1, 1, 2, Some(101))
        );
        assert_eq!(t.failures.len(), 1);
        assert_eq!(t.failures[0].0, "b");
        assert_eq!(
            t.failures[0].1[0],
            "thread 'b' panicked at tests/trace.rs:1:2:"
        );
        assert_eq!(t.failures[0].1.len(), 4);
        let s = &run.binaries[1];
        assert_eq!(s.status, Some(137));
        assert_eq!(s.last_started.as_deref(), Some("f"));
        assert_eq!(s.running_long, ["d"]);
        assert_eq!(s.cell(), "no result (exit 137)");
    }
}
