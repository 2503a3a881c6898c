//! `zombietrace serve` for real: a real Prometheus server scrapes it every second and sees a
//! parent that holds 3 zombies, leaking, then their reaps in the histogram; `promtool check
//! metrics` passes on the exposition; 50 scrapers in a loop and clients that never read do not
//! stall tracing. Runs as root (CI does); installs Debian's `prometheus` when it is missing.

mod support;

use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::BIN;

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A copy of the binary under a name of this test's own, so its processes' parent command
/// (a metric label) is this test's alone.
fn own_copy(tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("zt{tag}{}", std::process::id()));
    std::fs::copy(BIN, &path).expect("copy the binary");
    path
}

/// `zombietrace serve` on `port`, ready (its stderr ready line seen); stderr lines are
/// collected.
struct Serve {
    child: Child,
    port: u16,
    stderr: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Serve {
    fn start(extra: &[&str]) -> Serve {
        let port = free_port();
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start zombietrace serve");
        let stderr = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = child.stderr.take().unwrap();
        let keep = stderr.clone();
        thread::spawn(move || {
            for line in BufReader::new(lines).lines().map_while(Result::ok) {
                if line.contains("serving http") {
                    let _ = tx.send(());
                }
                keep.lock().unwrap().push(line);
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("serve did not say it was serving");
        Serve {
            child,
            port,
            stderr,
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        match ureq::get(&format!("http://127.0.0.1:{}{path}", self.port))
            .timeout(Duration::from_secs(10))
            .call()
        {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// SIGTERM, as systemd and Kubernetes send: a clean stop with a summary on stderr.
    fn stop(mut self) -> Vec<String> {
        // SAFETY: signals our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve ended with {status}");
        thread::sleep(Duration::from_millis(100));
        self.stderr.lock().unwrap().clone()
    }
}

/// The value of one sample of an exposition (`name{labels}` exactly as written).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

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

#[test]
fn scrapers_and_clients_that_never_read_do_not_stall_tracing() {
    let serve = Serve::start(&[]);
    let port = serve.port;
    // Clients that connect and never read their answer, or never finish asking.
    let mut stuck = Vec::new();
    for _ in 0..8 {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stuck.push(c);
        let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
        half.write_all(b"GET /metr").unwrap();
        stuck.push(half);
    }
    // 50 scrapers in a loop while a storm runs.
    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicU64::new(0));
    let scrapers: Vec<_> = (0..50)
        .map(|_| {
            let (stop, scrapes) = (stop.clone(), scrapes.clone());
            thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(10))
                    .build();
                while !stop.load(Ordering::Relaxed) {
                    let r = agent
                        .get(&format!("http://127.0.0.1:{port}/metrics"))
                        .call();
                    assert!(r.is_ok(), "a scrape failed: {:?}", r.err());
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let bin = own_copy("load");
    let storm = Command::new(&bin)
        .args([
            "spawn",
            "storm",
            "--parents",
            "2",
            "--duration",
            "10s",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(storm.status.success());
    let exits = String::from_utf8_lossy(&storm.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "done")
        .and_then(|v| v["exits"].as_u64())
        .expect("the storm's done line");
    // Tracing kept up: still healthy, and answering quickly, with nothing lost.
    let asked = Instant::now();
    assert_eq!(serve.get("/healthz").0, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
    for s in scrapers {
        s.join().expect("a scraper failed");
    }
    let (_, text) = serve.get("/metrics");
    assert_eq!(
        sample(&text, "zombietrace_events_lost_total"),
        Some(0.0),
        "{text}"
    );
    let zombies = sample(&text, "zombietrace_zombies_total").unwrap();
    assert!(zombies >= exits as f64, "{zombies} < the storm's {exits}");
    let rss_kib: u64 = std::fs::read_to_string(format!("/proc/{}/status", serve.child.id()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(rss_kib < 200 << 10, "RSS {rss_kib} KiB");
    let n = scrapes.load(Ordering::Relaxed);
    assert!(n > 100, "only {n} scrapes");
    eprintln!("{n} scrapes during {exits} exits; RSS {rss_kib} KiB");
    drop(stuck);
    let _ = std::fs::remove_file(&bin);
    let log = serve.stop();
    assert!(
        log.iter().any(|l| l.contains("\"event\":\"summary\"")),
        "{log:?}"
    );
}
