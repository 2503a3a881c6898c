//! `zombietrace serve`: the exposition names every metric of docs/metrics.md, /healthz says
//! ready, and 50 scrapers in a loop and clients that never read do not stall tracing. Runs as
//! root (CI does, and the kernel matrix in its guests). tests/prometheus.rs scrapes it with a
//! real Prometheus.

mod support;

use std::{
    io::Write as _,
    net::TcpStream,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    own_copy,
    serve::{Serve, sample},
};

#[test]
fn the_exposition_has_every_documented_metric() {
    let serve = Serve::start(&["--leak-after", "500ms"]);
    assert_eq!(serve.get("/healthz"), (200, "ok\n".into()));
    // A parent holding a zombie, leaking: the per-parent families have a series.
    let mut held = Command::new(support::bin())
        .args(["spawn", "never", "--children", "1", "--hold", "3s"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(2000));
    let (_, text) = serve.get("/metrics");
    held.wait().unwrap();
    let doc = include_str!("../docs/metrics.md");
    let documented: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `zombietrace_"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert!(documented.len() >= 16, "{documented:?}");
    for name in documented {
        let full = format!("zombietrace_{name}");
        assert!(
            text.contains(&format!("# TYPE {full} ")),
            "{full} is documented but not exposed:\n{text}"
        );
    }
    assert!(!text.contains("pid="), "no pid labels");
    let _ = serve.stop();
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
