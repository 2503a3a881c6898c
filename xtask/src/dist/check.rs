//! Proves what `dist` wrote works on this machine (as root: it traces, and installs and removes
//! the package): each check fails loudly, naming what it saw.

use std::{
    fs,
    io::{BufRead as _, BufReader},
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};

use super::{Dist, elf, mib};
use crate::{
    cmd::{self, root},
    vmtest::ensure_installed,
};

/// Runs every check; returns one line per check passed.
pub fn check(d: &Dist) -> Result<Vec<String>> {
    let started = Instant::now();
    let mut passed = vec![
        check_static(&d.binary)?,
        check_version(&d.binary)?,
        check_traces(&d.binary, None)?,
        check_container(d)?,
        check_sums(&d.dir)?,
    ];
    passed.extend(check_deb(d)?);
    eprintln!(
        "xtask: dist: {} checks passed in {:.0?}",
        passed.len(),
        started.elapsed()
    );
    for line in &passed {
        eprintln!("  ok: {line}");
    }
    Ok(passed)
}

/// ELF: no interpreter, no needed library; and `file` and `ldd` agree.
fn check_static(binary: &Path) -> Result<String> {
    let linking = elf::linking(binary)?;
    ensure!(
        matches!(linking, elf::Linking::Static { .. }),
        "{} is not static: {linking:?}",
        binary.display()
    );
    let file = cmd::output(Command::new("file").arg("-b").arg(binary))?;
    ensure!(
        file.contains("static"),
        "`file` does not call it static: {file}"
    );
    // glibc's ldd says "statically linked" (static-pie) or "not a dynamic executable".
    let ldd = Command::new("ldd").arg(binary).output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    ensure!(
        said.contains("statically linked") || said.contains("not a dynamic executable"),
        "ldd lists libraries: {said}"
    );
    let size = fs::metadata(binary)?.len();
    Ok(format!(
        "static binary ({}; file: {}; ldd: {}), {size} bytes ({})",
        match linking {
            elf::Linking::Static { pie: true } => "static-pie",
            _ => "static",
        },
        file.split(',').nth(3).unwrap_or(&file).trim(),
        said.trim(),
        mib(size)
    ))
}

/// `--version` names the version, this commit, aya's version and the kernel programs' hash.
fn check_version(binary: &Path) -> Result<String> {
    let long = cmd::output(Command::new(binary).arg("--version"))?;
    let short = cmd::output(Command::new(binary).arg("-V"))?;
    let version = env!("CARGO_PKG_VERSION");
    let commit = cmd::output(Command::new("git").current_dir(root()).args([
        "rev-parse",
        "--short=12",
        "HEAD",
    ]))?;
    let lock = fs::read_to_string(root().join("Cargo.lock"))?;
    let aya = lock
        .split("name = \"aya\"\nversion = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("aya is not in Cargo.lock")?;
    for (what, needle) in [
        ("the version", format!("zombietrace {version}\n")),
        ("the commit", format!("commit:          {}", commit.trim())),
        ("aya's version", format!("aya:             {aya}\n")),
        (
            "the kernel programs' hash",
            "kernel programs: sha256 ".to_owned(),
        ),
        ("the target", format!("target:          {}", super::TARGET)),
    ] {
        ensure!(
            long.contains(&needle),
            "--version lacks {what} ({needle:?}):\n{long}"
        );
    }
    ensure!(
        short.starts_with(&format!("zombietrace {version} ({}", commit.trim()))
            && short.contains(&format!("aya {aya}, ebpf ")),
        "-V is not one line naming the version, commit, aya and the eBPF hash: {short}"
    );
    Ok(format!("--version: {}", short.trim()))
}

/// The binary (or `in_root` run through `chroot`) traces the exit and reap of a `sh -c true`.
fn check_traces(binary: &Path, chroot: Option<&Path>) -> Result<String> {
    let mut tracer = match chroot {
        None => Command::new(binary),
        Some(script) => {
            let mut c = Command::new("sh");
            c.arg(script);
            c
        }
    };
    let mut child = tracer
        .args(["--json", "--duration", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the tracer")?;
    let stderr = child.stderr.take().expect("piped");
    let (ready_tx, ready) = mpsc::channel();
    let errors = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("probes attached") {
                let _ = ready_tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let stdout = child.stdout.take().expect("piped");
    let (line_tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let outcome = (|| -> Result<String> {
        ready
            .recv_timeout(Duration::from_secs(60))
            .context("the tracer never said its probes were attached")?;
        let mut sh = Command::new("sh").args(["-c", "true"]).spawn()?;
        let pid = u64::from(sh.id());
        sh.wait()?;
        let (mut zombie, mut reap) = (false, false);
        let deadline = Instant::now() + Duration::from_secs(15);
        while !(zombie && reap) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .with_context(|| format!("no zombie and reap of sh[{pid}] within 15 s"))?;
            let v: serde_json::Value = serde_json::from_str(&line)
                .with_context(|| format!("a stdout line is not JSON: {line}"))?;
            if v["pid"] == pid {
                zombie |= v["event"] == "zombie";
                reap |= v["event"] == "reap" && v["reap"] == "wait4";
            }
        }
        Ok(format!("traced the exit and wait4 reap of sh[{pid}]"))
    })();
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait()?;
    let errors = errors.join().unwrap_or_default();
    let traced = outcome.with_context(|| format!("tracer stderr:\n{errors}"))?;
    ensure!(
        status.success(),
        "the tracer exited with {status}:\n{errors}"
    );
    Ok(traced)
}

/// The build context holds the repository's Containerfile and this very binary, and the image
/// it describes (the binary alone, FROM scratch) traces: the binary runs chrooted into a folder
/// holding nothing else, with /proc, a read-only /sys and the host's tracefs mounted as a
/// container runtime and the DaemonSet's volumes would.
fn check_container(d: &Dist) -> Result<String> {
    let recipe = fs::read_to_string(d.container.join("Containerfile"))?;
    ensure!(
        recipe == fs::read_to_string(root().join("deploy/container/Containerfile"))?,
        "the build context's Containerfile differs from deploy/container/Containerfile"
    );
    let from: Vec<&str> = recipe
        .lines()
        .filter(|l| l.trim_start().starts_with("FROM "))
        .collect();
    ensure!(
        from == ["FROM scratch"],
        "the image is not FROM scratch: {from:?}"
    );
    ensure!(
        fs::read(d.container.join("zombietrace"))? == fs::read(&d.binary)?,
        "the build context's binary is not the static binary"
    );
    let rootfs = root().join("target/dist-check/rootfs");
    let _ = fs::remove_dir_all(&rootfs);
    for dir in ["proc", "sys"] {
        fs::create_dir_all(rootfs.join(dir))?;
    }
    fs::copy(d.container.join("zombietrace"), rootfs.join("zombietrace"))?;
    let script = rootfs.with_file_name("run-in-rootfs.sh");
    fs::write(
        &script,
        format!(
            r#"set -e
exec unshare --mount --propagation private sh -c '
mount -t proc proc {root}/proc
mount -t sysfs -o ro sysfs {root}/sys
mount --bind /sys/kernel/tracing {root}/sys/kernel/tracing
mount -o remount,bind,ro {root}/sys/kernel/tracing
exec chroot {root} /zombietrace "$@"' sh "$@"
"#,
            root = rootfs.display()
        ),
    )?;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
    let entries: Vec<String> = fs::read_dir(&rootfs)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let traced = check_traces(&d.binary, Some(&script))?;
    Ok(format!(
        "container context: FROM scratch, the static binary; chrooted alone ({} entries: {}), it {traced}",
        entries.len(),
        entries.join(" ")
    ))
}

/// `sha256sum -c` accepts SHA256SUMS, which lists every file.
fn check_sums(dir: &Path) -> Result<String> {
    let out = cmd::output(Command::new("sha256sum").current_dir(dir).args([
        "--strict",
        "-c",
        "SHA256SUMS",
    ]))?;
    let listed: Vec<&str> = out.lines().collect();
    let files = super::files_under(dir)?;
    ensure!(
        listed.len() == files.len() && listed.iter().all(|l| l.ends_with(": OK")),
        "SHA256SUMS does not cover exactly {files:?}: {out}"
    );
    Ok(format!(
        "SHA256SUMS verified by sha256sum -c ({} files)",
        files.len()
    ))
}

/// The files the package must install, and where Debian expects them.
const EXPECTED: [&str; 11] = [
    "/usr/bin/zombietrace",
    "/usr/share/man/man1/zombietrace.1.gz",
    "/usr/share/man/man1/zombietrace-ps.1.gz",
    "/usr/share/man/man1/zombietrace-report.1.gz",
    "/usr/share/bash-completion/completions/zombietrace",
    "/usr/share/zsh/vendor-completions/_zombietrace",
    "/usr/share/fish/vendor_completions.d/zombietrace.fish",
    "/usr/lib/systemd/system/zombietrace.service",
    "/usr/share/doc/zombietrace/copyright",
    "/usr/share/doc/zombietrace/LICENSE-MIT",
    "/usr/share/doc/zombietrace/LICENSE-APACHE",
];

/// lintian reports no error; `dpkg -i` installs the files where Debian expects them (the man
/// page found by `man -w`, the bash completion loadable, the unit not enabled); `dpkg -r` and
/// `dpkg -P` remove every one of them.
fn check_deb(d: &Dist) -> Result<Vec<String>> {
    ensure_installed("lintian", "lintian")?;
    ensure_installed("man", "man-db")?;
    let mut passed = Vec::new();
    let version = cmd::output(
        Command::new("dpkg-deb")
            .args(["-f"])
            .arg(&d.deb)
            .arg("Version"),
    )?;
    let want = format!("{}-1", env!("CARGO_PKG_VERSION"));
    ensure!(
        version.trim() == want,
        "package version {version:?}, not {want}"
    );
    let changelog = fs::read_to_string(root().join("deploy/debian/changelog"))?;
    ensure!(
        changelog.starts_with(&format!("zombietrace ({want}) ")),
        "deploy/debian/changelog's first entry is not {want}"
    );

    let lintian = Command::new("lintian")
        .args(["--fail-on", "error", "--display-info"])
        .arg(&d.deb)
        .output()?;
    let report = String::from_utf8_lossy(&lintian.stdout).into_owned();
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E: ")).collect();
    if !lintian.status.success() || !errors.is_empty() {
        bail!(
            "lintian found errors ({}):\n{report}{}",
            lintian.status,
            String::from_utf8_lossy(&lintian.stderr)
        );
    }
    let notes = report.lines().filter(|l| !l.trim().is_empty()).count();
    for line in report.lines().filter(|l| !l.trim().is_empty()) {
        eprintln!("xtask: dist: lintian: {line}");
    }
    passed.push(format!(
        "lintian: no errors ({notes} warnings/notes, printed above)"
    ));

    let listing = cmd::output(Command::new("dpkg-deb").arg("-c").arg(&d.deb))?;
    let files: Vec<String> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').to_owned())
        .collect();
    for want in EXPECTED {
        ensure!(
            files.iter().any(|f| f == want),
            "the package lacks {want}:\n{listing}"
        );
    }

    if Command::new("dpkg")
        .args(["-s", "zombietrace"])
        .output()?
        .status
        .success()
    {
        bail!(
            "a zombietrace package is already installed here; this check installs and removes \
             its own: remove it first (dpkg -P zombietrace)"
        );
    }
    cmd::run(Command::new("dpkg").arg("-i").arg(&d.deb))?;
    let installed = (|| -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for f in EXPECTED {
            ensure!(Path::new(f).is_file(), "dpkg -i did not install {f}");
        }
        ensure!(
            fs::read("/usr/bin/zombietrace")? == fs::read(&d.binary)?,
            "/usr/bin/zombietrace is not the static binary"
        );
        cmd::output(Command::new("/usr/bin/zombietrace").arg("--version"))?;
        for page in ["zombietrace", "zombietrace-ps"] {
            let found = cmd::output(Command::new("man").args(["-w", page]))?;
            let want = format!("/usr/share/man/man1/{page}.1.gz");
            ensure!(found.trim() == want, "man -w {page}: {found:?}, not {want}");
        }
        lines.push("dpkg -i: man -w zombietrace → /usr/share/man/man1/zombietrace.1.gz".into());
        let complete = cmd::output(Command::new("bash").args([
            "-c",
            "source /usr/share/bash-completion/completions/zombietrace && complete -p zombietrace",
        ]))?;
        ensure!(
            complete.contains("-F _zombietrace"),
            "the bash completion does not register: {complete}"
        );
        let wants = Path::new("/etc/systemd/system/multi-user.target.wants/zombietrace.service");
        ensure!(
            !wants.exists() && !wants.is_symlink(),
            "installing the package enabled the unit ({})",
            wants.display()
        );
        lines.push(format!(
            "dpkg -i: {} files where Debian expects them, bash completion registers, unit installed and not enabled",
            EXPECTED.len()
        ));
        Ok(lines)
    })();
    // Removed whatever happened above.
    let removed = cmd::run(Command::new("dpkg").args(["-r", "zombietrace"]));
    let mut lines = installed?;
    removed?;
    let left: Vec<&String> = files.iter().filter(|f| Path::new(f).exists()).collect();
    ensure!(left.is_empty(), "dpkg -r left {left:?}");
    cmd::run(Command::new("dpkg").args(["-P", "zombietrace"]))?;
    ensure!(
        !Command::new("dpkg")
            .args(["-s", "zombietrace"])
            .output()?
            .status
            .success(),
        "dpkg -P left the package known to dpkg"
    );
    // `dpkg -r` masks the unit (deb-systemd-helper), `dpkg -P` unmasks it and forgets it.
    let mut state: Vec<PathBuf> = ["enabled", "masked"]
        .iter()
        .filter_map(|kind| fs::read_dir(format!("/var/lib/systemd/deb-systemd-helper-{kind}")).ok())
        .flat_map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains("zombietrace"))
        .collect();
    let mask = PathBuf::from("/etc/systemd/system/zombietrace.service");
    if mask.exists() || mask.is_symlink() {
        state.push(mask);
    }
    ensure!(
        state.is_empty(),
        "dpkg -P left systemd state behind: {state:?}"
    );
    lines.push(format!(
        "dpkg -r removed all {} files; dpkg -P left nothing",
        files.len()
    ));
    passed.extend(lines);
    Ok(passed)
}
