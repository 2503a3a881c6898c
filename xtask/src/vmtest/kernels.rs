//! The kernel matrix: which Debian package each series comes from, downloading the newest one
//! once into `~/.cache/zombietrace/kernels/<release>/` (vmlinuz, the package's config, and the
//! package name and version), and checking the config has what the tests need built in.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};

use super::apt::{self, Apt};

/// Where a series' packages come from.
enum Source {
    /// The host's apt, as configured (Debian 12: bookworm, bookworm-security).
    Host,
    /// A private apt state reading these `(archive, suite)`s from the host's Debian mirror.
    Private(&'static [(&'static str, &'static str)]),
}

pub struct Series {
    /// "6.1": what `cargo xtask vmtest 6.1` selects.
    pub name: &'static str,
    /// The release's Debian suffix: `+deb12`, or empty for the old `<x.y>.0-<abi>` naming.
    deb: &'static str,
    /// Whether the image package is `…-amd64-unsigned` (else the signed `…-amd64`).
    unsigned: bool,
    source: Source,
}

pub const MATRIX: [Series; 4] = [
    Series {
        name: "5.10",
        deb: "",
        unsigned: true,
        source: Source::Private(&[
            ("debian", "bullseye"),
            ("debian-security", "bullseye-security"),
        ]),
    },
    Series {
        name: "6.1",
        deb: "",
        unsigned: true,
        source: Source::Host,
    },
    Series {
        name: "6.12",
        deb: "+deb12",
        unsigned: true,
        source: Source::Host,
    },
    Series {
        name: "6.18",
        deb: "+deb13",
        unsigned: false,
        source: Source::Private(&[("debian", "trixie-backports")]),
    },
];

/// Kernel options the tests need built in (`=y`): no modules are loaded in the guest.
const NEEDED: [&str; 9] = [
    "CONFIG_BPF_SYSCALL",
    "CONFIG_DEBUG_INFO_BTF",
    "CONFIG_FTRACE_SYSCALLS",
    "CONFIG_BPF_EVENTS",
    "CONFIG_BLK_DEV_INITRD",
    "CONFIG_DEVTMPFS",
    "CONFIG_SERIAL_8250_CONSOLE",
    "CONFIG_TMPFS",
    "CONFIG_BINFMT_SCRIPT",
];

/// A downloaded kernel.
pub struct Kernel {
    pub series: &'static str,
    /// `uname -r`, e.g. `6.1.0-56-amd64`; also its log folder's name.
    pub release: String,
    pub package: String,
    pub version: String,
    pub vmlinuz: PathBuf,
}

impl Series {
    /// The kernel release (`6.12.117+deb12-amd64`) a package of this series installs.
    fn release_of(&self, package: &str) -> Option<String> {
        let rest = package.strip_prefix("linux-image-")?;
        let rest = if self.unsigned {
            rest.strip_suffix("-unsigned")?
        } else {
            rest
        };
        let version = rest.strip_suffix("-amd64")?;
        let tail = version.strip_prefix(self.name)?.strip_prefix('.')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let ok = if self.deb.is_empty() {
            // 6.1.0-56
            tail.strip_prefix("0-").is_some_and(digits)
        } else {
            // 6.12.117+deb12
            tail.strip_suffix(self.deb).is_some_and(digits)
        };
        ok.then(|| rest.to_owned())
    }

    /// The newest kernel of this series already downloaded, if any.
    pub fn cached(&self) -> Option<Kernel> {
        let mut best: Option<Kernel> = None;
        for entry in fs::read_dir(cache_dir()).ok()?.filter_map(|e| e.ok()) {
            let dir = entry.path();
            let Ok(text) = fs::read_to_string(dir.join("package")) else {
                continue;
            };
            let Some((package, version)) = text.trim().split_once(' ') else {
                continue;
            };
            let Some(release) = self.release_of(package) else {
                continue;
            };
            let vmlinuz = dir.join("vmlinuz");
            if !vmlinuz.is_file() {
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|b| apt::version_gt(version, &b.version).unwrap_or(false))
            {
                best = Some(Kernel {
                    series: self.name,
                    release,
                    package: package.to_owned(),
                    version: version.to_owned(),
                    vmlinuz,
                });
            }
        }
        best
    }

    /// The cached kernel, or (when none, or `refresh`) the newest apt offers, downloaded.
    pub fn kernel(&self, refresh: bool) -> Result<Kernel> {
        match self.cached() {
            Some(k) if !refresh => Ok(k),
            Some(k) => self.download().or_else(|err| {
                eprintln!("xtask: vmtest: {err:#}; using the cached {}", k.release);
                Ok(k)
            }),
            None => self.download(),
        }
    }

    /// The newest kernel of this series apt offers, downloaded unless already cached.
    fn download(&self) -> Result<Kernel> {
        let apt = match self.source {
            Source::Host => Apt::host(),
            Source::Private(suites) => {
                let dir = cache_root().join(format!("apt-{}", self.name));
                let apt = Apt::private(&dir, suites)?;
                apt.update()?;
                apt
            }
        };
        let prefix = format!("linux-image-{}.", self.name);
        let find = |apt: &Apt| -> Result<Option<(String, String)>> {
            let names: Vec<String> = apt
                .names(&prefix)?
                .into_iter()
                .filter(|n| self.release_of(n).is_some())
                .collect();
            apt.newest(&names)
        };
        let mut newest = find(&apt)?;
        if newest.is_none() && matches!(self.source, Source::Host) {
            apt.update()?; // a fresh machine may have no package lists yet
            newest = find(&apt)?;
        }
        let Some((package, version)) = newest else {
            bail!("apt offers no linux-image-{}.* package", self.name);
        };
        if let Some(k) = self.cached()
            && k.package == package
            && k.version == version
        {
            return Ok(k);
        }
        eprintln!("xtask: vmtest: downloading {package} {version}");
        let release = self.release_of(&package).expect("filtered");
        fetch(&apt, &package, &version, &release)?;
        self.cached()
            .filter(|k| k.package == package)
            .with_context(|| format!("{package} was downloaded but is not in the cache"))
    }
}

/// Downloads and unpacks one kernel package's /boot into the cache.
fn fetch(apt: &Apt, package: &str, version: &str, release: &str) -> Result<()> {
    let root = cache_dir();
    let work = root.join(format!(".download-{release}"));
    let deb = apt.download(package, version, &work.join("deb"))?;
    let unpacked = work.join("unpacked");
    apt::extract(&deb, "./boot", &unpacked)?;
    let boot = unpacked.join("boot");
    let staged = work.join("kernel");
    fs::create_dir_all(&staged)?;
    let mut have_image = false;
    for entry in fs::read_dir(&boot)?.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("vmlinuz-") {
            fs::copy(entry.path(), staged.join("vmlinuz"))?;
            have_image = true;
        } else if name.starts_with("config-") {
            fs::copy(entry.path(), staged.join(&name))?;
            check_config(&entry.path())?;
        }
    }
    if !have_image {
        bail!("{} has no boot/vmlinuz-*", deb.display());
    }
    fs::write(staged.join("package"), format!("{package} {version}\n"))?;
    let dest = root.join(release);
    let _ = fs::remove_dir_all(&dest);
    fs::rename(&staged, &dest)
        .with_context(|| format!("moving the kernel to {}", dest.display()))?;
    let _ = fs::remove_dir_all(&work);
    eprintln!("xtask: vmtest: cached {}", dest.display());
    Ok(())
}

/// Fails when an option the guest needs is not built in.
fn check_config(config: &Path) -> Result<()> {
    let text = fs::read_to_string(config)?;
    let missing: Vec<&str> = NEEDED
        .into_iter()
        .filter(|opt| !text.lines().any(|l| l == format!("{opt}=y")))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} lacks built-in {} (the guest loads no modules)",
            config.display(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// `~/.cache/zombietrace` (or `$XDG_CACHE_HOME/zombietrace`).
pub fn cache_root() -> PathBuf {
    let base = env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("zombietrace")
}

fn cache_dir() -> PathBuf {
    cache_root().join("kernels")
}

/// A static busybox (Debian's busybox-static, unpacked, not installed), cached.
pub fn busybox() -> Result<PathBuf> {
    let dir = cache_root().join("busybox");
    let bin = dir.join("busybox");
    if bin.is_file() {
        return Ok(bin);
    }
    let apt = Apt::host();
    let mut found = apt.newest(&["busybox-static".to_owned()])?;
    if found.is_none() {
        apt.update()?;
        found = apt.newest(&["busybox-static".to_owned()])?;
    }
    let (package, version) = found.context("apt offers no busybox-static")?;
    let work = dir.join(".download");
    let deb = apt.download(&package, &version, &work.join("deb"))?;
    apt::extract(&deb, "./bin/busybox", &work)?;
    fs::rename(work.join("bin/busybox"), &bin)?;
    let _ = fs::remove_dir_all(&work);
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::MATRIX;

    #[test]
    fn package_names_select_one_series_and_flavour() {
        let release = |series: usize, pkg: &str| MATRIX[series].release_of(pkg);
        assert_eq!(
            release(0, "linux-image-5.10.0-46-amd64-unsigned").as_deref(),
            Some("5.10.0-46-amd64")
        );
        assert_eq!(release(1, "linux-image-6.1.0-56-rt-amd64-unsigned"), None);
        assert_eq!(
            release(1, "linux-image-6.12.117+deb12-amd64-unsigned"),
            None
        );
        assert_eq!(
            release(2, "linux-image-6.12.117+deb12-amd64-unsigned").as_deref(),
            Some("6.12.117+deb12-amd64")
        );
        assert_eq!(
            release(2, "linux-image-6.12.117+deb12-cloud-amd64-unsigned"),
            None
        );
        assert_eq!(
            release(3, "linux-image-6.18.15+deb13-amd64").as_deref(),
            Some("6.18.15+deb13-amd64")
        );
        assert_eq!(release(3, "linux-image-6.18.15+deb13-amd64-unsigned"), None);
        assert_eq!(release(3, "linux-image-6.18.15+deb13-cloud-amd64"), None);
    }
}
