//! Builds the kernel programs (`zombietrace-ebpf`) for the bpf target with aya-build and leaves
//! the object in OUT_DIR, where `src/kernel/loader.rs` embeds it; then describes the build for
//! `zombietrace --version` (environment variables read by `src/cli.rs`).
//!
//! The kernel programs are built with the nightly pinned in `zombietrace-ebpf/rust-toolchain.toml`
//! (the one `cargo xtask setup` installs, with a bpf-linker built against its LLVM).
//!
//! `AYA_BUILD_SKIP=1` skips the eBPF build (for quick userspace-only checks); the binary then
//! carries an empty object and says so when asked to trace. `ZOMBIETRACE_GIT_COMMIT` names the
//! commit when the source is not a git checkout (a release tarball).

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, anyhow};
use sha2::{Digest as _, Sha256};

fn main() -> anyhow::Result<()> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or_else(|| anyhow!("OUT_DIR not set"))?);
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().context("workspace root")?;
    let ebpf_dir = workspace.join("zombietrace-ebpf");
    let toolchain_file = ebpf_dir.join("rust-toolchain.toml");
    println!("cargo:rerun-if-changed={}", toolchain_file.display());
    let toolchain = pinned_channel(&fs::read_to_string(&toolchain_file).with_context(|| {
        format!(
            "reading the kernel programs' toolchain pin {}",
            toolchain_file.display()
        )
    })?)
    .with_context(|| format!("no `channel = \"…\"` in {}", toolchain_file.display()))?;

    let skip = env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    let object = out_dir.join("zombietrace");
    if skip {
        fs::write(&object, [])?;
    } else {
        let root_dir = ebpf_dir.to_str().context("non-UTF-8 path")?;
        aya_build::build_ebpf(
            [aya_build::Package {
                name: "zombietrace-ebpf",
                root_dir,
                ..Default::default()
            }],
            aya_build::Toolchain::Custom(&toolchain),
        )
        .with_context(|| {
            format!(
                "building the eBPF programs with {toolchain} failed; run `cargo xtask setup` once \
                 (it installs {toolchain} with rust-src, and bpf-linker built against its LLVM)"
            )
        })?;
    }

    let object = fs::read(&object).with_context(|| format!("reading {}", object.display()))?;
    describe_build(
        workspace,
        &manifest_dir,
        &out_dir,
        &toolchain,
        &object,
        skip,
    )
}

/// The `channel = "…"` of a rust-toolchain.toml.
fn pinned_channel(toml: &str) -> Option<String> {
    toml.lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("channel")?
            .trim()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_owned()).filter(|v| !v.is_empty())
    })
}

/// Writes `version.txt` (one line, for `-V`) and `long_version.txt` (`--version`) into OUT_DIR.
fn describe_build(
    workspace: &Path,
    manifest_dir: &Path,
    out_dir: &Path,
    toolchain: &str,
    object: &[u8],
    skip: bool,
) -> anyhow::Result<()> {
    let version = env::var("CARGO_PKG_VERSION")?;
    let commit = git_commit(workspace, manifest_dir);
    let lock = fs::read_to_string(workspace.join("Cargo.lock")).unwrap_or_default();
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    let aya = locked_version(&lock, "aya").unwrap_or_else(|| "unknown".into());
    let aya_ebpf = locked_version(&lock, "aya-ebpf").unwrap_or_else(|| "unknown".into());
    let target = env::var("TARGET").unwrap_or_default();
    let (short_hash, programs) = if skip || object.is_empty() {
        (
            "none".to_owned(),
            "none (built with AYA_BUILD_SKIP=1: this binary cannot trace)".to_owned(),
        )
    } else {
        let digest = Sha256::digest(object);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let linker = Command::new("bpf-linker")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "bpf-linker (version unknown)".into());
        (
            hex[..12].to_owned(),
            format!(
                "sha256 {hex}, {} bytes; aya-ebpf {aya_ebpf}, {toolchain}, {linker}",
                object.len()
            ),
        )
    };
    let short = format!("{version} ({commit}, aya {aya}, ebpf {short_hash})");
    let long = format!(
        "{version}\ncommit:          {commit}\naya:             {aya}\nkernel programs: {programs}\ntarget:          {target}"
    );
    fs::write(out_dir.join("version.txt"), short)?;
    fs::write(out_dir.join("long_version.txt"), long)?;
    Ok(())
}

/// The version of `name` in Cargo.lock (the first entry: each of ours is there once).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"") {
            let next = lines.next()?;
            return Some(
                next.trim()
                    .strip_prefix("version = ")?
                    .trim_matches('"')
                    .to_owned(),
            );
        }
    }
    None
}

/// The short commit hash, with `-dirty` when tracked files differ from it; ZOMBIETRACE_GIT_COMMIT
/// when there is no git checkout; else "unknown".
fn git_commit(workspace: &Path, manifest_dir: &Path) -> String {
    println!("cargo:rerun-if-env-changed=ZOMBIETRACE_GIT_COMMIT");
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .current_dir(workspace)
            .arg("--no-optional-locks") // `status` must not rewrite the index it watches
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let Some(hash) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return env::var("ZOMBIETRACE_GIT_COMMIT").unwrap_or_else(|_| "unknown".into());
    };
    // Rebuild this description when HEAD moves, the index changes, or a source file changes
    // (so `-dirty` follows edits).
    let mut watched = vec![
        "HEAD".to_owned(),
        "index".to_owned(),
        "packed-refs".to_owned(),
    ];
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(head_ref);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = workspace.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    for dir in [
        manifest_dir.join("src"),
        workspace.join("zombietrace-common/src"),
    ] {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{hash}-dirty") } else { hash }
}
