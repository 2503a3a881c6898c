//! `zombietrace generate man|completions`: the man pages and shell completions, generated from
//! the clap definitions in `cli.rs` so they never drift from `--help`. Hidden from `--help`;
//! `cargo xtask dist` runs it to put them in the Debian package.

use std::{
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory as _, Subcommand};
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Man pages in section 1: zombietrace.1 and one per subcommand (zombietrace-ps.1, …).
    Man {
        /// The folder to write them into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// The completion script for SHELL: zombietrace.bash, _zombietrace (zsh), zombietrace.fish, …
    Completions {
        #[arg(value_enum)]
        shell: Shell,
        /// The folder to write it into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// Writes the files and prints the path of each on stdout.
pub fn run(args: GenerateArgs) -> Result<ExitCode> {
    let written = match args.what {
        What::Man { out } => man_pages(&out)?,
        What::Completions { shell, out } => vec![completions(shell, &out)?],
    };
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn man_pages(out: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // The VERSION section: the one-line version (commit, aya, kernel programs' hash), not the
    // multi-line `--version`, which troff would run together.
    let mut cmd = crate::cli::Cli::command()
        .disable_help_subcommand(true)
        .long_version(None::<&str>);
    cmd.build();
    let mut written = Vec::new();
    write_pages(cmd, out, &mut written)?;
    Ok(written)
}

/// One page for `cmd`, then one for each visible subcommand, recursively.
fn write_pages(cmd: clap::Command, out: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), out, written)?;
    }
    let page = clap_mangen::Man::new(cmd)
        .source(format!("zombietrace {}", env!("CARGO_PKG_VERSION")))
        .manual("zombietrace manual");
    let path = page
        .generate_to(out)
        .with_context(|| format!("writing a man page into {}", out.display()))?;
    written.push(path);
    Ok(())
}

fn completions(shell: Shell, out: &Path) -> Result<PathBuf> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut cmd = visible_interface();
    clap_complete::generate_to(shell, &mut cmd, "zombietrace", out)
        .with_context(|| format!("writing {shell} completions into {}", out.display()))
}

/// The command line without its hidden subcommands (clap_complete offers hidden subcommands,
/// and a command cannot lose one): the same arguments and visible subcommands on a new command.
fn visible_interface() -> clap::Command {
    let full = crate::cli::Cli::command();
    let mut cmd = clap::Command::new("zombietrace")
        .version(include_str!(concat!(env!("OUT_DIR"), "/version.txt")))
        .args_conflicts_with_subcommands(true)
        .args(full.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "zombietrace-generate-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn man_pages_cover_every_visible_subcommand() {
        let dir = scratch("man");
        let written = man_pages(&dir).unwrap();
        let mut names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for page in [
            "zombietrace.1",
            "zombietrace-ps.1",
            "zombietrace-report.1",
            "zombietrace-top.1",
        ] {
            assert!(
                names.iter().any(|n| n == page),
                "{page} missing from {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n.contains("generate")),
            "the hidden subcommand has no page: {names:?}"
        );
        let main = fs::read_to_string(dir.join("zombietrace.1")).unwrap();
        assert!(main.contains(".TH zombietrace 1 "), "{main}");
        assert!(main.contains("leak\\-after"), "options are rendered");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn completions_name_the_subcommands() {
        let dir = scratch("completions");
        for (shell, file) in [
            (Shell::Bash, "zombietrace.bash"),
            (Shell::Zsh, "_zombietrace"),
            (Shell::Fish, "zombietrace.fish"),
        ] {
            let path = completions(shell, &dir).unwrap();
            assert_eq!(path, dir.join(file));
            let text = fs::read_to_string(&path).unwrap();
            assert!(
                text.contains("report") && text.contains("leak-after"),
                "{file}"
            );
            assert!(
                !text.contains("generate"),
                "{file} offers the hidden subcommand"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
