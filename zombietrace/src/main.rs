mod cli;
mod duration;
mod spawn;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        Some(cli::Command::Spawn(args)) => spawn::run(args),
        None => Ok(ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("zombietrace: {err:#}");
            ExitCode::FAILURE
        }
    }
}
