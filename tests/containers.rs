//! Which container, which unit: cgroups made by the test in the v2 hierarchy (wherever it is
//! mounted) with the names each runtime and driver uses; spawners moved into them; the tracer's
//! attribution and its in-kernel filters checked against them. Runs as root (CI does).

mod support;

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use support::{Tracer, bin};
use zombietrace::sys::cgroup::{this_v2_mount, v2_mount};

const CONTAINERD: &str = "c0ffee0000000000000000000000000000000000000000000000000000000001";
const DOCKER: &str = "d0c4e90000000000000000000000000000000000000000000000000000000002";
/// The filter test's own container id (tests run at once: each has ids of its own).
const FILTERED: &str = "f117e40000000000000000000000000000000000000000000000000000000003";
const POD: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

/// The v2 hierarchy: where it is mounted, or a mount of it this test makes (a guest of the
/// kernel matrix may have none).
fn v2_root() -> PathBuf {
    if let Some(root) = this_v2_mount() {
        return root;
    }
    let dir = std::env::temp_dir().join("zt-cgroup2");
    std::fs::create_dir_all(&dir).unwrap();
    let st = Command::new("mount")
        .args(["-t", "cgroup2", "none"])
        .arg(&dir)
        .status()
        .expect("mount");
    assert!(st.success(), "mounting cgroup2 at {}", dir.display());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert_eq!(v2_mount(&mounts).as_deref(), Some(dir.as_path()));
    dir
}

/// The test's own cgroups under `<v2>/zt-containers-<pid>/`, removed when dropped.
struct Tree {
    top: PathBuf,
    relative: String,
}

impl Tree {
    fn new(root: &Path) -> Tree {
        let name = format!("zt-containers-{}", std::process::id());
        Tree {
            top: root.join(&name),
            relative: format!("/{name}"),
        }
    }

    /// A tree of another name (for a test running at the same time).
    fn named(mut self, what: &str) -> Tree {
        self.top
            .set_file_name(format!("zt-{what}-{}", std::process::id()));
        self.relative = format!("/zt-{what}-{}", std::process::id());
        self
    }

    /// Makes `rel` (below the test's own cgroup); returns its directory.
    fn make(&self, rel: &str) -> PathBuf {
        let dir = self.top.join(rel);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        dir
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // Deepest first; a cgroup that still has processes stays (they are ours and dying).
        let mut dirs = Vec::new();
        let mut stack = vec![self.top.clone()];
        while let Some(d) = stack.pop() {
            if let Ok(entries) = std::fs::read_dir(&d) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
            }
            dirs.push(d);
        }
        for d in dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// `zombietrace spawn <args> --json` started inside cgroup `dir` (it moves itself there
/// before it forks); returns it with its ready line.
fn spawn_in(dir: &Path, args: &[&str]) -> (Child, Value) {
    let script = format!(
        "echo $$ > '{}/cgroup.procs' && exec \"$0\" spawn \"$@\" --json",
        dir.display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script, bin()])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the spawner");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready: Value =
        serde_json::from_str(&lines.next().expect("a ready line").unwrap()).expect("ready is JSON");
    std::thread::spawn(move || lines.for_each(drop));
    (child, ready)
}

fn children(ready: &Value) -> Vec<u64> {
    ready["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect()
}

#[test]
fn attribution_names_the_runtime_the_pod_and_the_unit() {
    let root = v2_root();
    let tree = Tree::new(&root);
    let uid_ = POD.replace('-', "_");
    let kube = tree.make(&format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{CONTAINERD}.scope"
    ));
    let docker = tree.make(&format!("system.slice/docker-{DOCKER}.scope"));
    let unit = tree.make("system.slice/zt-test.service");

    let mut tracer = Tracer::start(&["--leak-after", "500ms"]);
    let held = ["never", "--children", "2", "--hold", "3s"];
    let (mut k, k_ready) = spawn_in(&kube, &held);
    let (mut d, d_ready) = spawn_in(&docker, &held);
    let (mut u, u_ready) = spawn_in(&unit, &held);

    for (ready, check) in [
        (&k_ready, "containerd"),
        (&d_ready, "docker"),
        (&u_ready, "unit"),
    ] {
        for pid in children(ready) {
            let z = tracer.wait_for(&format!("zombie {pid}"), Duration::from_secs(20), |v| {
                v["event"] == "zombie" && v["pid"] == pid
            });
            let w = &z["cgroup"]["workload"];
            match check {
                "containerd" => {
                    assert_eq!(w["runtime"], "containerd", "{z}");
                    assert_eq!(w["container_id"], CONTAINERD, "{z}");
                    assert_eq!(w["pod_uid"], POD, "{z}");
                    assert_eq!(w["qos"], "burstable", "{z}");
                }
                "docker" => {
                    assert_eq!(w["runtime"], "docker", "{z}");
                    assert_eq!(w["container_id"], DOCKER, "{z}");
                }
                _ => assert_eq!(w["unit"], "zt-test.service", "{z}"),
            }
            let path = z["cgroup"]["path"].as_str().expect("a path");
            assert!(path.starts_with(&tree.relative), "{path}");
            // The parent lives in the same cgroup: its record says so too.
            assert_eq!(z["parent_cgroup"]["id"], z["cgroup"]["id"], "{z}");
        }
    }
    // The leaking parent's leak names where it lives.
    let parent = d_ready["parent_pid"].as_u64().unwrap();
    let leak = tracer.wait_for("leak of the docker parent", Duration::from_secs(20), |v| {
        v["event"] == "leak" && v["pid"] == parent
    });
    assert_eq!(leak["cgroup"]["workload"]["container_id"], DOCKER, "{leak}");
    assert_eq!(
        leak["diagnosis"]["workload"]["container_id"], DOCKER,
        "{leak}"
    );
    for c in [&mut k, &mut d, &mut u] {
        assert!(c.wait().unwrap().success());
    }
    let (_, summary) = tracer.stop();
    let docker_parent = summary["parents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == parent)
        .expect("the docker parent in the summary");
    assert_eq!(docker_parent["cgroup"]["workload"]["runtime"], "docker");
}

#[test]
fn filters_keep_exactly_their_cgroups_and_cost_nothing_for_the_others() {
    let root = v2_root();
    let tree = Tree::new(&root).named("filters");
    let mine = tree.make(&format!("filtered/system.slice/docker-{FILTERED}.scope"));
    let sibling = tree.make("filtered/system.slice/noisy.service");
    let elsewhere = tree.make("other.slice/docker-elsewhere.scope");

    // By container id prefix, and by path (that cgroup and everything below it).
    let mut by_id = Tracer::start(&["--container", &FILTERED[..10]]);
    let mut by_path = Tracer::start(&["--cgroup", &format!("{}/filtered", tree.relative)]);
    let delayed = ["delayed", "--children", "2", "--delay", "5ms"];
    let (mut a, a_ready) = spawn_in(&mine, &delayed);
    let (mut b, b_ready) = spawn_in(&sibling, &delayed);
    let (mut c, c_ready) = spawn_in(&elsewhere, &delayed);
    // A storm in the sibling cgroup: thousands of exits the container filter never sends.
    let (mut storm, _) = spawn_in(&sibling, &["storm", "--parents", "2", "--duration", "2s"]);
    for child in [&mut a, &mut b, &mut c, &mut storm] {
        assert!(child.wait().unwrap().success());
    }
    for pid in children(&a_ready) {
        by_id.reap_of(pid, Duration::from_secs(20));
        by_path.reap_of(pid, Duration::from_secs(20));
    }
    for pid in children(&b_ready) {
        by_path.reap_of(pid, Duration::from_secs(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (id_events, id_summary) = by_id.stop();
    let (path_events, _) = by_path.stop();
    let pids_of = |events: &[Value]| -> Vec<u64> {
        events
            .iter()
            .filter(|v| v["event"] == "zombie")
            .map(|v| v["pid"].as_u64().unwrap())
            .collect()
    };
    let (id_pids, path_pids) = (pids_of(&id_events), pids_of(&path_events));
    for pid in children(&b_ready).into_iter().chain(children(&c_ready)) {
        assert!(!id_pids.contains(&pid), "{pid} is not in the container");
    }
    for pid in children(&c_ready) {
        assert!(
            !path_pids.contains(&pid),
            "{pid} is outside the filtered cgroup"
        );
    }
    // Only the container's processes made records: its 2 children and its spawner, their
    // zombies and reaps (and a free or two), not the storm's thousands.
    let records = id_summary["events"].as_u64().unwrap();
    assert!(records <= 20, "{records} kernel records: {id_summary}");
}

#[test]
fn a_container_that_is_not_there_is_a_clear_error() {
    let out = Command::new(bin())
        .args(["--container", "0123456789ab", "--duration", "1s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has an id starting with 0123456789ab"),
        "{err}"
    );
    let out = Command::new(bin())
        .args(["--cgroup", "/no/such/cgroup", "--duration", "1s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no cgroup /no/such/cgroup"),
        "{err}"
    );
}
