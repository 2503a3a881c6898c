//! A real container runtime: podman (Debian's, with runc) runs a container, from an image
//! imported from a local busybox rootfs (no registry is reachable), whose PID 1 never reaps.
//! The leak names that container by the id `podman inspect` gives, in JSON, text and `ps`, and
//! `--container` traces exactly that container. Host only (the kernel matrix's guests have no
//! podman). Installs podman, runc and busybox-static when missing.
//!
//! What this machine needs (found by trying): root here cannot raise rlimits, and podman asks
//! for RLIMIT_NOFILE 1048576, so `default_ulimits = []` in a containers.conf of the test's own;
//! crun 1.8 refuses this hybrid cgroup layout, runc does not; no systemd, so the cgroupfs
//! manager (the container lands in `/libpod_parent/libpod-<id>`, in the v2 hierarchy too).

mod support;

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use serde_json::Value;
use support::{Tracer, bin};

const IMAGE: &str = "localhost/busybox:zt";

fn found(binary: &str) -> bool {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .any(|d| Path::new(d).join(binary).exists())
}

fn apt_install(packages: &[&str]) {
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get")
    };
    apt(&["update", "-q"]);
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(packages);
    assert!(apt(&args).success(), "apt-get install {packages:?} failed");
}

/// podman configured for this machine, with its own containers.conf.
struct Podman {
    dir: PathBuf,
}

impl Podman {
    fn new() -> Podman {
        if !found("podman") || !found("runc") || !Path::new("/bin/busybox").exists() {
            apt_install(&["podman", "runc", "busybox-static", "uidmap"]);
        }
        let dir = std::env::temp_dir().join(format!("zt-podman-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("containers.conf"),
            "[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\n\
             cgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
        )
        .unwrap();
        let p = Podman { dir };
        if !p
            .cmd(&["image", "exists", IMAGE])
            .status()
            .unwrap()
            .success()
        {
            p.import_busybox();
        }
        p
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"));
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("podman");
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A busybox rootfs as a tarball, imported as an image.
    fn import_busybox(&self) {
        let rootfs = self.dir.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for applet in ["sh", "sleep", "true"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let tar = self.dir.join("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        self.run(&["import", "-q", tar.to_str().unwrap(), IMAGE]);
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running container, removed (at once, `-t 0`) when dropped.
struct Container<'a> {
    podman: &'a Podman,
    id: String,
    pid: u64,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.podman.cmd(&["rm", "-f", "-t", "0", &self.id]).output();
    }
}

/// A text-mode tracer, its lines collected.
fn text_tracer(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (ready_tx, ready) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("probes attached") {
                let _ = ready_tx.send(());
            }
        }
    });
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    ready.recv_timeout(Duration::from_secs(60)).expect("ready");
    (child, rx)
}

#[test]
fn a_containers_init_that_never_reaps_is_named_by_its_container() {
    let podman = Podman::new();
    let mut tracer = Tracer::start(&["--leak-after", "1s"]);
    let id = podman.run(&[
        "run",
        "-d",
        "--network=none",
        IMAGE,
        "sh",
        "-c",
        "sleep 1 & sleep 1 & exec sleep 600",
    ]);
    let pid: u64 = podman
        .run(&["inspect", "--format", "{{.State.Pid}}", &id])
        .parse()
        .expect("the container's pid");
    let c = Container {
        podman: &podman,
        id: id.clone(),
        pid,
    };
    let short = format!("podman:{}", &id[..12]);

    // JSON: its zombies, and the leak of its init, named by the container.
    let leak = tracer.wait_for("the container init's leak", Duration::from_secs(30), |v| {
        v["event"] == "leak" && v["pid"] == c.pid
    });
    assert_eq!(leak["diagnosis"]["ns_init"], true, "{leak}");
    assert_eq!(leak["diagnosis"]["workload"]["container_id"], id, "{leak}");
    assert_eq!(leak["cgroup"]["workload"]["container_id"], id, "{leak}");
    let verdict = leak["verdict"].as_str().unwrap();
    assert!(
        verdict.contains(&format!("PID 1 of container {short}")),
        "{verdict}"
    );
    let zombies: Vec<Value> = tracer
        .events_of(c.pid)
        .into_iter()
        .chain(std::iter::once(leak.clone()))
        .collect();
    assert!(!zombies.is_empty());

    // ps: the init, in the container.
    let out = Command::new(bin()).args(["ps", "--json"]).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).expect("ps JSON");
    let parent = doc["parents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == c.pid)
        .expect("the container init listed by ps");
    assert_eq!(parent["workload"]["container_id"], id, "{parent}");
    assert_eq!(parent["zombie_count"], 2, "{parent}");

    // --container: exactly that container's processes, named in the text output.
    let (mut filtered, lines) = text_tracer(&["--container", &id[..12]]);
    podman.run(&["exec", &id, "true"]);
    let outside = Command::new(bin())
        .args(["spawn", "delayed", "--delay", "1ms"])
        .output()
        .unwrap();
    assert!(outside.status.success());
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(3)) {
        seen.push(line);
    }
    // SAFETY: signals our own child.
    unsafe { libc::kill(filtered.id() as i32, libc::SIGINT) };
    let _ = filtered.wait();
    let events: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains(" zombie ") || l.contains(" reap "))
        .collect();
    assert!(
        !events.is_empty(),
        "the exec'd process was not seen: {seen:?}"
    );
    for line in &events {
        assert!(line.contains(&format!("[{short}]")), "{line}");
    }
    drop(c);
    let (_, summary) = tracer.stop();
    assert!(
        summary["parents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["cgroup"]["workload"]["container_id"] == id),
        "{summary}"
    );
}
