//! One boot: qemu with the kernel console, the tests' stdout and their stderr on three serial
//! ports (each to its own log file), bounded by a timeout, progress echoed as it comes.

use std::{
    fs,
    io::{Read as _, Seek as _, SeekFrom},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use super::initramfs::{BEGIN, DONE, END};

pub const QEMU: &str = "qemu-system-x86_64";

/// How a boot ended.
pub enum Ending {
    /// qemu exited (power-off, or a panic's reboot with -no-reboot); its exit status.
    Exited(Option<i32>),
    /// Killed after the timeout.
    TimedOut,
}

pub struct Boot<'a> {
    pub label: &'a str,
    pub vmlinuz: &'a Path,
    pub initramfs: &'a Path,
    pub logs: &'a Path,
    pub memory: &'a str,
    pub cpus: u32,
    pub timeout: Duration,
}

pub struct Logs {
    pub console: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub qemu: PathBuf,
}

impl Logs {
    pub fn new(dir: &Path) -> Logs {
        Logs {
            console: dir.join("console.log"),
            stdout: dir.join("stdout.log"),
            stderr: dir.join("stderr.log"),
            qemu: dir.join("qemu.log"),
        }
    }
}

/// KVM only with a real hardware virtualization module; TCG otherwise (a paravirtual
/// /dev/kvm backend cannot boot stock kernels). `VMTEST_ACCEL` overrides it (e.g.
/// `tcg,thread=multi`).
pub fn accel() -> (String, &'static str) {
    if let Ok(accel) = std::env::var("VMTEST_ACCEL")
        && !accel.is_empty()
    {
        let cpu = if accel.starts_with("kvm") {
            "host"
        } else {
            "max"
        };
        return (accel, cpu);
    }
    let hw = ["kvm_intel", "kvm_amd"]
        .iter()
        .any(|m| Path::new("/sys/module").join(m).exists());
    if hw && Path::new("/dev/kvm").exists() {
        ("kvm".into(), "host")
    } else {
        ("tcg,thread=single".into(), "max")
    }
}

pub fn boot(b: &Boot) -> Result<(Ending, Logs)> {
    fs::create_dir_all(b.logs).with_context(|| format!("creating {}", b.logs.display()))?;
    let logs = Logs::new(b.logs);
    for f in [&logs.console, &logs.stdout, &logs.stderr, &logs.qemu] {
        let _ = fs::remove_file(f);
    }
    let (accel, cpu) = accel();
    let mut qemu = Command::new(QEMU);
    qemu.args(["-nodefaults", "-display", "none", "-no-reboot"])
        .args(["-accel", &accel, "-cpu", cpu])
        .args(["-smp", &b.cpus.to_string(), "-m", b.memory])
        .arg("-kernel")
        .arg(b.vmlinuz)
        .arg("-initrd")
        .arg(b.initramfs)
        // tsc=reliable: TCG's vCPUs share one host-derived TSC, but the kernel's sync check
        // rejects it and falls back to HPET, where every clock read traps to qemu.
        // mitigations=off: page-table isolation and friends only slow the emulation down.
        // softlockup_panic=1: qemu 7.2's multi-threaded TCG has left both vCPUs spinning at a
        // static-key site the kernel was patching (a tracepoint being switched on); a soft
        // lockup then panics after ~20 s, and the panic gets the boot a second try (mod.rs),
        // instead of the whole run waiting out its timeout.
        .arg("-append")
        .arg(format!(
            "console=ttyS0 panic=-1 softlockup_panic=1 rdinit=/init mitigations=off \
             tsc=reliable{}",
            // An emulated CPU runs a woken process milliseconds (once over 100 ms) late, so the
            // spawner's readings right after a poll wakes or a wait call returns are that late:
            // the tests then check the tracer only against the spawner's brackets (child's own
            // last reading .. seen gone; right before the reaping call .. right after it), not
            // the points (tests/support). /proc is read as slowly, so a leak's diagnosis gets
            // 5 s instead of 250 ms. Unknown `name=value` words reach init as environment
            // variables.
            if accel.starts_with("tcg") {
                " ZOMBIETRACE_LATE_WAKEUPS=1 ZOMBIETRACE_DIAGNOSIS_LIMIT_MS=5000"
            } else {
                ""
            }
        ));
    for port in [&logs.console, &logs.stdout, &logs.stderr] {
        qemu.arg("-serial").arg(format!("file:{}", port.display()));
    }
    let qemu_log = fs::File::create(&logs.qemu)?;
    qemu.stdin(Stdio::null())
        .stdout(qemu_log.try_clone()?)
        .stderr(qemu_log);
    let mut child = qemu
        .spawn()
        .with_context(|| format!("starting {QEMU} (see {})", logs.qemu.display()))?;
    let started = Instant::now();
    let mut progress = Progress::new(b.label, &logs.stdout);
    let mut done_at: Option<Instant> = None;
    let ending = loop {
        if let Some(status) = child.try_wait()? {
            progress.poll();
            break Ending::Exited(status.code());
        }
        if progress.poll() && done_at.is_none() {
            done_at = Some(Instant::now());
        }
        // Finished but not powered off (no ACPI?): do not wait for the whole timeout.
        let stuck = done_at.is_some_and(|t| t.elapsed() > Duration::from_secs(30));
        if stuck || started.elapsed() > b.timeout {
            let _ = child.kill();
            let _ = child.wait();
            progress.poll();
            break if stuck {
                Ending::Exited(None)
            } else {
                Ending::TimedOut
            };
        }
        thread::sleep(Duration::from_millis(200));
    };
    Ok((ending, logs))
}

/// Echoes the marker and `test … ok/FAILED` lines of the stdout port as they arrive.
struct Progress<'a> {
    label: &'a str,
    path: &'a Path,
    offset: u64,
    partial: String,
    done: bool,
}

impl<'a> Progress<'a> {
    fn new(label: &'a str, path: &'a Path) -> Self {
        Progress {
            label,
            path,
            offset: 0,
            partial: String::new(),
            done: false,
        }
    }

    /// Reads what is new; true once the final marker was seen.
    fn poll(&mut self) -> bool {
        let Ok(mut file) = fs::File::open(self.path) else {
            return self.done;
        };
        let mut buf = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_end(&mut buf).is_err() {
            return self.done;
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        while let Some(at) = self.partial.find('\n') {
            let text: String = self.partial.drain(..=at).collect();
            for line in super::report::lines(&text) {
                self.show(line);
            }
        }
        self.done
    }

    fn show(&mut self, line: &str) {
        let shown = line.starts_with(BEGIN)
            || line.starts_with(END)
            || line.starts_with("vmtest:")
            || (line.starts_with("test ") && line.contains(" ... "))
            || line.starts_with("test result:");
        if shown {
            eprintln!("[{}] {line}", self.label);
        }
        if line == DONE {
            self.done = true;
        }
    }
}
