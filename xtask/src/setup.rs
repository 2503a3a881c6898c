//! One-time set-up of a fresh machine: the nightly toolchain's rust-src, and bpf-linker built
//! against the nightly toolchain's own libLLVM (Debian's llvm-config is too old for it).

use std::{env, fs, os::unix::fs::symlink, path::PathBuf, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::cmd;

const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn setup() -> Result<()> {
    let sysroot = nightly_sysroot()?;
    if !sysroot.join("lib/rustlib/src/rust/library").is_dir() {
        cmd::run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }
    if bpf_linker_ok() {
        return Ok(());
    }
    install_bpf_linker(&sysroot)
}

fn nightly_sysroot() -> Result<PathBuf> {
    let sysroot = cmd::output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))
        .context("a nightly toolchain is needed to build the eBPF programs (rustup toolchain install nightly)")?;
    Ok(PathBuf::from(sysroot.trim()))
}

fn bpf_linker_ok() -> bool {
    Command::new("bpf-linker")
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION)
        })
}

/// The nightly toolchain ships `lib/libLLVM.so.<major>.<minor>-rust-<version>`; bpf-linker
/// links against it through a prefix folder that looks like an LLVM install.
fn install_bpf_linker(sysroot: &std::path::Path) -> Result<()> {
    let lib = sysroot.join("lib");
    let llvm = fs::read_dir(&lib)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("libLLVM.so.") && name.contains("-rust-"))
        .with_context(|| format!("no libLLVM.so.*-rust-* in {}", lib.display()))?;
    let major = llvm
        .trim_start_matches("libLLVM.so.")
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .with_context(|| format!("cannot read the LLVM version from {llvm}"))?;
    let home = env::var_os("HOME").context("HOME is not set")?;
    let prefix = PathBuf::from(home).join(".cache/zombietrace/llvm-prefix");
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib)?;
    for name in ["libLLVM.so".to_string(), llvm.clone()] {
        let link = prefix_lib.join(&name);
        let _ = fs::remove_file(&link); // replace a stale link from another nightly
        symlink(lib.join(&llvm), &link).with_context(|| format!("linking {}", link.display()))?;
    }
    cmd::run(
        Command::new("cargo")
            .args([
                "+nightly",
                "install",
                &format!("bpf-linker@{BPF_LINKER_VERSION}"),
            ])
            .args(["--locked", "--force", "--no-default-features", "--features"])
            .arg(format!("llvm-{major}"))
            .env("LLVM_PREFIX", &prefix),
    )?;
    if !bpf_linker_ok() {
        bail!(
            "bpf-linker {BPF_LINKER_VERSION} was installed but does not run (is ~/.cargo/bin on PATH?)"
        );
    }
    Ok(())
}
