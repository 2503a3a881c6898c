//! `deploy/`, checked offline by the tools that read each file, and the privileges it grants
//! tried for real:
//!
//! - the systemd unit: `systemd-analyze verify` and `security` (in a scratch root); the tracer
//!   run as the unit runs it (an unprivileged user with exactly its capabilities) traces and
//!   diagnoses, and breaks without any one of them; every system call it makes (strace) passes
//!   the unit's `SystemCallFilter=` and `RestrictAddressFamilies=`;
//! - the Kubernetes manifests: `kubernetes-validate --strict` (PyPI, schemas offline) against the
//!   oldest and newest Kubernetes they support; the DaemonSet's least privilege, volumes, probe,
//!   port and annotations; the tracer run with exactly the DaemonSet's capabilities (as uid 0);
//! - the container recipe: FROM scratch, the static binary, the port;
//! - the Prometheus rules: `promtool check rules`, `promtool test rules` (every alert tested),
//!   `promtool check config` of the example, metric names from the metric contract.
//!
//! Tools missing here are installed the way the rest of the suite installs them (apt-get update,
//! then apt-get install; kubernetes-validate into a venv under target/tmp): a missing tool fails
//! the test, it never skips. Needs root, as the whole suite.

mod support;

use std::{
    collections::BTreeSet,
    fs,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{Mutex, mpsc},
    thread,
    time::Duration,
};

use serde_json::Value;
use support::bin;

/// The default port of `zombietrace serve` (see deploy/README.md for why this one).
const PORT: u16 = 19400;
/// kubernetes-validate from PyPI, pinned; it carries the schemas of Kubernetes 1.x up to 1.37.
const KUBERNETES_VALIDATE: &str = "1.37.0";
/// Kubernetes versions the manifests must validate against: the oldest with the securityContext
/// field `appArmorProfile` (1.30), and the newest the pinned kubernetes-validate knows.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];
/// The metric contract of `zombietrace serve` (names only; labels in deploy/README.md).
const METRICS: [&str; 16] = [
    "zombietrace_zombies_total",
    "zombietrace_reaps_total",
    "zombietrace_zombie_duration_seconds",
    "zombietrace_zombies_outstanding",
    "zombietrace_oldest_zombie_age_seconds",
    "zombietrace_parent_zombies_outstanding",
    "zombietrace_parent_oldest_zombie_age_seconds",
    "zombietrace_leaking_parents",
    "zombietrace_parent_leaking",
    "zombietrace_leak_episodes_total",
    "zombietrace_events_lost_total",
    "zombietrace_kernel_map_refusals_total",
    "zombietrace_kernel_read_failures_total",
    "zombietrace_decode_errors_total",
    "zombietrace_log_lines_dropped_total",
    "zombietrace_build_info",
];

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(rel: &str) -> String {
    let path = deploy().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

// ----- tools -----

/// Installs are one at a time (dpkg's lock; one venv).
static INSTALLING: Mutex<()> = Mutex::new(());

fn on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(binary))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `cmd`; panics with its output unless it succeeds.
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// apt-get update, then apt-get install (the caller holds INSTALLING).
fn apt_install(package: &str) {
    assert!(
        is_root(),
        "{package} is missing and only root can install it: run the suite as root (cargo xtask test)"
    );
    run_ok(Command::new("apt-get").args(["update", "-q"]));
    run_ok(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
}

/// `binary` on PATH, installing Debian's `package` when it is missing.
fn tool(binary: &str, package: &str) -> PathBuf {
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = on_path(binary) {
        return found;
    }
    apt_install(package);
    on_path(binary)
        .unwrap_or_else(|| panic!("apt-get installed {package} but {binary} is not on PATH"))
}

/// A venv under target/tmp with kubernetes-validate (and the PyYAML it depends on).
fn venv() -> PathBuf {
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("venv-kubernetes-validate-{KUBERNETES_VALIDATE}"));
    let validate = dir.join("bin/kubernetes-validate");
    let ready = Command::new(&validate)
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(KUBERNETES_VALIDATE)
        });
    if ready {
        return dir;
    }
    let has_venv = Command::new("python3")
        .args(["-m", "venv", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_venv {
        apt_install("python3-venv");
    }
    let _ = fs::remove_dir_all(&dir);
    run_ok(Command::new("python3").args(["-m", "venv"]).arg(&dir));
    run_ok(
        Command::new(dir.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check"])
            .arg(format!("kubernetes-validate=={KUBERNETES_VALIDATE}")),
    );
    assert!(
        validate.is_file(),
        "pip did not install {}",
        validate.display()
    );
    dir
}

/// The YAML documents of a manifest, as JSON (PyYAML, from the venv).
fn yaml_documents(path: &Path) -> Vec<Value> {
    let python = venv().join("bin/python");
    let out = run_ok(
        Command::new(python)
            .arg("-c")
            .arg(
                "import json, sys, yaml\n\
         print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))",
            )
            .arg(path),
    );
    serde_json::from_slice(&out.stdout).expect("PyYAML's JSON")
}

// ----- the tracer, confined -----

/// What a confined tracer did while a parent held 2 zombies.
struct Run {
    /// It said every probe was attached.
    started: bool,
    stderr: String,
    /// Its `leak` event about the spawner's parent, if any.
    leak: Option<Value>,
}

impl Run {
    /// It traced, and its diagnosis could read where the leaking parent sleeps.
    fn diagnosed(&self) -> bool {
        self.leak.as_ref().is_some_and(|l| {
            l["diagnosis"]["wchan"]
                .as_str()
                .is_some_and(|w| !w.is_empty())
        })
    }
}

/// `setpriv` arguments giving a process exactly `caps` (lowercase, without CAP_): as nobody with
/// them ambient (as systemd does for `DynamicUser=` with `AmbientCapabilities=`), or as uid 0
/// with them as its bounding set (as a container runtime does for `capabilities.add`).
fn setpriv(caps: &[String], as_nobody: bool) -> Vec<String> {
    let list = if caps.is_empty() {
        "-all".to_owned()
    } else {
        let plus: Vec<String> = caps.iter().map(|c| format!("+{c}")).collect();
        format!("-all,{}", plus.join(","))
    };
    let mut args = vec!["setpriv".to_owned()];
    if as_nobody {
        args.extend([
            "--reuid=65534".into(),
            "--regid=65534".into(),
            "--clear-groups".into(),
            format!("--inh-caps={list}"),
            format!("--ambient-caps={list}"),
        ]);
    } else {
        args.push("--inh-caps=-all".into());
    }
    args.push(format!("--bounding-set={list}"));
    args.push("--no-new-privs".into());
    args
}

/// Runs `prefix… zombietrace serve --duration <duration>` (as the unit and the DaemonSet do, but
/// stopping by itself) on a free loopback port;
/// once its probes are attached, a spawner parent that never reaps 2 children for 3 s. Returns
/// once the tracer logged that parent leaking (a JSON line on stderr) and stops it with SIGTERM
/// (unless `wait_for_end`: it is expected to end by itself, refusing to start), or it ended.
fn trace_leak(prefix: &[String], duration: &str, wait_for_end: bool) -> Run {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut tracer = Command::new(&prefix[0])
        .args(&prefix[1..])
        .arg(bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--duration", duration])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {prefix:?}: {e}"));
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = tracer.stderr.take().unwrap();
    let errors = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    // Ready, or the tracer ended (the channel closes with its stderr).
    let started = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("probes attached") => break true,
            Ok(_) => continue,
            Err(_) => break false,
        }
    };
    let mut leak = None;
    if started {
        let mut spawner = Command::new(bin())
            .args([
                "spawn",
                "never",
                "--children",
                "2",
                "--hold",
                "3s",
                "--json",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the spawner");
        let mut lines = BufReader::new(spawner.stdout.take().unwrap()).lines();
        let ready: Value =
            serde_json::from_str(&lines.next().expect("spawner ready line").unwrap()).unwrap();
        let parent = ready["parent_pid"].as_u64().expect("parent_pid");
        thread::spawn(move || lines.for_each(drop));
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue; // a human message
            };
            if v["event"] == "leak" && v["pid"] == parent {
                leak = Some(v);
                break;
            }
        }
        let status = spawner.wait().expect("wait for the spawner");
        assert!(status.success(), "the spawner exited with {status}");
    }
    if !wait_for_end {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(tracer.id() as i32, libc::SIGTERM) };
    }
    let _ = tracer.wait();
    Run {
        started,
        stderr: errors.join().unwrap_or_default(),
        leak,
    }
}

// ----- the systemd unit -----

const UNIT: &str = "systemd/zombietrace.service";

/// Every value of `key=` in the unit, in order.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_owned())
        .collect()
}

/// The unit's capabilities, as setpriv names them ("bpf", "sys_ptrace", …).
fn unit_caps(unit: &str) -> Vec<String> {
    let ambient = unit_values(unit, "AmbientCapabilities").join(" ");
    let bounding = unit_values(unit, "CapabilityBoundingSet").join(" ");
    assert_eq!(
        ambient, bounding,
        "the unit grants (AmbientCapabilities) exactly what it bounds (CapabilityBoundingSet)"
    );
    ambient
        .split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_lowercase())
        .collect()
}

/// A scratch root with the unit, the binary at its ExecStart path, systemd's own units (the
/// unit's dependencies), and the man pages (on MANPATH) for `Documentation=man:`.
fn unit_root(name: &str, unit_text: &str) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("systemd-root-{name}"));
    let _ = fs::remove_dir_all(&root);
    for dir in ["usr/bin", "etc/systemd/system", "usr/lib/systemd"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::copy(bin(), root.join("usr/bin/zombietrace")).unwrap();
    fs::write(
        root.join("etc/systemd/system/zombietrace.service"),
        unit_text,
    )
    .unwrap();
    run_ok(
        Command::new("cp")
            .args(["-a", "/usr/lib/systemd/system"])
            .arg(root.join("usr/lib/systemd/")),
    );
    let man = root.join("man");
    run_ok(
        Command::new(bin())
            .args(["generate", "man", "--out"])
            .arg(man.join("man1")),
    );
    (root, man)
}

fn verify(root: &Path, man: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(["verify", "--root"])
        .arg(root)
        .arg("zombietrace.service")
        .env("MANPATH", man)
        .output()
        .expect("run systemd-analyze")
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    tool("systemd-analyze", "systemd");
    tool("man", "man-db");
    let unit = read(UNIT);
    assert_eq!(
        unit_values(&unit, "ExecStart"),
        ["/usr/bin/zombietrace serve"]
    );
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("LimitMEMLOCK", "infinity"),
    ] {
        assert_eq!(unit_values(&unit, key), [value], "{key}=");
    }

    let (root, man) = unit_root("verify", &unit);
    let out = verify(&root, &man);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {}\n{said}",
        out.status
    );
    // The same check notices a mistake (an unknown key is only a warning, on stderr).
    let (bad_root, bad_man) = unit_root(
        "verify-typo",
        &unit.replace("ProtectHome=", "ProtectHomee="),
    );
    let bad = verify(&bad_root, &bad_man);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("ProtectHomee"),
        "systemd-analyze verify did not report a misspelled key"
    );

    // Exposure 0 (locked down) … 10 (unprotected), "OK" below 4; the threshold is in tenths.
    let security = run_ok(
        Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--threshold=30", "--root"])
            .arg(&root)
            .arg("zombietrace.service"),
    );
    let text = String::from_utf8_lossy(&security.stdout);
    let level = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for zombietrace.service: ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    eprintln!("systemd-analyze security: {level}");
}

#[test]
fn systemd_unit_capabilities_suffice_and_each_is_needed() {
    let unit = read(UNIT);
    let caps = unit_caps(&unit);
    assert_eq!(caps, ["bpf", "perfmon", "sys_ptrace", "dac_read_search"]);
    let full = trace_leak(&setpriv(&caps, true), "30s", false);
    assert!(
        full.started && full.diagnosed(),
        "as the unit runs it (nobody, {caps:?}) the tracer did not trace and diagnose a leak: \
         leak {:?}\n{}",
        full.leak,
        full.stderr
    );
    for missing in &caps {
        let fewer: Vec<String> = caps.iter().filter(|c| *c != missing).cloned().collect();
        let run = trace_leak(&setpriv(&fewer, true), "30s", false);
        assert!(
            !run.diagnosed(),
            "without {missing} the tracer still traced and diagnosed: the unit grants more than \
             it needs"
        );
        eprintln!(
            "without {missing}: {}",
            if run.started {
                "traces, but cannot read where a parent sleeps".to_owned()
            } else {
                run.stderr
                    .lines()
                    .last()
                    .unwrap_or("(no message)")
                    .to_owned()
            }
        );
    }
}

/// `systemd-analyze syscall-filter @group`, groups expanded.
fn expand(entry: &str, into: &mut BTreeSet<String>) {
    if !entry.starts_with('@') {
        into.insert(entry.to_owned());
        return;
    }
    let out = run_ok(Command::new("systemd-analyze").args(["syscall-filter", entry]));
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let item = line.trim();
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        if item.starts_with('@') {
            expand(item, into);
        } else {
            into.insert(item.to_owned());
        }
    }
}

#[test]
fn systemd_unit_syscall_filter_admits_what_the_tracer_calls() {
    tool("systemd-analyze", "systemd");
    tool("strace", "strace");
    let unit = read(UNIT);
    let (mut allowed, mut denied) = (BTreeSet::new(), BTreeSet::new());
    for line in unit_values(&unit, "SystemCallFilter") {
        match line.strip_prefix('~') {
            Some(deny) => deny.split_whitespace().for_each(|e| expand(e, &mut denied)),
            None => line
                .split_whitespace()
                .for_each(|e| expand(e, &mut allowed)),
        }
    }
    let allowed: BTreeSet<String> = allowed.difference(&denied).cloned().collect();
    let families: Vec<String> = unit_values(&unit, "RestrictAddressFamilies")
        .join(" ")
        .split_whitespace()
        .map(str::to_owned)
        .collect();

    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deploy-strace.log");
    let mut prefix: Vec<String> = ["strace", "-f", "-qq", "-o"].map(String::from).to_vec();
    prefix.push(log.display().to_string());
    prefix.extend(setpriv(&unit_caps(&unit), true));
    let run = trace_leak(&prefix, "12s", true);
    assert!(
        run.started && run.leak.is_some(),
        "under strace: {}",
        run.stderr
    );

    // Only what zombietrace called, after setpriv exec'd it.
    let trace = fs::read_to_string(&log).unwrap();
    let from = trace
        .find(&format!("execve(\"{}\"", bin()))
        .expect("strace saw zombietrace exec'd");
    let mut called = BTreeSet::new();
    let mut sockets = BTreeSet::new();
    for line in trace[from..].lines() {
        let rest = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
        let name = match rest.strip_prefix("<... ") {
            Some(resumed) => resumed.split(' ').next().unwrap_or_default(),
            None => rest.split('(').next().unwrap_or_default(),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            continue; // "+++ exited", "--- SIGTERM", …
        }
        called.insert(name.to_owned());
        if let Some(args) = rest.strip_prefix("socket(") {
            sockets.insert(args.split(',').next().unwrap_or_default().to_owned());
        }
    }
    for expected in ["bpf", "perf_event_open"] {
        assert!(
            called.contains(expected),
            "strace did not see {expected}: {called:?}"
        );
    }
    let refused: Vec<&String> = called.difference(&allowed).collect();
    assert!(
        refused.is_empty(),
        "the unit's SystemCallFilter= would refuse {refused:?} (zombietrace called {} system calls)",
        called.len()
    );
    let outside: Vec<&String> = sockets.iter().filter(|f| !families.contains(f)).collect();
    assert!(
        outside.is_empty(),
        "RestrictAddressFamilies= refuses {outside:?}"
    );
    eprintln!(
        "{} system calls, all admitted: {}",
        called.len(),
        called.iter().cloned().collect::<Vec<_>>().join(" ")
    );
}

// ----- Kubernetes -----

#[test]
fn kubernetes_manifests_validate_offline() {
    let validate = venv().join("bin/kubernetes-validate");
    let manifests: Vec<PathBuf> = ["namespace.yaml", "serviceaccount.yaml", "daemonset.yaml"]
        .iter()
        .map(|f| deploy().join("kubernetes").join(f))
        .collect();
    for version in KUBERNETES_VERSIONS {
        let out = run_ok(
            Command::new(&validate)
                .args(["--strict", "--kubernetes-version", version])
                .args(&manifests),
        );
        let said = String::from_utf8_lossy(&out.stdout);
        for resource in [
            "namespace/zombietrace",
            "serviceaccount/zombietrace",
            "daemonset/zombietrace",
        ] {
            assert!(
                said.contains(&format!("passed for resource {resource}")),
                "kubernetes-validate {version}: {resource} not passed:\n{said}"
            );
        }
    }
    // The same validation refuses a misspelled field.
    let bad = Path::new(env!("CARGO_TARGET_TMPDIR")).join("daemonset-typo.yaml");
    fs::write(
        &bad,
        read("kubernetes/daemonset.yaml")
            .replace("readOnlyRootFilesystem", "readOnlyRootFilesytem"),
    )
    .unwrap();
    let out = Command::new(&validate)
        .arg("--strict")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "kubernetes-validate accepted a misspelled field"
    );
}

/// The DaemonSet's pod spec and its one container.
fn daemonset() -> (Value, Value, Vec<Value>) {
    let docs = yaml_documents(&deploy().join("kubernetes/daemonset.yaml"));
    assert_eq!(docs.len(), 1);
    let ds = docs[0].clone();
    let pod = ds["spec"]["template"].clone();
    let containers = pod["spec"]["containers"].as_array().unwrap().clone();
    (ds, pod, containers)
}

#[test]
fn daemonset_is_least_privilege_and_consistent() {
    let (ds, pod, containers) = daemonset();
    assert_eq!(ds["kind"], "DaemonSet");
    assert_eq!(ds["metadata"]["namespace"], "zombietrace");
    let spec = &pod["spec"];
    for shared in ["hostPID", "hostNetwork", "hostIPC"] {
        assert!(spec[shared].is_null() || spec[shared] == false, "{shared}");
    }
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["serviceAccountName"], "zombietrace");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(
        sc["capabilities"]["add"],
        serde_json::json!(["BPF", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE"])
    );

    let listen = format!("0.0.0.0:{PORT}");
    assert_eq!(
        c["args"],
        serde_json::json!(["serve", "--listen", listen, "--proc-root", "/host/proc"])
    );
    assert_eq!(c["ports"][0]["containerPort"], PORT);
    assert_eq!(c["ports"][0]["name"], "metrics");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "metrics");
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], PORT.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");

    // Every mount read-only, each a host path: /proc at --proc-root, BTF and tracefs in place.
    let volumes = spec["volumes"].as_array().unwrap();
    let mounts = c["volumeMounts"].as_array().unwrap();
    let mut seen = BTreeSet::new();
    for m in mounts {
        assert_eq!(m["readOnly"], true, "{m}");
        let volume = volumes
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap_or_else(|| panic!("no volume for {m}"));
        let host = volume["hostPath"]["path"].as_str().expect("a hostPath");
        seen.insert((host.to_owned(), m["mountPath"].as_str().unwrap().to_owned()));
    }
    let want: BTreeSet<(String, String)> = [
        ("/proc", "/host/proc"),
        ("/sys/kernel/btf", "/sys/kernel/btf"),
        ("/sys/kernel/tracing", "/sys/kernel/tracing"),
    ]
    .iter()
    .map(|(h, m)| (h.to_string(), m.to_string()))
    .collect();
    assert_eq!(seen, want);

    let ns = yaml_documents(&deploy().join("kubernetes/namespace.yaml"));
    assert_eq!(ns[0]["metadata"]["name"], "zombietrace");
    let sa = yaml_documents(&deploy().join("kubernetes/serviceaccount.yaml"));
    assert_eq!(sa[0]["metadata"]["namespace"], "zombietrace");
    assert_eq!(sa[0]["automountServiceAccountToken"], false);
}

#[test]
fn daemonset_capabilities_suffice_as_uid_0() {
    let (_, _, containers) = daemonset();
    let caps: Vec<String> = containers[0]["securityContext"]["capabilities"]["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_lowercase())
        .collect();
    let run = trace_leak(&setpriv(&caps, false), "30s", false);
    assert!(
        run.started && run.diagnosed(),
        "with the DaemonSet's capabilities only ({caps:?}, uid 0) the tracer did not trace and \
         diagnose a leak: leak {:?}\n{}",
        run.leak,
        run.stderr
    );
}

// ----- the container recipe -----

#[test]
fn container_recipe_is_the_static_binary_from_scratch() {
    let recipe = read("container/Containerfile");
    let instructions: Vec<&str> = recipe
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let listen = format!("0.0.0.0:{PORT}");
    assert_eq!(
        instructions,
        [
            "FROM scratch",
            "COPY zombietrace /zombietrace",
            &format!("EXPOSE {PORT}"),
            "ENTRYPOINT [\"/zombietrace\"]",
            &format!("CMD [\"serve\", \"--listen\", \"{listen}\"]"),
        ]
    );
}

// ----- Prometheus -----

#[test]
fn prometheus_rules_pass_promtool_and_their_unit_tests() {
    let promtool = tool("promtool", "prometheus");
    let dir = deploy().join("prometheus");
    let check =
        run_ok(
            Command::new(&promtool)
                .current_dir(&dir)
                .args(["check", "rules", "alerts.yml"]),
        );
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(said.contains("SUCCESS: 7 rules found"), "{said}");
    run_ok(
        Command::new(&promtool)
            .current_dir(&dir)
            .args(["test", "rules", "alerts_test.yml"]),
    );
    run_ok(Command::new(&promtool).current_dir(&dir).args([
        "check",
        "config",
        "prometheus-host.yml",
    ]));
    assert!(read("prometheus/prometheus-host.yml").contains(&format!("127.0.0.1:{PORT}")));

    // Every alert has unit tests, and every metric an alert reads is in the contract.
    let alerts = read("prometheus/alerts.yml");
    let tests = read("prometheus/alerts_test.yml");
    let names: Vec<&str> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(names.len(), 7);
    for name in &names {
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "alerts_test.yml does not test {name}"
        );
    }
    for word in alerts.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("zombietrace_") {
            assert!(
                METRICS.contains(&word),
                "alerts.yml reads {word}, not in the contract"
            );
        }
    }
}
