//! The made-up state the rendering tests draw (`render_tests.rs`), and how they draw it: into
//! ratatui's `TestBackend`, read back as text.

use ratatui::{Terminal, backend::TestBackend, buffer::Buffer};

use super::{
    app::App,
    model::{Detail, Header, Health, Model, Phases, Row},
    render::draw,
    theme::Theme,
};
use crate::{diagnose::Diagnosis, diagnose::Sigchld, pipeline::event::LeakReason};

pub const MS: u64 = 1_000_000;
pub const S: u64 = 1_000_000_000;

const VERDICT: &str = "python3 (pid 19466) sleeps in hrtimer_nanosleep with SIGCHLD at default \
    and 41 zombies, oldest 1m12s: it starts children and never waits for them; fix the parent \
    (wait/join them, or ignore SIGCHLD), or kill it and init (or a subreaper) will reap them. \
    Killing the zombies does nothing.";

const HANDLER: &str = "node (pid 8121) sleeps in ep_poll with a SIGCHLD handler and 7 zombies, \
    oldest 3.40s: its SIGCHLD handler runs but does not reap: the handler is the bug; it must call \
    waitpid(-1, &status, WNOHANG) until it returns 0, or kill it and init (or a subreaper) will \
    reap them. Killing the zombies does nothing.";

#[allow(clippy::too_many_arguments)]
pub fn row(
    rank: usize,
    pid: u32,
    comm: &str,
    place: Option<&str>,
    outstanding: usize,
    oldest_ns: u64,
    p99_ns: u64,
    how: &str,
    health: Health,
    label: &'static str,
) -> Row {
    Row {
        rank,
        pid,
        comm: comm.into(),
        place: place.map(Into::into),
        outstanding,
        oldest_ns,
        rate_per_min: if oldest_ns > 0 {
            outstanding as f64 * 60e9 / oldest_ns as f64
        } else {
            0.0
        },
        p99_ns,
        how: how.into(),
        health,
        label,
        verdict: match (health, label) {
            (Health::Leaking, "never waits") => Some(VERDICT.to_string()),
            (Health::Leaking, "bad handler") => Some(HANDLER.to_string()),
            (Health::Leaking, _) => Some(format!("unknown: process {pid} is gone")),
            _ => None,
        },
    }
}

pub fn model() -> Model {
    let rows = vec![
        row(
            0,
            19466,
            "python3",
            Some("nginx.service"),
            41,
            72 * S,
            5 * S,
            "wait4",
            Health::Leaking,
            "never waits",
        ),
        row(
            1,
            8121,
            "node",
            Some("podman:8c3af0a9b2c1"),
            7,
            3_400 * MS,
            2_100 * MS,
            "wait4+",
            Health::Leaking,
            "bad handler",
        ),
        // A name a process chose to attack the terminal with: shown escaped.
        row(
            2,
            4242,
            "\u{1b}[2Jevil\nname",
            None,
            2,
            1_200 * MS,
            0,
            "-",
            Health::Leaking,
            "unknown",
        ),
        row(
            3,
            977,
            "make",
            Some("session-3.scope"),
            0,
            0,
            1_800 * MS,
            "wait4",
            Health::Recovered,
            "recovered",
        ),
        row(
            4,
            1,
            "systemd",
            Some("init.scope"),
            0,
            0,
            15 * MS,
            "reparent+",
            Health::Ok,
            "ok",
        ),
        row(
            5,
            5279,
            "bash",
            Some("session-3.scope"),
            0,
            0,
            95_000,
            "wait4",
            Health::Ok,
            "ok",
        ),
        row(
            6,
            1210,
            "containerd-shim",
            Some("containerd.service"),
            0,
            0,
            240_000,
            "waitid",
            Health::Ok,
            "ok",
        ),
        row(
            7,
            31337,
            "runner",
            None,
            0,
            0,
            3 * MS,
            "autoreap",
            Health::Exited,
            "exited",
        ),
    ];
    Model {
        header: Header {
            time: "11:02:47".into(),
            interval_ns: S,
            exits_per_s: 1203.0,
            reaps_per_s: 1197.0,
            p50_ns: 15_000,
            p99_ns: 1_520 * MS,
            outstanding: 50,
            leaking: 3,
            lost: 0,
            decode_errors: 0,
            map_full: 0,
            read_failed: 0,
            lines_dropped: 0,
        },
        rows,
        detail: None,
        message: None,
    }
}

pub fn detail(model: &Model) -> Detail {
    let mut children: Vec<(u32, String, u64)> = (0..41)
        .map(|i| {
            (
                19470 + i,
                "python3".to_string(),
                72 * S - i as u64 * 1_700 * MS,
            )
        })
        .collect();
    children[3].1 = "sh\u{202e}txt.exe".into();
    Detail {
        row: model.rows[0].clone(),
        zombies: 118,
        reaped: 77,
        kinds: vec![("wait4", 70), ("autoreap", 7)],
        p50_ns: 2 * MS,
        max_ns: 9 * S,
        leaking: Some((71 * S, LeakReason::Old)),
        leaks: 1,
        children,
        more_children: 0,
        buckets: vec![
            (1 << 20, 1 << 21, 9),
            (1 << 21, 1 << 22, 40),
            (1 << 22, 1 << 23, 20),
            (1 << 23, 1 << 24, 4),
            (1 << 30, 1 << 31, 3),
            (1 << 33, 1 << 34, 1),
        ],
        history: (0..70).map(|i| (i * 41 / 69) as u64).collect(),
        diagnosis: Some(Diagnosis {
            pid: 19466,
            comm: "python3".into(),
            cmdline: "python3 -m http.server 8000".into(),
            user: "www-data".into(),
            state: 'S',
            state_text: "sleeping".into(),
            wchan: Some("hrtimer_nanosleep".into()),
            wchan_hidden: false,
            threads: 1,
            age_ns: 600 * S,
            sigchld: Sigchld::Default,
            sigchld_blocked: false,
            traced: false,
            cgroup: Some("/system.slice/nginx.service".into()),
            workload: None,
            ns_init: false,
            nspid: None,
        }),
        phases: Some(Phases {
            reaps: 70,
            ask_p50_ns: 1_900 * 1_000,
            ask_p99_ns: 4_800 * MS,
            wake_p50_ns: 21_000,
            wake_p99_ns: 310_000,
        }),
    }
}

pub fn screen(width: u16, height: u16, model: &Model, app: &mut App, theme: Theme) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| draw(f, model, app, theme)).unwrap();
    terminal.backend().buffer().clone()
}

/// The screen as text, one line per row (what insta compares).
pub fn text(buffer: &Buffer) -> String {
    let width = buffer.area.width as usize;
    let mut out = String::new();
    for (i, cell) in buffer.content.iter().enumerate() {
        out.push_str(cell.symbol());
        if (i + 1) % width == 0 {
            out.push('\n');
        }
    }
    out
}

pub const COLOR: Theme = Theme { color: true };
