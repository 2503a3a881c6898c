//! The guest's whole filesystem: an uncompressed cpio "newc" archive with busybox, an init
//! script, the static tracer, the host's test binaries at their own absolute paths and the glibc
//! libraries they load, laid out as on the host (merged /usr symlinks included).

use std::{
    collections::BTreeMap,
    fs,
    io::{self, BufWriter, Write},
    os::unix::fs::PermissionsExt as _,
    path::{Component, Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

/// Serial ports inside the guest: ttyS0 is the kernel console.
pub const STDOUT_PORT: &str = "/dev/ttyS1";
pub const STDERR_PORT: &str = "/dev/ttyS2";
/// Lines init writes to the stdout port around each test binary's output.
pub const MARKER: &str = "=== vmtest ";
pub const BEGIN: &str = "=== vmtest begin ";
pub const END: &str = "=== vmtest end ";
pub const DONE: &str = "=== vmtest done";

/// Busybox applets init uses, in /vmtest/bin (last on PATH); `sh` also serves the tests.
const APPLETS: [&str; 10] = [
    "sh", "mount", "mkdir", "poweroff", "uname", "cat", "grep", "sync", "timeout", "ip",
];

/// What the guest runs.
pub struct Contents<'a> {
    pub busybox: &'a Path,
    /// Host programs the tests run by name, copied with their libraries.
    pub programs: &'a [PathBuf],
    pub zombietrace: &'a Path,
    /// (name, executable) of each test binary, in the order to run them.
    pub tests: &'a [(String, PathBuf)],
    /// The working directory of the tests (cargo runs them in the package's folder).
    pub workdir: &'a Path,
    pub test_threads: u32,
    /// Each test binary is killed (SIGKILL) after this many seconds.
    pub binary_timeout: u64,
}

enum Entry {
    Dir(u32),
    File(PathBuf, u32),
    Data(Vec<u8>, u32),
    Symlink(String),
    CharDev(u32, u32),
}

/// Archive entries by path (relative, sorted: parents come before what they hold).
#[derive(Default)]
struct Tree(BTreeMap<String, Entry>);

pub fn build(contents: &Contents, out: &Path) -> Result<()> {
    let mut tree = Tree::default();
    for dir in [
        "dev",
        "proc",
        "sys",
        "tmp",
        "root",
        "run",
        "etc",
        "vmtest/bin",
    ] {
        tree.dir(dir, 0o755);
    }
    tree.0.insert("dev/console".into(), Entry::CharDev(5, 1));
    tree.0.insert("dev/null".into(), Entry::CharDev(1, 3));
    tree.0.insert(
        "vmtest/bin/busybox".into(),
        Entry::File(contents.busybox.into(), 0o755),
    );
    for applet in APPLETS {
        tree.0.insert(
            format!("vmtest/bin/{applet}"),
            Entry::Symlink("busybox".into()),
        );
    }
    for program in contents.programs {
        tree.add_program(program)?;
    }
    // The static tracer: copied alone (`add_program` would also copy what ldd lists: nothing).
    match crate::dist::elf::linking(contents.zombietrace)? {
        crate::dist::elf::Linking::Static { .. } => {
            tree.add_host_path(contents.zombietrace, true)?
        }
        other => bail!(
            "{} is not static ({other:?}): the guests run the static binary",
            contents.zombietrace.display()
        ),
    }
    for (_, test) in contents.tests {
        tree.add_program(test)?;
    }
    tree.add_host_path(contents.workdir, false)?;
    tree.0.insert(
        "etc/passwd".into(),
        Entry::Data(b"root:x:0:0:root:/root:/vmtest/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/vmtest/bin/sh\n".to_vec(), 0o644),
    );
    tree.0.insert(
        "etc/group".into(),
        Entry::Data(b"root:x:0:\nnogroup:x:65534:\n".to_vec(), 0o644),
    );
    tree.0.insert(
        "init".into(),
        Entry::Data(init_script(contents).into_bytes(), 0o755),
    );
    tree.write(out)
}

/// PID 1: mounts what the tracer needs, runs every test binary with its stdout and stderr on
/// their own serial ports, writes each exit status, then powers off. busybox `timeout` execs
/// the test binary itself (its watchdog is a forked child), so the test still runs as init's
/// foreground child with default signal dispositions.
fn init_script(c: &Contents) -> String {
    let mut path: Vec<String> = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"]
        .into_iter()
        .chain(["/sbin", "/bin"])
        .map(str::to_owned)
        .collect();
    for dir in c.programs.iter().filter_map(|p| p.parent()) {
        let dir = dir.display().to_string();
        if !path.contains(&dir) {
            path.push(dir);
        }
    }
    path.push("/vmtest/bin".into());
    let mut s = format!(
        r#"#!/vmtest/bin/sh
export PATH={path}
export HOME=/root TERM=dumb LANG=C.UTF-8
# The tests run this tracer (the static binary), not the one cargo built beside them.
export ZOMBIETRACE_BIN={zombietrace}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# /tmp and /run stay on the writable initramfs root: a tmpfs there would hide a checkout (and
# so the test binaries, at their host paths) under /tmp.
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# Loopback, for `serve` and its scrapers (the guest has no other network).
ip link set lo up
out={STDOUT_PORT}
err={STDERR_PORT}
echo "vmtest: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus" >>$out
cd {workdir} || echo "vmtest: no {workdir}" >>$out
"#,
        path = path.join(":"),
        workdir = c.workdir.display(),
        zombietrace = c.zombietrace.display(),
    );
    for (name, exe) in c.tests {
        s.push_str(&format!(
            r#"echo "{BEGIN}{name}" >>$out
echo "{BEGIN}{name}" >>$err
timeout -s KILL {limit} {exe} --test-threads={threads} --color never </dev/null >>$out 2>>$err
echo "{END}{name} status $?" >>$out
"#,
            exe = exe.display(),
            threads = c.test_threads,
            limit = c.binary_timeout,
        ));
    }
    s.push_str(&format!(
        r#"echo "{DONE}" >>$out
sync
poweroff -f
"#
    ));
    s
}

impl Tree {
    fn dir(&mut self, path: &str, mode: u32) {
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            self.0.entry(prefix.clone()).or_insert(Entry::Dir(mode));
        }
    }

    /// A dynamically linked host program and every library `ldd` says it loads.
    fn add_program(&mut self, program: &Path) -> Result<()> {
        self.add_host_path(program, true)?;
        let ldd = Command::new("ldd")
            .arg(program)
            .output()
            .context("running ldd")?;
        let out = String::from_utf8_lossy(&ldd.stdout);
        if !ldd.status.success() {
            if String::from_utf8_lossy(&ldd.stderr).contains("not a dynamic executable") {
                return Ok(()); // static: nothing more to copy
            }
            bail!("ldd {} failed: {}", program.display(), ldd.status);
        }
        for line in out.lines() {
            if line.contains("not found") {
                bail!("{}: {}", program.display(), line.trim());
            }
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux….so.2 (0x…)"
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.trim(),
                None => line.trim(),
            };
            if let Some(path) = path.split_whitespace().next()
                && path.starts_with('/')
            {
                self.add_host_path(Path::new(path), true)?;
            }
        }
        Ok(())
    }

    /// Adds a host path as the host has it: each symlink on the way (like /lib → usr/lib)
    /// becomes the same symlink, then the file (or, with `file` false, folder) it leads to.
    fn add_host_path(&mut self, path: &Path, file: bool) -> Result<()> {
        self.add_host_path_depth(path, file, 0)
    }

    fn add_host_path_depth(&mut self, path: &Path, file: bool, depth: u32) -> Result<()> {
        if depth > 16 {
            bail!("too many symlinks resolving {}", path.display());
        }
        let mut current = PathBuf::from("/");
        let parts: Vec<Component> = path.components().collect();
        for (i, part) in parts.iter().enumerate() {
            match part {
                Component::RootDir | Component::CurDir => continue,
                Component::ParentDir => {
                    current.pop();
                    continue;
                }
                Component::Prefix(_) => bail!("not a unix path: {}", path.display()),
                Component::Normal(name) => current.push(name),
            }
            let rel = current
                .strip_prefix("/")
                .expect("absolute")
                .to_string_lossy();
            let meta = fs::symlink_metadata(&current)
                .with_context(|| format!("reading {}", current.display()))?;
            let last = i + 1 == parts.len();
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&current)?;
                self.0.insert(
                    rel.into_owned(),
                    Entry::Symlink(target.to_string_lossy().into_owned()),
                );
                let parent = current.parent().unwrap_or(Path::new("/")).to_path_buf();
                let mut resolved = parent.join(&target);
                for rest in &parts[i + 1..] {
                    resolved.push(rest);
                }
                return self.add_host_path_depth(&resolved, file, depth + 1);
            }
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                self.0.entry(rel.into_owned()).or_insert(Entry::Dir(mode));
            } else if last && file && meta.is_file() {
                self.0
                    .insert(rel.into_owned(), Entry::File(current.clone(), mode));
            } else {
                bail!("{} is not what was expected", current.display());
            }
        }
        Ok(())
    }

    fn write(&self, out: &Path) -> Result<()> {
        let tmp = out.with_extension("tmp");
        let mut w = BufWriter::new(
            fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        let mut ino = 1;
        for (path, entry) in &self.0 {
            ino += 1;
            let (mode, nlink, rdev, data): (u32, u32, (u32, u32), Data) = match entry {
                Entry::Dir(m) => (0o040000 | m, 2, (0, 0), Data::None),
                Entry::File(src, m) => (0o100000 | m, 1, (0, 0), Data::File(src)),
                Entry::Data(bytes, m) => (0o100000 | m, 1, (0, 0), Data::Bytes(bytes)),
                Entry::Symlink(t) => (0o120777, 1, (0, 0), Data::Bytes(t.as_bytes())),
                Entry::CharDev(major, minor) => (0o020600, 1, (*major, *minor), Data::None),
            };
            let size = match &data {
                Data::None => 0,
                Data::Bytes(b) => b.len() as u64,
                Data::File(src) => fs::metadata(src)?.len(),
            };
            write_header(&mut w, path, ino, mode, nlink, size, rdev)?;
            match data {
                Data::None => {}
                Data::Bytes(b) => w.write_all(b)?,
                Data::File(src) => {
                    let copied = io::copy(&mut fs::File::open(src)?, &mut w)?;
                    if copied != size {
                        bail!("{} changed while being archived", src.display());
                    }
                }
            }
            pad(&mut w, size as usize)?;
        }
        write_header(&mut w, "TRAILER!!!", 0, 0, 1, 0, (0, 0))?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&tmp, out)?;
        Ok(())
    }
}

enum Data<'a> {
    None,
    Bytes(&'a [u8]),
    File(&'a Path),
}

/// One "newc" header (magic 070701, thirteen 8-digit hex fields) and the NUL-ended name,
/// padded to a multiple of four bytes.
fn write_header(
    w: &mut impl Write,
    name: &str,
    ino: u32,
    mode: u32,
    nlink: u32,
    size: u64,
    rdev: (u32, u32),
) -> Result<()> {
    if size > u32::MAX as u64 {
        bail!("{name} is too large for cpio newc");
    }
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime
        size as u32,
        0, // dev major
        0, // dev minor
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0, // check
    ];
    let mut header = String::from("070701");
    for f in fields {
        header.push_str(&format!("{f:08X}"));
    }
    w.write_all(header.as_bytes())?;
    w.write_all(name.as_bytes())?;
    w.write_all(&[0])?;
    pad(w, header.len() + name.len() + 1)
}

fn pad(w: &mut impl Write, len: usize) -> Result<()> {
    let n = (4 - len % 4) % 4;
    w.write_all(&[0; 3][..n])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_header_and_padding() {
        let mut out = Vec::new();
        write_header(&mut out, "init", 2, 0o100755, 1, 5, (0, 0)).unwrap();
        assert_eq!(out.len(), 116); // 110 + "init\0" = 115, padded to 116
        assert!(out.starts_with(b"07070100000002000081ED"));
        assert_eq!(&out[110..115], b"init\0");
    }
}
