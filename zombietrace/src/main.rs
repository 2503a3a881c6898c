mod cli;
mod clock;
mod config;
mod decode;
mod diagnose;
mod duration;
mod filter;
mod generate;
mod histogram;
mod kernel;
mod model;
mod output;
mod parents;
mod procscan;
mod record;
mod spawn;
mod summary;
mod trace;
mod tracker;

use std::process::ExitCode;

use clap::Parser as _;

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
        Some(cli::Command::Ps(args)) => diagnose::ps(args),
        Some(cli::Command::Generate(args)) => generate::run(args),
        Some(cli::Command::Report(args)) => {
            trace::run(config::Config::report(args.trace, args.for_))
        }
        None => trace::run(config::Config::live(cli.trace, cli.duration)),
    }
}
