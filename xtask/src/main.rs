//! Developer tasks: `cargo xtask setup | run | test | lint | dist | bench | fuzz | vmtest`.

mod bench;
mod cmd;
mod dist;
mod fuzz;
mod setup;
mod test;
mod vmtest;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "zombietrace developer tasks")]
struct Xtask {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what building the eBPF programs needs: nightly rust-src and bpf-linker (linked
    /// against the nightly toolchain's own libLLVM). Idempotent; run by `run` and `test`.
    Setup,
    /// Set up, build a release binary and start live tracing (through sudo when not root).
    /// Arguments after `--` go to zombietrace, e.g. `cargo xtask run -- --json`.
    Run {
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Set up, then run the whole test suite as root: formatting and clippy for both halves,
    /// unit tests, the integration tests that load eBPF and trace real processes, then those
    /// integration tests again on each kernel of the matrix under qemu (see `vmtest`).
    Test {
        /// Skip the kernel matrix (quicker, for development; CI runs everything).
        #[arg(long)]
        host_only: bool,
    },
    /// Formatting and clippy (userspace and eBPF), without the tests.
    Lint,
    /// Build what users install into target/dist/: the static binary (musl), the .deb (binary,
    /// man pages, completions, systemd unit, licenses), the container image's build context, and
    /// SHA256SUMS. `--check` then proves each works here (as root: it traces, installs and
    /// removes the package), as `cargo xtask test` does.
    Dist {
        #[arg(long)]
        check: bool,
    },
    /// Measure zombietrace's cost side by side with exitsnoop and bpftrace (as root); prints
    /// tables and writes JSON under target/bench/. The soak (30 minutes) runs only when named:
    /// `--only soak`.
    Bench {
        /// A ~2-minute run (fewer pairs, shorter runs) instead of the ~10-minute default; a
        /// 3-minute soak instead of 30.
        #[arg(long)]
        quick: bool,
        /// Run only these cases (comma-separated): loop_pinned, loop_2cpu, storm_pinned,
        /// cost_10k, burst, scale, stress, soak. Without it, every case but the soak.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// The soak's length in minutes (default 30, 3 with --quick).
        #[arg(long, value_name = "N")]
        soak_minutes: Option<f64>,
        /// Rounds of A/B pairs in each throughput case (default 5; with --quick 2, and 1 for
        /// the storm): more rounds narrow the medians on a noisy machine.
        #[arg(long, value_name = "N")]
        rounds: Option<usize>,
    },
    /// Fuzz the parsers of untrusted input (kernel records, BTF, procfs, the command line)
    /// with cargo-fuzz (the pinned nightly; installed if missing), one target after another
    /// from its seeds (fuzz/seeds) and the corpus earlier runs grew (fuzz/corpus). Fails,
    /// naming the reproducer and how to rerun it, if a target crashes, hangs or allocates
    /// wildly.
    Fuzz {
        /// Seconds to run each target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Targets to run (default: every one in fuzz/).
        targets: Vec<String>,
    },
    /// Boot Debian kernels (5.10, 6.1, 6.12, 6.18) under qemu and run the root integration
    /// tests inside each; prints one table, fails if any kernel fails. Kernels are downloaded
    /// once into ~/.cache/zombietrace/kernels; logs go to target/vmtest/<kernel>/.
    Vmtest {
        /// Kernels to test: a series name ("6.1" is 6.1 only), else any series or cached release
        /// containing the text (default: the whole matrix).
        kernels: Vec<String>,
    },
}

fn main() -> ExitCode {
    let result = match Xtask::parse().task {
        Task::Setup => setup::setup(),
        Task::Run { args } => setup::setup().and_then(|()| test::run(&args)),
        Task::Test { host_only } => setup::setup().and_then(|()| test::test(host_only)),
        Task::Lint => setup::setup().and_then(|()| test::lint()),
        Task::Dist { check } => setup::setup().and_then(|()| {
            let built = dist::dist()?;
            if check {
                dist::check(&built)?;
            }
            Ok(())
        }),
        Task::Bench {
            quick,
            only,
            soak_minutes,
            rounds,
        } => setup::setup().and_then(|()| bench::run(quick, &only, soak_minutes, rounds)),
        Task::Fuzz { seconds, targets } => {
            setup::setup().and_then(|()| fuzz::run(seconds, &targets))
        }
        Task::Vmtest { kernels } => setup::setup().and_then(|()| vmtest::run(&kernels)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}
