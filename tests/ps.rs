//! `zombietrace ps` against real zombies made by the spawner (`zombietrace spawn … --json`):
//! each test reads its spawner's `ready` line, runs `zombietrace ps --json`, and checks its own
//! parent and zombies (tests run in parallel; other zombies on the system are ignored).

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;
use support::bin;

const WAIT: Duration = Duration::from_secs(20);

/// A running `zombietrace spawn … --json`; SIGTERM and a wait when dropped.
struct Spawner {
    child: Child,
    ready: Value,
}

impl Spawner {
    fn start(args: &[&str]) -> Spawner {
        let mut child = Command::new(bin())
            .arg("spawn")
            .args(args)
            .args(["--hold", "30s", "--json"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the spawner");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        thread::spawn(move || {
            // The first line is `ready`; the rest is drained so the spawner never blocks.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(WAIT)
            .expect("a ready line from the spawner");
        let ready: Value = serde_json::from_str(&line).expect("ready is JSON");
        assert_eq!(ready["event"], "ready", "{ready}");
        Spawner { child, ready }
    }

    fn parent(&self) -> u64 {
        self.ready["parent_pid"].as_u64().expect("parent_pid")
    }

    fn children(&self) -> Vec<u64> {
        let kids = self.ready["children"].as_array().expect("children");
        kids.iter().map(|c| c.as_u64().unwrap()).collect()
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        wait_or_kill(&mut self.child);
    }
}

fn wait_or_kill(child: &mut Child) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("child {} did not end within {WAIT:?}", child.id());
}

/// Runs `zombietrace ps --json` (optionally as another user): it exits 0 and prints one
/// document.
fn ps_json(as_user: Option<u32>) -> Value {
    let mut cmd = Command::new(bin());
    cmd.args(["ps", "--json"]);
    if let Some(id) = as_user {
        cmd.uid(id).gid(id);
    }
    let out = cmd.output().expect("run zombietrace ps");
    assert!(
        out.status.success(),
        "ps failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let parents = doc["parents"].as_array().expect("parents");
    let total: u64 = parents
        .iter()
        .map(|p| p["zombie_count"].as_u64().unwrap())
        .sum();
    assert_eq!(doc["zombies"], total, "zombies is the sum over parents");
    doc
}

fn find_parent(doc: &Value, pid: u64) -> Option<&Value> {
    doc["parents"].as_array()?.iter().find(|p| p["pid"] == pid)
}

fn zombie_pids(parent: &Value) -> Vec<u64> {
    let mut pids: Vec<u64> = parent["zombies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["pid"].as_u64().unwrap())
        .collect();
    pids.sort_unstable();
    pids
}

/// The parent is listed with exactly the spawner's children as zombies, and sane ages.
fn check_listed(doc: &Value, s: &Spawner) -> Value {
    let p = find_parent(doc, s.parent())
        .unwrap_or_else(|| panic!("parent {} not listed: {doc:#}", s.parent()))
        .clone();
    let mut kids = s.children();
    kids.sort_unstable();
    assert_eq!(zombie_pids(&p), kids, "{p:#}");
    assert_eq!(p["zombie_count"], kids.len());
    assert_eq!(p["error"], Value::Null);
    for z in p["zombies"].as_array().unwrap() {
        let upper = z["age_upper_bound_ns"].as_u64().unwrap();
        assert!(upper > 0, "{z}");
        if let Some(est) = z["zombie_ns"].as_u64() {
            assert!(est <= upper, "{z}");
        }
    }
    assert!(p["age_ns"].as_u64().unwrap() >= p["oldest_age_upper_bound_ns"].as_u64().unwrap());
    p
}

fn verdict(p: &Value) -> &str {
    p["verdict"].as_str().expect("a verdict")
}

#[test]
fn never_waits() {
    let s = Spawner::start(&["never", "--children", "3"]);
    let p = check_listed(&ps_json(None), &s);
    assert_eq!(p["comm"], "zombietrace");
    assert_eq!(p["sigchld"], "default");
    assert_eq!(p["sigchld_blocked"], false);
    assert_eq!(p["traced"], false);
    assert_eq!(p["ns_init"], false);
    assert_eq!(p["state"], "S");
    let v = verdict(&p);
    assert!(v.contains(&format!("(pid {})", s.parent())), "{v}");
    assert!(v.contains("3 zombies"), "{v}");
    assert!(v.contains("never waits"), "{v}");
    // Our own zombies: same user, so their exit status shows.
    for z in p["zombies"].as_array().unwrap() {
        assert_eq!(z["exit_code"], 0, "{z}");
        assert_eq!(z["signal"], Value::Null, "{z}");
    }

    // The text form names the parent, its zombies and the verdict.
    let out = Command::new(bin()).arg("ps").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("parent {}  zombietrace", s.parent())),
        "{text}"
    );
    for kid in s.children() {
        assert!(text.contains(&kid.to_string()), "{text}");
    }
    assert!(text.contains("never waits"), "{text}");
}

#[test]
fn caught_no_wait_blames_the_handler() {
    let s = Spawner::start(&["caught-no-wait", "--children", "2"]);
    let p = check_listed(&ps_json(None), &s);
    assert_eq!(p["sigchld"], "caught");
    assert_eq!(p["sigchld_blocked"], false);
    let v = verdict(&p);
    assert!(v.contains("SIGCHLD handler"), "{v}");
    assert!(v.contains("the handler is the bug"), "{v}");
}

#[test]
fn blocked_is_never_notified() {
    let s = Spawner::start(&["blocked"]);
    let p = check_listed(&ps_json(None), &s);
    assert_eq!(p["sigchld_blocked"], true);
    assert!(p["sigchld_blocked_threads"].as_u64().unwrap() >= 1);
    let v = verdict(&p);
    assert!(v.contains("SIGCHLD is blocked"), "{v}");
}

#[test]
fn exec_leak_parent_is_sleep() {
    let s = Spawner::start(&["exec-leak"]);
    let p = check_listed(&ps_json(None), &s);
    assert_eq!(p["comm"], "sleep");
    assert!(p["cmdline"].as_str().unwrap().starts_with("sleep"), "{p}");
    let z = &p["zombies"][0];
    assert_eq!(z["comm"], "zombietrace");
    let v = verdict(&p);
    assert!(v.contains("never waits"), "{v}");
    assert!(v.contains("named zombietrace, not sleep"), "{v}");
}

#[test]
fn no_zombies_of_ours_not_listed() {
    // SIGCHLD ignored: the kernel reaps the children at once; the parent holds none.
    let s = Spawner::start(&["ignore", "--children", "3"]);
    let doc = ps_json(None);
    assert!(find_parent(&doc, s.parent()).is_none(), "{doc:#}");
    let kids = s.children();
    for p in doc["parents"].as_array().unwrap() {
        for pid in zombie_pids(p) {
            assert!(!kids.contains(&pid), "{p:#}");
        }
    }
}

#[test]
fn non_root_sees_unknowns_not_errors() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run ps as another user");
        return;
    }
    let s = Spawner::start(&["never"]);
    let p = check_listed(&ps_json(Some(65534)), &s);
    assert_eq!(p["user"], "root");
    assert_eq!(p["sigchld"], "default");
    // Hidden from nobody: where root's process sleeps, and its zombie's exit status.
    assert_eq!(p["wchan"], Value::Null);
    assert_eq!(p["zombies"][0]["exit_code"], Value::Null);
    assert!(verdict(&p).contains("never waits"));
}

/// `unshare --pid --fork sh -c 'sh -c "exit 0" & exec sleep 30'`, killed when dropped.
struct Namespace {
    unshare: Child,
    init: Option<u32>,
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Some(init) = self.init {
            // SAFETY: the namespace's init is our grandchild; killing it ends the namespace.
            unsafe { libc::kill(init as i32, libc::SIGKILL) };
        }
        let _ = self.unshare.kill();
        wait_or_kill(&mut self.unshare);
    }
}

fn stat_of(pid: u32) -> Option<(String, char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (text.find('(')?, text.rfind(')')?);
    let mut rest = text[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((text[open + 1..close].to_string(), state, ppid))
}

fn children_of(ppid: u32) -> Vec<(u32, String, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some((comm, state, pp)) = stat_of(pid)
            && pp == ppid
        {
            out.push((pid, comm, state));
        }
    }
    out
}

#[test]
fn container_init_that_never_reaps() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = Command::new("unshare");
    if !root {
        cmd.arg("--map-root-user");
    }
    cmd.args(["--pid", "--fork", "--kill-child", "sh", "-c"])
        .arg(r#"sh -c "exit 0" & exec sleep 30"#);
    let Ok(unshare) = cmd.spawn() else {
        eprintln!("skipped: unshare is not available");
        return;
    };
    let mut ns = Namespace {
        unshare,
        init: None,
    };
    // Its init has exec'd sleep and holds the zombie of `sh -c "exit 0"`.
    let deadline = Instant::now() + WAIT;
    let (init, zombie) = loop {
        let up = children_of(ns.unshare.id()).into_iter().next();
        if let Some((init, comm, _)) = up {
            ns.init = Some(init);
            let zombie = children_of(init).into_iter().find(|(_, _, st)| *st == 'Z');
            if comm == "sleep"
                && let Some((z, _, _)) = zombie
            {
                break (init, z);
            }
        }
        if let Ok(Some(status)) = ns.unshare.try_wait() {
            eprintln!("skipped: unshare ended ({status}): no pid namespaces here");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no zombie under the namespace's init"
        );
        thread::sleep(Duration::from_millis(10));
    };
    let doc = ps_json(None);
    let p = find_parent(&doc, init as u64).unwrap_or_else(|| panic!("init {init}: {doc:#}"));
    assert_eq!(zombie_pids(p), vec![zombie as u64]);
    assert_eq!(p["comm"], "sleep");
    assert_eq!(p["ns_init"], true);
    assert_eq!(p["nspid"], 1);
    assert_eq!(p["zombies"][0]["nspid"], 2);
    let v = verdict(p);
    assert!(v.contains("a container init"), "{v}");
    assert!(v.contains("tini"), "{v}");
}

#[test]
fn names_that_are_not_utf8_are_listed_escaped() {
    // Two zombies named with bytes that are not UTF-8, and a control character besides.
    let s = Spawner::start(&[
        "never",
        "--children",
        "2",
        "--child-name",
        "\\xff\\xfe\\e[2Jzz",
    ]);
    let doc = ps_json(None);
    let p = check_listed(&doc, &s);
    for z in p["zombies"].as_array().unwrap() {
        assert_eq!(z["comm"], "\\xff\\xfe\u{1b}[2Jzz", "{z}");
    }
    // Text: listed, escaped, and nothing raw reaches the terminal.
    let out = Command::new(bin()).arg("ps").output().expect("run ps");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("text output is UTF-8");
    assert!(!text.contains('\u{1b}'), "a raw ESC in:\n{text}");
    for kid in s.children() {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&kid.to_string()))
            .unwrap_or_else(|| panic!("zombie {kid} not listed:\n{text}"));
        assert!(line.contains("\\xff\\xfe\\x1b[2Jzz"), "{line}");
    }
}
