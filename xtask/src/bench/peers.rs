//! What the bench runs: exitsnoop (libbpf-tools), bpftrace and stress-ng from apt when they are
//! missing, and a fresh release build of zombietrace.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::cmd::{self, root};

pub struct Tools {
    pub zombietrace: PathBuf,
    pub exitsnoop: PathBuf,
    pub bpftrace: PathBuf,
    pub stress_ng: PathBuf,
    /// The bench's own fork loop, compiled from forkloop.rs.
    pub forkloop: PathBuf,
    /// The soak's workload (`ztsoak`), compiled from soakload.rs.
    pub soakload: PathBuf,
    /// Versions, for the JSON record.
    pub versions: Value,
}

/// A program on PATH or in the sbin directories (which a user's PATH may lack).
fn find(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// libbpf-tools installs `exitsnoop` (Debian 12) or `exitsnoop.bpf` (newer packaging).
fn find_exitsnoop() -> Option<PathBuf> {
    ["/usr/sbin/exitsnoop", "/usr/sbin/exitsnoop.bpf"]
        .map(PathBuf::from)
        .into_iter()
        .find(|p| is_executable(p))
        .or_else(|| find("exitsnoop.bpf"))
        .or_else(|| find("exitsnoop"))
}

/// Installs what is missing (apt-get update once, then install), locates everything, builds
/// zombietrace (release) and the fork loop (into `dir`).
pub fn ensure(dir: &Path) -> Result<Tools> {
    let mut missing = Vec::new();
    if find_exitsnoop().is_none() {
        missing.push("libbpf-tools");
    }
    if find("bpftrace").is_none() {
        missing.push("bpftrace");
    }
    if find("stress-ng").is_none() {
        missing.push("stress-ng");
    }
    if !missing.is_empty() {
        eprintln!("xtask bench: installing {}", missing.join(" "));
        cmd::run(Command::new("apt-get").arg("update"))?;
        cmd::run(
            Command::new("apt-get")
                .args(["install", "-y"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    let exitsnoop =
        find_exitsnoop().context("exitsnoop not found after installing libbpf-tools")?;
    let bpftrace = find("bpftrace").context("bpftrace not found after installing it")?;
    let stress_ng = find("stress-ng").context("stress-ng not found after installing it")?;
    let zombietrace = cmd::build_release()?;
    if !is_executable(&zombietrace) {
        bail!("{zombietrace:?} was not built");
    }
    let forkloop = super::workload::build_program(dir, "forkloop", include_str!("forkloop.rs"))?;
    let soakload = super::workload::build_program(dir, "ztsoak", include_str!("soakload.rs"))?;
    let versions = json!({
        "zombietrace": version(Command::new(&zombietrace).arg("--version")),
        "exitsnoop": package_version("libbpf-tools"),
        "bpftrace": version(Command::new(&bpftrace).arg("--version")),
        "stress_ng": version(Command::new(&stress_ng).arg("--version")),
        "git": version(Command::new("git").current_dir(root()).args(["rev-parse", "--short", "HEAD"])),
    });
    Ok(Tools {
        zombietrace,
        exitsnoop,
        bpftrace,
        stress_ng,
        forkloop,
        soakload,
        versions,
    })
}

fn version(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn package_version(package: &str) -> String {
    version(Command::new("dpkg-query").args(["-W", "-f", "${Version}", package]))
}

/// The machine, for the JSON record.
pub fn machine() -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    json!({
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": model,
        "loadavg_at_start": read("/proc/loadavg").trim(),
        "pid_max": read("/proc/sys/kernel/pid_max").trim(),
    })
}

/// Other processes holding eBPF programs (another tracer left running would be attached
/// during the "untraced" runs too): `[{pid, cmdline}]`.
pub fn other_bpf_holders() -> Value {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return json!(found);
    };
    for p in procs.filter_map(Result::ok) {
        let pid = p.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.filter_map(Result::ok).any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|l| l.to_string_lossy() == "anon_inode:bpf-prog")
        });
        if holds {
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push(json!({"pid": pid.parse::<u32>().unwrap_or(0), "cmdline": cmdline.trim()}));
        }
    }
    json!(found)
}
