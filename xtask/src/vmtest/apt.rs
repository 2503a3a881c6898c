//! Debian packages through apt, without installing them: the host's apt as configured, or a
//! private apt state (its own sources, lists and cache) for suites the host does not use.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

use crate::cmd;

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// apt-get / apt-cache with a fixed set of `-o` options (none: the host's apt).
pub struct Apt {
    opts: Vec<String>,
    private: bool,
}

impl Apt {
    pub fn host() -> Apt {
        Apt {
            opts: Vec::new(),
            private: false,
        }
    }

    /// An apt state of its own under `dir`, reading only `suites` (`(archive, suite)`, e.g.
    /// `("debian-security", "bullseye-security")`) from the mirror the host's sources use.
    pub fn private(dir: &Path, suites: &[(&str, &str)]) -> Result<Apt> {
        let state = dir.join("state");
        let cache = dir.join("cache");
        let parts = dir.join("sources.list.d");
        for d in [
            state.join("lists/partial"),
            cache.join("archives/partial"),
            parts.clone(),
        ] {
            fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        let status = state.join("status");
        if !status.exists() {
            fs::write(&status, "")?;
        }
        let signed = if Path::new(KEYRING).exists() {
            format!("[signed-by={KEYRING}] ")
        } else {
            String::new()
        };
        let mut list = String::from("# written by cargo xtask vmtest\n");
        for (archive, suite) in suites {
            let uri = mirror(archive);
            list.push_str(&format!("deb {signed}{uri} {suite} main\n"));
        }
        let sources = dir.join("sources.list");
        fs::write(&sources, list)?;
        let mut opts = Vec::new();
        for (key, value) in [
            ("Dir::State", &state),
            ("Dir::State::status", &status),
            ("Dir::Cache", &cache),
            ("Dir::Etc::SourceList", &sources),
            ("Dir::Etc::SourceParts", &parts),
        ] {
            opts.push(format!("{key}={}", value.display()));
        }
        opts.push("Acquire::Languages=none".into());
        Ok(Apt {
            opts,
            private: true,
        })
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        for o in &self.opts {
            c.arg("-o").arg(o);
        }
        if cmd::is_root() {
            // The cache under root's home is not readable by apt's `_apt` sandbox user.
            c.args(["-o", "APT::Sandbox::User=root"]);
        }
        c.env("DEBIAN_FRONTEND", "noninteractive");
        c
    }

    pub fn update(&self) -> Result<()> {
        if !self.private && !cmd::is_root() {
            bail!("apt-get update needs root (run `sudo apt-get update` once, or run as root)");
        }
        cmd::run(self.command("apt-get").args(["-q", "update"]))
    }

    /// Package names starting with `prefix`.
    pub fn names(&self, prefix: &str) -> Result<Vec<String>> {
        let out = cmd::output(self.command("apt-cache").args(["pkgnames", prefix]))?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// The candidate version of each package that has one.
    pub fn candidates(&self, names: &[String]) -> Result<Vec<(String, String)>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let out = cmd::output(self.command("apt-cache").arg("policy").args(names))?;
        let mut found = Vec::new();
        let mut current: Option<String> = None;
        for line in out.lines() {
            if !line.starts_with(' ') && line.ends_with(':') {
                current = Some(line.trim_end_matches(':').to_owned());
            } else if let Some(v) = line.trim().strip_prefix("Candidate:") {
                let v = v.trim();
                if let Some(name) = current.take()
                    && v != "(none)"
                {
                    found.push((name, v.to_owned()));
                }
            }
        }
        Ok(found)
    }

    /// The newest (by Debian version order) of the packages whose candidate exists.
    pub fn newest(&self, names: &[String]) -> Result<Option<(String, String)>> {
        let mut best: Option<(String, String)> = None;
        for (name, version) in self.candidates(names)? {
            if best
                .as_ref()
                .is_none_or(|(_, b)| version_gt(&version, b).unwrap_or(false))
            {
                best = Some((name, version));
            }
        }
        Ok(best)
    }

    /// Downloads `name=version` into the empty folder `dir`; returns the .deb.
    pub fn download(&self, name: &str, version: &str, dir: &Path) -> Result<PathBuf> {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir)?;
        cmd::run(self.command("apt-get").current_dir(dir).args([
            "-q",
            "download",
            &format!("{name}={version}"),
        ]))?;
        fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .with_context(|| format!("apt-get download {name} left no .deb in {}", dir.display()))
    }
}

/// `a > b` in Debian version order.
pub fn version_gt(a: &str, b: &str) -> Result<bool> {
    let status = Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .context("running dpkg --compare-versions")?;
    Ok(status.success())
}

/// Extracts the members under `member` (e.g. `./boot`) of a .deb's data into `dest`.
pub fn extract(deb: &Path, member: &str, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    let mut data = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .context("running dpkg-deb")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .arg(member)
        .stdin(data.stdout.take().expect("piped"))
        .status()
        .context("running tar")?;
    let status = data.wait()?;
    if !tar.success() || !status.success() {
        bail!(
            "extracting {member} from {} failed (tar {tar}, dpkg-deb {status})",
            deb.display()
        );
    }
    Ok(())
}

/// Installs `package` with the host's apt when `binary` is not on PATH.
pub fn ensure_installed(binary: &str, package: &str) -> Result<()> {
    if on_path(binary) {
        return Ok(());
    }
    if !cmd::is_root() {
        bail!("{binary} is missing: install {package} (apt-get install {package}) or run as root");
    }
    let host = Apt::host();
    let install = |apt: &Apt| {
        cmd::run(apt.command("apt-get").args([
            "-q",
            "-y",
            "--no-install-recommends",
            "install",
            package,
        ]))
    };
    if install(&host).is_err() {
        host.update()?;
        install(&host)?;
    }
    if !on_path(binary) {
        bail!("{package} is installed but {binary} is still not on PATH");
    }
    Ok(())
}

pub fn on_path(binary: &str) -> bool {
    find_on_path(binary).is_some()
}

pub fn find_on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
}

/// The URI the host's apt sources use for `archive` (`debian` or `debian-security`), else
/// deb.debian.org's.
fn mirror(archive: &str) -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(
            more.into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources")),
        );
    }
    let wanted = format!("/{archive}");
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for uri in source_uris(&text) {
            if uri.trim_end_matches('/').ends_with(&wanted) {
                return uri.trim_end_matches('/').to_owned();
            }
        }
    }
    format!("http://deb.debian.org/{archive}")
}

/// The URIs of `deb` entries, from one-line (`deb [opts] uri suite…`) or deb822 (`URIs:`) text.
fn source_uris(text: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("deb ") {
            let rest = rest.trim_start();
            let rest = match rest.strip_prefix('[') {
                Some(opts) => opts.split_once(']').map_or("", |(_, r)| r),
                None => rest,
            };
            uris.extend(rest.split_whitespace().next().map(str::to_owned));
        } else if let Some(list) = line.strip_prefix("URIs:") {
            uris.extend(list.split_whitespace().map(str::to_owned));
        }
    }
    uris
}

#[cfg(test)]
mod tests {
    use super::source_uris;

    #[test]
    fn reads_both_source_formats() {
        let text = "deb [signed-by=/k.gpg arch=amd64] http://m/debian bookworm main\n\
                    # deb http://old/debian x main\nTypes: deb\nURIs: http://m/debian-security\n";
        assert_eq!(
            source_uris(text),
            ["http://m/debian", "http://m/debian-security"]
        );
    }
}
