//! One-time set-up of a fresh machine (one with only rustup's stable is enough): the nightly
//! pinned for the kernel programs, with rust-src and clippy, and bpf-linker built against that
//! nightly's own libLLVM (Debian's llvm-config is too old for it). The nightly is named in one
//! place, `zombietrace-ebpf/rust-toolchain.toml`, which `zombietrace/build.rs` reads too.

use std::{
    env, fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::cmd::{self, root};

/// The bpf-linker release; it is built against the pinned nightly's LLVM (the `llvm-<major>`
/// feature follows the nightly), so the two move together.
const BPF_LINKER_VERSION: &str = "0.13.0";
/// Components of the pinned nightly the build and the lint need.
const COMPONENTS: [&str; 2] = ["rust-src", "clippy"];

pub fn setup() -> Result<()> {
    let pin = pinned_nightly()?;
    let sysroot = ensure_toolchain(&pin)?;
    let llvm = libllvm(&sysroot)?;
    if bpf_linker_ok(&sysroot.join("lib").join(&llvm)) {
        return Ok(());
    }
    install_bpf_linker(&pin, &sysroot, &llvm)
}

/// The `channel` of `zombietrace-ebpf/rust-toolchain.toml`, e.g. `nightly-2026-05-20`.
pub fn pinned_nightly() -> Result<String> {
    let file = root().join("zombietrace-ebpf/rust-toolchain.toml");
    let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    channel(&text).with_context(|| format!("no `channel = \"…\"` in {}", file.display()))
}

fn channel(toml: &str) -> Option<String> {
    toml.lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("channel")?
            .trim()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_owned()).filter(|v| !v.is_empty())
    })
}

/// Installs the pinned nightly and its components if missing; returns its sysroot.
fn ensure_toolchain(pin: &str) -> Result<PathBuf> {
    let sysroot = || -> Option<PathBuf> {
        let out = Command::new("rustc")
            .arg(format!("+{pin}"))
            .args(["--print", "sysroot"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    };
    let complete = |s: &Path| {
        s.join("lib/rustlib/src/rust/library").is_dir() && s.join("bin/cargo-clippy").is_file()
    };
    if let Some(s) = sysroot()
        && complete(&s)
    {
        return Ok(s);
    }
    eprintln!(
        "xtask: setup: installing {pin}, the nightly pinned for the kernel programs in \
         zombietrace-ebpf/rust-toolchain.toml (with {})",
        COMPONENTS.join(", ")
    );
    let mut rustup = Command::new("rustup");
    rustup.args(["toolchain", "install", pin, "--profile", "minimal"]);
    for c in COMPONENTS {
        rustup.args(["--component", c]);
    }
    cmd::run(&mut rustup).context("installing the pinned nightly needs rustup")?;
    match sysroot() {
        Some(s) if complete(&s) => Ok(s),
        _ => bail!("{pin} was installed but `rustc +{pin}` or its rust-src/clippy is missing"),
    }
}

/// The nightly ships `lib/libLLVM.so.<major>.<minor>-rust-<version>`; its file name.
fn libllvm(sysroot: &Path) -> Result<String> {
    let lib = sysroot.join("lib");
    fs::read_dir(&lib)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("libLLVM.so.") && name.contains("-rust-"))
        .with_context(|| format!("no libLLVM.so.*-rust-* in {}", lib.display()))
}

/// bpf-linker on PATH (the one rustc runs) is this release and loads exactly `llvm`.
fn bpf_linker_ok(llvm: &Path) -> bool {
    let Some(linker) = crate::vmtest::find_on_path("bpf-linker") else {
        return false;
    };
    let version_ok = Command::new(&linker)
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION)
        });
    version_ok && loads(&linker, llvm)
}

/// Whether the dynamic loader resolves `binary`'s libLLVM to the file `llvm` (through any
/// symlinks), as `ldd` reports it.
fn loads(binary: &Path, llvm: &Path) -> bool {
    let Ok(out) = Command::new("ldd").arg(binary).output() else {
        return false;
    };
    let want = fs::canonicalize(llvm).ok();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("libLLVM"))
        .filter_map(|l| {
            l.split("=>")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(PathBuf::from)
        })
        .any(|p| want.is_some() && fs::canonicalize(p).ok() == want)
}

/// bpf-linker links against the nightly's libLLVM through a prefix folder (one per pinned
/// nightly) that looks like an LLVM install.
fn install_bpf_linker(pin: &str, sysroot: &Path, llvm: &str) -> Result<()> {
    let major =
        llvm_major(llvm).with_context(|| format!("cannot read the LLVM version from {llvm}"))?;
    eprintln!(
        "xtask: setup: building bpf-linker {BPF_LINKER_VERSION} against {pin}'s LLVM {major} \
         ({llvm})"
    );
    let home = env::var_os("HOME").context("HOME is not set")?;
    let prefix = PathBuf::from(home).join(format!(".cache/zombietrace/llvm-prefix-{pin}"));
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib)?;
    let lib = sysroot.join("lib").join(llvm);
    for name in ["libLLVM.so", llvm] {
        let link = prefix_lib.join(name);
        let _ = fs::remove_file(&link); // replace a stale link
        symlink(&lib, &link).with_context(|| format!("linking {}", link.display()))?;
    }
    cmd::run(
        Command::new("cargo")
            .arg(format!("+{pin}"))
            .args(["install", &format!("bpf-linker@{BPF_LINKER_VERSION}")])
            .args(["--locked", "--force", "--no-default-features", "--features"])
            .arg(format!("llvm-{major}"))
            .env("LLVM_PREFIX", &prefix),
    )?;
    if !bpf_linker_ok(&lib) {
        bail!(
            "bpf-linker {BPF_LINKER_VERSION} was installed but the one on PATH does not run or \
             does not load {} (is ~/.cargo/bin on PATH, ahead of any other bpf-linker?)",
            lib.display()
        );
    }
    Ok(())
}

/// "libLLVM.so.22.1-rust-1.97.0-nightly" → 22.
fn llvm_major(llvm: &str) -> Option<u32> {
    llvm.strip_prefix("libLLVM.so.")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pin() {
        let toml = "# comment\n[toolchain]\nchannel = \"nightly-2026-05-20\"\ncomponents = []\n";
        assert_eq!(channel(toml).as_deref(), Some("nightly-2026-05-20"));
        assert_eq!(channel("[toolchain]\n"), None);
        // The file in the tree names a dated nightly.
        let pin = pinned_nightly().unwrap();
        assert!(
            pin.starts_with("nightly-20"),
            "{pin} is not a dated nightly"
        );
    }

    #[test]
    fn llvm_major_from_the_library_name() {
        assert_eq!(llvm_major("libLLVM.so.22.1-rust-1.97.0-nightly"), Some(22));
        assert_eq!(llvm_major("libLLVM-22.so"), None);
    }
}
