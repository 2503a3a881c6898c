//! `cargo xtask fuzz`: each cargo-fuzz target of fuzz/ for a while (libFuzzer, one process at
//! a time), from its committed seeds (fuzz/seeds/<target>) and the corpus earlier runs grew
//! (fuzz/corpus/<target>, not committed). A crash, hang or huge allocation fails the task and
//! says where the reproducer is and how to rerun it.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    cmd::{self, root},
    setup::pinned_nightly,
};

/// Per input: longer is a hang (the parsers take microseconds).
const TIMEOUT_SECS: u32 = 10;
/// One allocation larger than this is a bug (inputs are a few KiB): a length field believed.
const MALLOC_LIMIT_MB: u32 = 512;

/// What one target's run came to.
struct Run {
    target: String,
    runs: Option<u64>,
    corpus: Option<u64>,
    /// The input that made it fail, if it failed.
    failure: Option<Failure>,
}

struct Failure {
    reproducer: Option<PathBuf>,
    why: String,
}

pub fn run(seconds: u64, targets: &[String]) -> Result<()> {
    let pin = pinned_nightly()?;
    ensure_cargo_fuzz(&pin)?;
    let all = list(&pin)?;
    let targets: Vec<String> = if targets.is_empty() {
        all
    } else {
        for t in targets {
            if !all.contains(t) {
                bail!("no fuzz target `{t}` (there are: {})", all.join(", "));
            }
        }
        targets.to_vec()
    };
    cmd::run(cargo_fuzz(&pin).args(["build", "--fuzz-dir", "fuzz"]))?;
    let runs: Vec<Run> = targets
        .iter()
        .map(|t| run_target(&pin, t, seconds))
        .collect::<Result<_>>()?;
    let mut failed = 0;
    for run in &runs {
        let count = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
        let (runs, corpus) = (count(run.runs), count(run.corpus));
        match &run.failure {
            None => println!(
                "fuzz: {:<10} ok: {seconds} s, {runs} inputs run, corpus of {corpus}",
                run.target
            ),
            Some(failure) => {
                failed += 1;
                println!("fuzz: {:<10} FAILED: {}", run.target, failure.why);
                if let Some(input) = &failure.reproducer {
                    let input = input.display();
                    let rerun = format!(
                        "AYA_BUILD_SKIP=1 cargo +{pin} fuzz run --fuzz-dir fuzz {}",
                        run.target
                    );
                    println!("  reproducer: {input}");
                    println!("  rerun it:   {rerun} {input}");
                    println!(
                        "  minimize:   AYA_BUILD_SKIP=1 cargo +{pin} fuzz tmin --fuzz-dir fuzz {} {input}",
                        run.target
                    );
                    println!(
                        "  then fix the parser and add the minimized input as a unit test next to it"
                    );
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} fuzz targets failed", runs.len());
    }
    Ok(())
}

/// `cargo +<pin> fuzz …` for the project in fuzz/, with the kernel programs' pinned nightly
/// (`cargo xtask setup` installs it) and without the programs themselves (the parsers need
/// none, and they would build under the fuzzer's flags).
fn cargo_fuzz(pin: &str) -> Command {
    let mut cargo = Command::new("cargo");
    cargo
        .current_dir(root())
        .arg(format!("+{pin}"))
        .arg("fuzz")
        .env("AYA_BUILD_SKIP", "1");
    cargo
}

fn ensure_cargo_fuzz(pin: &str) -> Result<()> {
    let installed = cargo_fuzz(pin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        cmd::run(Command::new("cargo").arg(format!("+{pin}")).args([
            "install",
            "cargo-fuzz",
            "--locked",
        ]))?;
    }
    Ok(())
}

fn list(pin: &str) -> Result<Vec<String>> {
    let out = cmd::output(cargo_fuzz(pin).args(["list", "--fuzz-dir", "fuzz"]))?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

fn run_target(pin: &str, target: &str, seconds: u64) -> Result<Run> {
    let fuzz = root().join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let mut command = cargo_fuzz(pin);
    command
        .args(["run", "--fuzz-dir", "fuzz", target])
        .arg(&corpus)
        .args(Some(fuzz.join("seeds").join(target)).filter(|s| s.is_dir()))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={TIMEOUT_SECS}"))
        .arg(format!("-malloc_limit_mb={MALLOC_LIMIT_MB}"))
        .arg("-print_final_stats=1");
    eprintln!("xtask: running {command:?}");
    let mut child = command
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {command:?}"))?;
    let mut run = Run {
        target: target.to_string(),
        runs: None,
        corpus: None,
        failure: None,
    };
    let mut reproducer = None;
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut line = Vec::new();
    while stderr.read_until(b'\n', &mut line)? > 0 {
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        line.clear();
        reproducer = reproducer.or_else(|| artifact(&text, &fuzz));
        if let Some(n) = stat(&text, "stat::number_of_executed_units:") {
            run.runs = Some(n);
        }
        if let Some(n) = text
            .split(" corp: ")
            .nth(1)
            .and_then(|c| c.split('/').next())
        {
            run.corpus = n.parse().ok().or(run.corpus);
        }
        // libFuzzer's progress lines, new functions covered and suggested dictionary are noise
        // in a log.
        if !(text.starts_with('#') || text.starts_with('"') || text.contains("\tNEW_FUNC")) {
            eprintln!("{text}");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        run.failure = Some(Failure {
            why: match &reproducer {
                Some(_) => {
                    format!("it found an input that crashes, hangs or exhausts memory ({status})")
                }
                None => format!("{status}"),
            },
            reproducer,
        });
    }
    Ok(run)
}

/// The input libFuzzer saved: `…; Test unit written to fuzz/artifacts/btf/crash-…`.
fn artifact(line: &str, fuzz: &Path) -> Option<PathBuf> {
    let path = line.split("Test unit written to ").nth(1)?.trim();
    let path = Path::new(path);
    Some(if path.is_absolute() {
        path.to_path_buf()
    } else {
        fuzz.parent().unwrap_or(fuzz).join(path)
    })
}

fn stat(line: &str, key: &str) -> Option<u64> {
    line.strip_prefix(key)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_output() {
        let fuzz = Path::new("/w/fuzz");
        let line = "artifact_prefix='fuzz/artifacts/btf/'; Test unit written to \
                    fuzz/artifacts/btf/crash-0a1b";
        assert_eq!(
            artifact(line, fuzz),
            Some(PathBuf::from("/w/fuzz/artifacts/btf/crash-0a1b"))
        );
        assert_eq!(artifact("INFO: seed: 1", fuzz), None);
        assert_eq!(
            stat(
                "stat::number_of_executed_units: 4242",
                "stat::number_of_executed_units:"
            ),
            Some(4242)
        );
    }
}
