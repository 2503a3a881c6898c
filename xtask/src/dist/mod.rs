//! `cargo xtask dist`: what users install, built from the checkout into `target/dist/`:
//!
//! - `zombietrace`: the static x86_64 binary (musl), with its eBPF programs inside;
//! - `zombietrace_<version>-1_amd64.deb` (cargo-deb): that binary, the man pages and bash/zsh/fish
//!   completions generated from the clap definitions, the systemd unit from `deploy/` (not
//!   enabled on install), the copyright and license files;
//! - `container/`: the image's build context (`deploy/container/Containerfile` and the binary);
//! - `SHA256SUMS` over all of them.
//!
//! `check` then proves each of them works on this machine (run by `cargo xtask test`).

mod check;
pub mod elf;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};
use sha2::{Digest as _, Sha256};

pub use check::check;

use crate::cmd::{self, root};

/// The static binary's target and cargo profile (`[profile.dist]`: release, stripped).
pub const TARGET: &str = "x86_64-unknown-linux-musl";
const PROFILE: &str = "dist";
/// The Debian packager, installed with `cargo install` when missing.
const CARGO_DEB_VERSION: &str = "3.8.0";

/// What `dist` wrote.
pub struct Dist {
    pub dir: PathBuf,
    pub binary: PathBuf,
    pub deb: PathBuf,
    pub container: PathBuf,
}

/// Builds the static binary (installing the musl target and musl-tools if missing), checks that
/// it is static, and returns its path under target/.
pub fn build_static() -> Result<PathBuf> {
    ensure_musl_target()?;
    crate::vmtest::ensure_installed("musl-gcc", "musl-tools")?;
    cmd::run(Command::new("cargo").current_dir(root()).args([
        "build",
        "--profile",
        PROFILE,
        "--target",
        TARGET,
        "-p",
        "zombietrace",
    ]))?;
    let binary = out_dir().join("zombietrace");
    match elf::linking(&binary)? {
        elf::Linking::Static { .. } => Ok(binary),
        other => bail!("{} is not static: {other:?}", binary.display()),
    }
}

/// target/x86_64-unknown-linux-musl/dist: cargo's output folder for the static build, which
/// cargo-deb calls `target/release/`.
fn out_dir() -> PathBuf {
    root().join("target").join(TARGET).join(PROFILE)
}

fn ensure_musl_target() -> Result<()> {
    let libdir = cmd::output(Command::new("rustc").current_dir(root()).args([
        "--print",
        "target-libdir",
        "--target",
        TARGET,
    ]))?;
    let installed = fs::read_dir(libdir.trim())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
        .unwrap_or(false);
    if !installed {
        cmd::run(
            Command::new("rustup")
                .current_dir(root())
                .args(["target", "add", TARGET]),
        )?;
    }
    Ok(())
}

/// `cargo xtask dist`.
pub fn dist() -> Result<Dist> {
    let binary = build_static()?;
    let dir = root().join("target/dist");
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    fs::create_dir_all(&dir)?;

    generate(&binary)?;
    let deb = package(&dir)?;
    let shipped = dir.join("zombietrace");
    fs::copy(&binary, &shipped)?;
    let container = dir.join("container");
    fs::create_dir_all(&container)?;
    fs::copy(
        root().join("deploy/container/Containerfile"),
        container.join("Containerfile"),
    )?;
    fs::copy(&binary, container.join("zombietrace"))?;
    write_sums(&dir)?;
    eprintln!("xtask: dist: wrote {}:", dir.display());
    for f in files_under(&dir)? {
        let size = fs::metadata(dir.join(&f))?.len();
        eprintln!("  {f:<40} {:>9} bytes ({})", size, mib(size));
    }
    Ok(Dist {
        dir,
        binary: shipped,
        deb,
        container,
    })
}

/// Man pages (gzipped, as Debian wants them) and completions, by the binary itself, into
/// `generated/` beside it, where the package's assets point.
fn generate(binary: &Path) -> Result<()> {
    let generated = out_dir().join("generated");
    if generated.exists() {
        fs::remove_dir_all(&generated)?;
    }
    let man = generated.join("man");
    cmd::run(
        Command::new(binary)
            .args(["generate", "man", "--out"])
            .arg(&man),
    )?;
    for page in fs::read_dir(&man)?.filter_map(|e| e.ok()) {
        cmd::run(Command::new("gzip").args(["-9", "-n"]).arg(page.path()))?;
    }
    for shell in ["bash", "zsh", "fish"] {
        cmd::run(
            Command::new(binary)
                .args(["generate", "completions", shell, "--out"])
                .arg(generated.join("completions")),
        )?;
    }
    Ok(())
}

/// The .deb, by cargo-deb from the already built static binary; returns its path.
fn package(dir: &Path) -> Result<PathBuf> {
    let have = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(CARGO_DEB_VERSION)
        });
    if !have {
        cmd::run(Command::new("cargo").args([
            "install",
            "cargo-deb",
            "--version",
            CARGO_DEB_VERSION,
            "--locked",
        ]))?;
    }
    let out = cmd::output(
        Command::new("cargo")
            .current_dir(root())
            .args(["deb", "-p", "zombietrace", "--no-build", "--target", TARGET])
            .args(["--profile", PROFILE, "--output"])
            .arg(dir),
    )?;
    let deb = PathBuf::from(out.lines().last().unwrap_or_default().trim());
    let deb = if deb.is_absolute() {
        deb
    } else {
        root().join(deb)
    };
    if deb.extension().is_none_or(|e| e != "deb") || !deb.is_file() {
        bail!("cargo deb did not say where it wrote the package: {out}");
    }
    Ok(deb)
}

/// SHA256SUMS in `sha256sum` format ("<hex>  <path>"), over every file in `dir` but itself.
fn write_sums(dir: &Path) -> Result<()> {
    let mut sums = String::new();
    for f in files_under(dir)? {
        let digest = Sha256::digest(fs::read(dir.join(&f))?);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        sums.push_str(&format!("{hex}  {f}\n"));
    }
    fs::write(dir.join("SHA256SUMS"), sums)?;
    Ok(())
}

/// Files under `dir`, as sorted relative paths, SHA256SUMS excepted.
fn files_under(dir: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d)?.filter_map(|e| e.ok()) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path.strip_prefix(dir)?.to_string_lossy().into_owned();
                if rel != "SHA256SUMS" {
                    found.push(rel);
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
