//! `serve` under the bench: its /metrics scraped every second, as Prometheus would.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

/// Where the bench's `serve` listens (not the default port, which a running test may hold).
pub const SERVE_LISTEN: &str = "127.0.0.1:19489";

/// Scrapes `serve`'s /metrics every second while the run lasts. A one-request HTTP/1.0 client
/// on std's TcpStream: the bench needs nothing more, and no HTTP crate for it.
pub struct Scraper {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Result<u64>>,
}

impl Scraper {
    pub fn start() -> Scraper {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let mut scrapes = 0;
            let mut next = Instant::now();
            while !stopping.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    scrape().with_context(|| format!("scrape {} of /metrics", scrapes + 1))?;
                    scrapes += 1;
                    next += Duration::from_secs(1);
                }
                thread::sleep(Duration::from_millis(20));
            }
            Ok(scrapes)
        });
        Scraper { stop, thread }
    }

    /// Stops scraping; how many scrapes succeeded (any failure is an error).
    pub fn finish(self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the scraper does not panic")
    }
}

fn scrape() -> Result<()> {
    let mut conn = TcpStream::connect(SERVE_LISTEN)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        conn,
        "GET /metrics HTTP/1.0\r\nHost: {SERVE_LISTEN}\r\n\r\n"
    )?;
    let mut body = String::new();
    conn.read_to_string(&mut body)?;
    if !body.starts_with("HTTP/1.0 200") && !body.starts_with("HTTP/1.1 200") {
        bail!("{}", body.lines().next().unwrap_or("an empty reply"));
    }
    if !body.contains("zombietrace_zombies_total") {
        bail!("the reply has no zombietrace_zombies_total");
    }
    Ok(())
}
