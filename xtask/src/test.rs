//! The whole test suite, and running the tracer.

use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::cmd::{self, root};

pub fn lint() -> Result<()> {
    cmd::run(
        Command::new("cargo")
            .current_dir(root())
            .args(["fmt", "--all", "--check"]),
    )?;
    cmd::run(Command::new("cargo").current_dir(root()).args([
        "clippy",
        "--workspace",
        "--exclude",
        "zombietrace-ebpf",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The fuzz targets (fuzz/, a workspace of its own) must keep compiling against the library;
    // without the eBPF programs, which they do not need (`cargo xtask fuzz` runs them).
    let fuzz = root().join("fuzz/Cargo.toml");
    cmd::run(
        Command::new("cargo")
            .args(["fmt", "--check", "--manifest-path"])
            .arg(&fuzz),
    )?;
    cmd::run(
        Command::new("cargo")
            .args(["clippy", "--all-targets", "--manifest-path"])
            .arg(&fuzz)
            .args(["--", "-D", "warnings"])
            .env("AYA_BUILD_SKIP", "1"),
    )?;
    // The kernel half builds only for the bpf target, with the pinned nightly.
    let pin = crate::setup::pinned_nightly()?;
    cmd::run(
        Command::new("cargo")
            .current_dir(root().join("zombietrace-ebpf"))
            .arg(format!("+{pin}"))
            .args(["clippy", "--release", "--target", "bpfel-unknown-none"])
            .args(["-Z", "build-std=core", "--", "-D", "warnings"]),
    )
}

/// The whole suite: lint, every test on the host, then the root integration tests on each kernel
/// of the matrix under qemu (unless `host_only`).
pub fn test(host_only: bool) -> Result<()> {
    if !cmd::is_root() {
        bail!(
            "the integration tests load eBPF programs and trace real processes: run the suite as \
             root, e.g. `sudo -E env PATH=\"$PATH\" cargo xtask test`"
        );
    }
    lint()?;
    let mut cargo = Command::new("cargo");
    cargo.current_dir(root()).args([
        "test",
        "--workspace",
        "--exclude",
        "zombietrace-ebpf",
        "--all-targets",
    ]);
    let (passed, failed) = cmd::run_counting_tests(&mut cargo)?;
    if failed > 0 || passed == 0 {
        println!("suite: {passed} passed, {failed} failed (host)");
        bail!("the test suite did not pass on the host");
    }
    // What users install, built and proven on this machine (the static binary, the .deb, the
    // container context); the kernel matrix then runs the same static binary.
    let built = crate::dist::dist()?;
    let dist = crate::dist::check(&built)
        .context("cargo xtask dist: its output did not pass its checks")?;
    // deploy/'s checks again, with the binary the unit, the image and the package run (its
    // system calls are musl's, not glibc's).
    let mut deploy = Command::new("cargo");
    deploy
        .current_dir(root())
        .args(["test", "-p", "zombietrace", "--test", "deploy"])
        .env("ZOMBIETRACE_BIN", &built.binary);
    let (deploy_passed, deploy_failed) = cmd::run_counting_tests(&mut deploy)?;
    let (passed, failed) = (passed + deploy_passed, failed + deploy_failed);
    if deploy_failed > 0 || deploy_passed == 0 {
        bail!("deploy/'s checks did not pass with the static binary");
    }
    if host_only {
        println!(
            "suite: {passed} passed, {failed} failed (host only); dist: {} checks passed",
            dist.len()
        );
        return Ok(());
    }
    let vm = crate::vmtest::matrix(&[])?;
    let kernels: Vec<String> = vm
        .kernels
        .iter()
        .map(|(k, ok)| format!("{k} {}", if *ok { "PASS" } else { "FAIL" }))
        .collect();
    // One closing line for the whole suite (every test binary's own line is above).
    println!(
        "suite: {} passed, {} failed ({passed} on the host; {} in {} kernels: {}); dist: {} checks passed",
        passed + vm.passed,
        failed + vm.failed,
        vm.passed,
        vm.kernels.len(),
        kernels.join(", "),
        dist.len()
    );
    if !vm.ok() {
        bail!("the test suite did not pass on every kernel of the matrix");
    }
    Ok(())
}

pub fn run(args: &[String]) -> Result<()> {
    let binary = cmd::build_release()?;
    let mut command = if cmd::is_root() {
        Command::new(&binary)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg(&binary);
        sudo
    };
    command.args(args);
    let mut child = command.spawn()?;
    // zombietrace handles Ctrl-C itself (detach, summary): xtask ignores it and waits.
    cmd::ignore_interrupts();
    let status = child.wait()?;
    if !status.success() {
        bail!("zombietrace exited with {status}");
    }
    Ok(())
}
