//! The whole test suite, and running the tracer.

use std::process::Command;

use anyhow::{Result, bail};

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
    // The kernel half builds only for the bpf target, with nightly.
    cmd::run(
        Command::new("cargo")
            .current_dir(root().join("zombietrace-ebpf"))
            .args([
                "+nightly",
                "clippy",
                "--release",
                "--target",
                "bpfel-unknown-none",
            ])
            .args(["-Z", "build-std=core", "--", "-D", "warnings"]),
    )
}

pub fn test() -> Result<()> {
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
    // One closing line for the whole suite (every test binary's own line is above).
    println!("suite: {passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        bail!("the test suite did not pass");
    }
    Ok(())
}

pub fn run(args: &[String]) -> Result<()> {
    cmd::run(Command::new("cargo").current_dir(root()).args([
        "build",
        "--release",
        "-p",
        "zombietrace",
    ]))?;
    let binary = root().join("target/release/zombietrace");
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
