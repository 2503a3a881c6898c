use std::process::ExitCode;

use clap::Parser as _;
use zombietrace::{cli, config::Config, generate, ps, report, spawn, trace};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Warnings (from zombietrace and from its kernel programs) go to stderr; RUST_LOG overrides.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("zombietrace: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        // The spawner forks: it runs before (and without) any async runtime or threads.
        Some(cli::Command::Spawn(args)) => spawn::run(args),
        Some(cli::Command::Ps(args)) => ps::run(args),
        Some(cli::Command::Report(args)) => match (&args.from, args.for_) {
            (Some(recording), _) => report::from_recording(recording, &args.trace),
            (None, Some(trace_for)) => trace::run(Config::report(args.trace, trace_for)?),
            (None, None) => unreachable!("clap requires --for or --from"),
        },
        Some(cli::Command::Serve(args)) => trace::run(Config::serve(args)?),
        Some(cli::Command::Top(args)) => trace::run(Config::top(args)?),
        None => trace::run(Config::live(cli.trace, cli.duration)?),
        Some(cli::Command::Generate(args)) => generate::run(args),
    }
}
