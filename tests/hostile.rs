//! A process named to attack whoever reads zombietrace's output (it clears the screen, sets the
//! terminal's title and forges a line of its own) is shown escaped, on one line, in text; and
//! as valid JSON. Runs as root (CI does): these tests load eBPF.

mod support;

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    sync::mpsc::channel,
    thread,
    time::{Duration, Instant},
};

use support::{Tracer, bin, children, spawn};

/// ESC [2J ESC ]0;X BEL \n FAKE: 15 bytes, all a command name holds.
const HOSTILE: &str = "\\e[2J\\e]0;X\\a\\nFAKE";
const SHOWN: &str = "\\x1b[2J\\x1b]0;X\\x07\\nFAKE";

#[test]
fn a_hostile_name_is_escaped_on_one_line_in_text() {
    let mut tracer = Command::new(bin())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start zombietrace");
    let (tx, rx) = channel();
    let stderr = tracer.stderr.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the ready line");
    assert!(ready.contains("probes attached"), "{ready}");
    let (out_tx, lines) = channel();
    let stdout = tracer.stdout.take().unwrap();
    thread::spawn(move || {
        // Raw bytes, split at newlines only: whatever came out, as it came.
        for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
            let _ = out_tx.send(line);
        }
    });

    let truth = spawn(&["delayed", "--delay", "5ms", "--child-name", HOSTILE]);
    let pid = children(&truth)[0]["pid"]
        .as_u64()
        .expect("a child")
        .to_string();
    let mut mine = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while mine.len() < 2 && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            let text = String::from_utf8(line).expect("text output is UTF-8");
            assert!(
                !text.chars().any(|c| c.is_control()),
                "a raw control character: {text:?}"
            );
            assert!(!text.starts_with("FAKE"), "a forged line: {text:?}");
            if text.split_whitespace().nth(2) == Some(pid.as_str()) {
                mine.push(text);
            }
        }
    }
    // SAFETY: signals our own child.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    let _ = tracer.wait();
    assert_eq!(
        mine.len(),
        2,
        "a zombie and a reap line for {pid}: {mine:?}"
    );
    assert!(
        mine[0].contains(" zombie ") && mine[1].contains(" reap "),
        "{mine:?}"
    );
    for line in &mine {
        assert!(line.contains(SHOWN), "{line:?}");
    }
}

#[test]
fn a_hostile_name_is_valid_json() {
    let mut tracer = Tracer::start(&[]);
    let truth = spawn(&["delayed", "--delay", "5ms", "--child-name", HOSTILE]);
    let pid = children(&truth)[0]["pid"].as_u64().expect("a child");
    let reap = tracer.reap_of(pid, Duration::from_secs(20));
    assert_eq!(reap["comm"], "\u{1b}[2J\u{1b}]0;X\u{7}\nFAKE", "{reap}");
}

/// A parent whose command line is far longer than the tracer reads (100 KiB in argv[0]) is
/// diagnosed all the same, with its command line cut and marked so.
#[test]
fn a_huge_command_line_is_read_bounded() {
    use std::os::unix::process::CommandExt as _;
    let mut tracer = Tracer::start(&["--leak-after", "500ms"]);
    let huge = format!("{}\u{1b}[2J", "x".repeat(100 << 10));
    let mut parent = Command::new(bin())
        .arg0(&huge)
        .args([
            "spawn",
            "never",
            "--children",
            "2",
            "--hold",
            "4s",
            "--json",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the spawner");
    let mut first = String::new();
    BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut first)
        .expect("the ready line");
    let ready: serde_json::Value = serde_json::from_str(&first).expect("ready is JSON");
    let pid = ready["parent_pid"].as_u64().expect("parent_pid");
    let leak = tracer.wait_for(&format!("leak of {pid}"), Duration::from_secs(20), |v| {
        v["event"] == "leak" && v["pid"] == pid
    });
    let _ = parent.kill();
    let _ = parent.wait();
    let cmdline = leak["diagnosis"]["cmdline"]
        .as_str()
        .expect("a command line");
    assert!(cmdline.starts_with("xxxx"), "{leak}");
    assert!(
        cmdline.ends_with('…'),
        "cut, and marked so: {}",
        &cmdline[cmdline.len() - 20..]
    );
    assert!(cmdline.len() <= (32 << 10) + 4, "{} bytes", cmdline.len());
}
