//! Builds the kernel programs (`zombietrace-ebpf`) for the bpf target with aya-build and leaves
//! the object in OUT_DIR, where `src/kernel/loader.rs` embeds it.
//!
//! `AYA_BUILD_SKIP=1` skips the eBPF build (for quick userspace-only checks); the binary then
//! carries an empty object and says so when asked to trace.

use std::{env, fs, path::PathBuf};

use anyhow::{Context as _, anyhow};

fn main() -> anyhow::Result<()> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or_else(|| anyhow!("OUT_DIR not set"))?);
    let root_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?
        .join("zombietrace-ebpf");
    let skip = env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if skip {
        println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
        fs::write(out_dir.join("zombietrace"), [])?;
        return Ok(());
    }
    let root_dir = root_dir.to_str().context("non-UTF-8 path")?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "zombietrace-ebpf",
            root_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
    .context(
        "building the eBPF programs failed; run `cargo xtask setup` once \
         (nightly rust-src and bpf-linker)",
    )
}
