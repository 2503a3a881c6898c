//! `cargo xtask vmtest [KERNEL…]`: the root integration tests (every `[[test]]` target of the
//! zombietrace package, as built for the host) on each Debian kernel of the matrix, booted under
//! qemu with a tiny initramfs; one table of results, non-zero exit if any kernel failed.
//!
//! Environment: `VMTEST_REFRESH=1` asks apt for newer kernels even when some are cached;
//! `VMTEST_TIMEOUT=<seconds>` bounds each test binary in the guest (default 300; the boot as a
//! whole gets that per binary plus two minutes); `VMTEST_TEST_THREADS` is passed
//! to each test binary as `--test-threads` (default 2, as `cargo test` on two cpus);
//! `VMTEST_CPUS` sets the guest's cpus (default 2).

mod apt;
mod initramfs;
mod kernels;
mod qemu;
mod report;

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::cmd::root;
pub use apt::{ensure_installed, find_on_path};
use kernels::{Kernel, MATRIX, Series};
use qemu::{Boot, Ending};
use report::{Row, human, print_table};

const MEMORY: &str = "3G";

/// What the matrix run found: per kernel, whether it passed; tests passed and failed in all.
pub struct Outcome {
    pub kernels: Vec<(String, bool)>,
    pub passed: u64,
    pub failed: u64,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        !self.kernels.is_empty() && self.kernels.iter().all(|(_, ok)| *ok)
    }
}

/// `cargo xtask vmtest`: fails if any kernel failed.
pub fn run(filters: &[String]) -> Result<()> {
    let outcome = matrix(filters)?;
    if !outcome.ok() {
        let failed = outcome.kernels.iter().filter(|(_, ok)| !ok).count();
        bail!(
            "vmtest: {failed} of {} kernels failed",
            outcome.kernels.len()
        );
    }
    Ok(())
}

/// Boots each selected kernel and runs the test binaries inside; prints the table.
pub fn matrix(filters: &[String]) -> Result<Outcome> {
    let started = Instant::now();
    let selected = select(filters)?;
    apt::ensure_installed(qemu::QEMU, "qemu-system-x86")?;
    let busybox = kernels::busybox()?;
    let (zombietrace, tests) = build()?;
    let out = root().join("target/vmtest");
    fs::create_dir_all(&out)?;
    let initramfs = out.join("initramfs.cpio");
    let workdir = root().join("zombietrace");
    let cpus = env_number("VMTEST_CPUS", 2)? as u32;
    let test_threads = env_number("VMTEST_TEST_THREADS", 2)?;
    let binary_timeout = env_number("VMTEST_TIMEOUT", 300)?;
    let timeout = Duration::from_secs(120 + (binary_timeout + 5) * tests.len() as u64);
    let programs = host_programs(&root().join("tests"))?;
    initramfs::build(
        &initramfs::Contents {
            busybox: &busybox,
            programs: &programs,
            zombietrace: &zombietrace,
            tests: &tests,
            workdir: &workdir,
            test_threads: test_threads as u32,
            binary_timeout,
        },
        &initramfs,
    )?;
    let refresh = env::var_os("VMTEST_REFRESH").is_some_and(|v| v != "0" && !v.is_empty());
    let (accel, _) = qemu::accel();
    eprintln!(
        "xtask: vmtest: {} test binaries, {} MiB initramfs, qemu -accel {accel}",
        tests.len(),
        fs::metadata(&initramfs)?.len() >> 20
    );
    let mut rows = Vec::new();
    for series in selected {
        let t = Instant::now();
        let row = match series.kernel(refresh) {
            Ok(kernel) => test_kernel(&kernel, &initramfs, &out, cpus, timeout)?,
            Err(err) => Row {
                kernel: series.name.to_owned(),
                boot: format!("no kernel: {err:#}"),
                binaries: Vec::new(),
                wall: t.elapsed(),
                ok: false,
                logs: None,
                panics: Vec::new(),
            },
        };
        rows.push(row);
    }
    print_table(&rows, &tests);
    eprintln!(
        "xtask: vmtest: total wall time {}",
        human(started.elapsed())
    );
    let binaries = rows.iter().flat_map(|r| &r.binaries);
    Ok(Outcome {
        passed: binaries.clone().map(|b| b.passed as u64).sum(),
        failed: binaries.map(|b| b.failed as u64).sum(),
        kernels: rows.iter().map(|r| (r.kernel.clone(), r.ok)).collect(),
    })
}

/// The series whose name is an argument, or else whose name or cached release contains it.
fn select(filters: &[String]) -> Result<Vec<&'static Series>> {
    if filters.is_empty() {
        return Ok(MATRIX.iter().collect());
    }
    let mut chosen: Vec<&'static Series> = Vec::new();
    for f in filters {
        let exact: Vec<&'static Series> = MATRIX.iter().filter(|s| s.name == f).collect();
        let found = if exact.is_empty() {
            MATRIX
                .iter()
                .filter(|s| {
                    s.name.contains(f.as_str())
                        || s.cached().is_some_and(|k| k.release.contains(f.as_str()))
                })
                .collect()
        } else {
            exact
        };
        if found.is_empty() {
            let names: Vec<&str> = MATRIX.iter().map(|s| s.name).collect();
            bail!(
                "no kernel matches {f:?}; the matrix is {}",
                names.join(", ")
            );
        }
        for s in found {
            if !chosen.iter().any(|c| c.name == s.name) {
                chosen.push(s);
            }
        }
    }
    // In matrix order, whatever the order of the arguments.
    Ok(MATRIX
        .iter()
        .filter(|s| chosen.iter().any(|c| c.name == s.name))
        .collect())
}

/// Test binaries that check the host's own tools (apt, systemd-analyze, promtool, strace, …) and have
/// nothing to do in a guest.
const HOST_ONLY_TESTS: [&str; 5] = ["deploy", "podman", "prometheus", "ptrace", "top"];

/// Builds the tracer and the integration test binaries; returns the tracer's path and each
/// `[[test]]` target's (name, executable). The tracer is the static binary `cargo xtask dist`
/// ships (no library of the host is copied for it); the tests, built for the host, still load
/// the host's glibc, and run it through `ZOMBIETRACE_BIN`.
fn build() -> Result<(PathBuf, Vec<(String, PathBuf)>)> {
    let zombietrace = crate::dist::build_static()?;
    let mut tests: Vec<(String, PathBuf)> =
        cargo_artifacts(&["test", "--no-run", "-p", "zombietrace"])?
            .into_iter()
            .filter(|(kind, name, _)| kind == "test" && !HOST_ONLY_TESTS.contains(&name.as_str()))
            .map(|(_, name, exe)| (name, exe))
            .collect();
    if tests.is_empty() {
        bail!("cargo test --no-run reported no integration test binary");
    }
    tests.sort();
    eprintln!(
        "xtask: vmtest: tracer {} (static, {} bytes); host-only tests not run in guests: {}",
        zombietrace.display(),
        fs::metadata(&zombietrace)?.len(),
        HOST_ONLY_TESTS.join(", ")
    );
    Ok((zombietrace, tests))
}

/// The host programs the guest needs: those the integration tests start by name
/// (`Command::new("chrt")` in `tests/`, host-only tests aside), and `sleep`, which the spawner's exec-leak parent
/// becomes (it must be a real `sleep`, not a busybox applet).
fn host_programs(tests: &Path) -> Result<Vec<PathBuf>> {
    let mut names = vec!["sleep".to_owned()];
    let mut dirs = vec![tests.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir)?.filter_map(|e| e.ok()) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path
                    .file_stem()
                    .is_some_and(|s| HOST_ONLY_TESTS.iter().any(|t| s == *t))
            {
                let text = fs::read_to_string(&path)?;
                for rest in text.split("Command::new(\"").skip(1) {
                    if let Some((name, _)) = rest.split_once('"')
                        && !name.is_empty()
                        && !names.iter().any(|n| n == name)
                    {
                        names.push(name.to_owned());
                    }
                }
            }
        }
    }
    let mut programs = Vec::new();
    for name in names {
        let found = if name.starts_with('/') {
            Some(PathBuf::from(&name)).filter(|p| p.is_file())
        } else {
            apt::find_on_path(&name)
        };
        match found {
            Some(path) => programs.push(path),
            None => eprintln!("xtask: vmtest: the tests run {name}, which this host lacks"),
        }
    }
    Ok(programs)
}

/// (kind, name, executable) of each artifact cargo reports building.
fn cargo_artifacts(args: &[&str]) -> Result<Vec<(String, String, PathBuf)>> {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root())
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    eprintln!("xtask: running {cmd:?}");
    let out = cmd.output().context("running cargo")?;
    if !out.status.success() {
        bail!("cargo {} failed: {}", args.join(" "), out.status);
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let (Some(exe), Some(kind)) = (
            msg["executable"].as_str(),
            msg["target"]["kind"][0].as_str(),
        ) else {
            continue;
        };
        let name = msg["target"]["name"].as_str().unwrap_or_default();
        found.push((kind.to_owned(), name.to_owned(), PathBuf::from(exe)));
    }
    Ok(found)
}

fn test_kernel(
    kernel: &Kernel,
    initramfs: &Path,
    out: &Path,
    cpus: u32,
    timeout: Duration,
) -> Result<Row> {
    let dir = out.join(&kernel.release);
    let started = Instant::now();
    let mut panics = Vec::new();
    let _ = fs::remove_dir_all(dir.join("panic-1")); // from an earlier run
    loop {
        eprintln!(
            "xtask: vmtest: booting {} ({} {})",
            kernel.release, kernel.package, kernel.version
        );
        let (ending, logs) = qemu::boot(&Boot {
            label: kernel.series,
            vmlinuz: &kernel.vmlinuz,
            initramfs,
            logs: &dir,
            memory: MEMORY,
            cpus,
            timeout,
        })?;
        let stdout = fs::read_to_string(&logs.stdout).unwrap_or_default();
        let run = report::parse(&stdout);
        let console = fs::read_to_string(&logs.console).unwrap_or_default();
        // "[    7.79] Kernel panic - not syncing: …", without the timestamp.
        let panic = console
            .lines()
            .find_map(|l| l.find("Kernel panic").map(|at| l[at..].trim()));
        // One more boot after a panic: qemu's multi-threaded TCG has been seen to trip on the
        // kernel's own code patching as a tracepoint is switched on (an int3 oops, or both
        // vCPUs spinning at the patch site: a soft lockup, which `softlockup_panic=1` turns
        // into a panic). The first boot's logs are kept in panic-1/ and the table says so; a
        // second panic fails.
        if !run.done && panic.is_some() && panics.is_empty() {
            let kept = dir.join("panic-1");
            let _ = fs::remove_dir_all(&kept);
            fs::create_dir_all(&kept)?;
            for f in [&logs.console, &logs.stdout, &logs.stderr, &logs.qemu] {
                if let Some(name) = f.file_name() {
                    let _ = fs::rename(f, kept.join(name));
                }
            }
            panics.push(oops_summary(&console, &kept));
            eprintln!(
                "xtask: vmtest: {} panicked; booting it once more",
                kernel.release
            );
            continue;
        }
        let mut boot = match ending {
            _ if run.done => "ok".to_owned(),
            _ if let Some(p) = panic => p.to_owned(),
            Ending::TimedOut => format!("timeout ({}s)", timeout.as_secs()),
            Ending::Exited(code) if run.kernel_line.is_none() => {
                format!("init never ran (qemu exit {code:?})")
            }
            Ending::Exited(code) => format!("ended early (qemu exit {code:?})"),
        };
        if !panics.is_empty() {
            boot.push_str(" (2nd boot: 1st panicked)");
        }
        let ok = run.done && !run.binaries.is_empty() && run.binaries.iter().all(|b| b.ok());
        return Ok(Row {
            kernel: kernel.release.clone(),
            boot,
            binaries: run.binaries,
            wall: started.elapsed(),
            ok,
            logs: Some(logs),
            panics,
        });
    }
}

/// The oops and panic lines of a console log, and where it is kept.
fn oops_summary(console: &str, kept: &Path) -> String {
    let mut lines: Vec<&str> = console
        .lines()
        .filter(|l| {
            ["Oops", "RIP: 0010", "Comm:", "Kernel panic"]
                .iter()
                .any(|k| l.contains(k))
        })
        .map(str::trim)
        .take(4)
        .collect();
    let at = format!("(logs: {})", kept.display());
    lines.push(&at);
    lines.join("\n")
}

fn env_number(name: &str, default: u64) -> Result<u64> {
    match env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}
