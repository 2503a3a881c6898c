//! `zombietrace serve` scraped by a real Prometheus server every second: it sees a parent that
//! holds 3 zombies, leaking, then their reaps in the histogram; `promtool check metrics` passes
//! on the exposition. Host only (the kernel matrix's guests have no Prometheus: there
//! tests/serve.rs checks the exposition alone). Installs Debian's `prometheus` when missing.

mod support;

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    own_copy,
    serve::{Serve, free_port},
};

/// Installs `package` from Debian when `binary` is missing.
fn ensure(binary: &str, package: &str) -> PathBuf {
    let found = |b: &str| {
        ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"]
            .iter()
            .map(|d| Path::new(d).join(b))
            .find(|p| p.exists())
    };
    if let Some(path) = found(binary) {
        return path;
    }
    let quiet = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get")
    };
    quiet(&["update", "-q"]);
    let st = quiet(&["install", "-y", "-q", "--no-install-recommends", package]);
    assert!(st.success(), "apt-get install {package} failed");
    found(binary).unwrap_or_else(|| panic!("{package} installed no {binary}"))
}

/// A Prometheus server on loopback scraping `target` every second, with its own storage.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Prometheus {
    fn start(target: u16) -> Prometheus {
        let bin = ensure("prometheus", "prometheus");
        let dir = TempDir(std::env::temp_dir().join(format!("zt-prom-{}", std::process::id())));
        std::fs::create_dir_all(dir.0.join("data")).unwrap();
        let config = dir.0.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
                 - job_name: zombietrace\n    static_configs:\n      - targets: \
                 ['127.0.0.1:{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&format!("http://127.0.0.1:{port}/-/ready"))
            .call()
            .is_err()
        {
            assert!(Instant::now() < deadline, "prometheus never became ready");
            thread::sleep(Duration::from_millis(200));
        }
        p
    }

    /// The value of an instant query's first result, if any.
    fn query(&self, promql: &str) -> Option<f64> {
        let text = ureq::get(&format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query("query", promql)
            .call()
            .ok()?
            .into_string()
            .ok()?;
        let body: Value = serde_json::from_str(&text).ok()?;
        body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
    }

    /// Waits until `promql` gives a value that `ok` accepts; returns it.
    fn wait_for(&self, promql: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.query(promql);
            if let Some(v) = v.filter(|&v| ok(v)) {
                return v;
            }
            assert!(Instant::now() < deadline, "{promql} stayed at {v:?}");
            thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_prometheus_sees_the_leaking_parent_and_the_reaps() {
    let serve = Serve::start(&["--leak-after", "1s"]);
    assert_eq!(serve.get("/healthz"), (200, "ok\n".into()));
    let (_, text) = serve.get("/metrics");
    let promtool = ensure("promtool", "prometheus");
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let prometheus = Prometheus::start(serve.port);
    let bin = own_copy("prom");
    let comm = bin.file_name().unwrap().to_str().unwrap().to_string();
    let wait4 = r#"zombietrace_zombie_duration_seconds_count{how="wait4"}"#;
    let before = prometheus.wait_for(wait4, |_| true);
    // A parent that holds 3 zombies for 8 s, then reaps them with wait4.
    let mut spawner = Command::new(&bin)
        .args([
            "spawn",
            "delayed",
            "--children",
            "3",
            "--delay",
            "8s",
            "--json",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let series = |name: &str| format!(r#"{name}{{parent_comm="{comm}"}}"#);
    prometheus.wait_for(&series("zombietrace_parent_zombies_outstanding"), |v| {
        v == 3.0
    });
    prometheus.wait_for(&series("zombietrace_parent_leaking"), |v| v == 1.0);
    let age = prometheus.wait_for(
        &series("zombietrace_parent_oldest_zombie_age_seconds"),
        |v| v >= 1.0,
    );
    assert!(age < 60.0, "{age}");
    assert!(spawner.wait().unwrap().success());
    prometheus.wait_for(wait4, |v| v >= before + 3.0);
    prometheus.wait_for(
        &format!(
            "absent({}) or {} == 0",
            series("zombietrace_parent_zombies_outstanding"),
            series("zombietrace_parent_zombies_outstanding")
        ),
        |_| true,
    );
    let _ = std::fs::remove_file(&bin);
    let log = serve.stop();
    // Leaks and their ends went to stderr as JSON lines, and the summary last.
    let json: Vec<Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        json.iter()
            .any(|v| v["event"] == "leak" && v["comm"] == comm.as_str()),
        "{log:?}"
    );
    assert_eq!(
        json.last().map(|v| v["event"].clone()),
        Some("summary".into())
    );
}
