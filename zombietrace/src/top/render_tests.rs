//! The screens drawn from a made-up state into ratatui's `TestBackend`, compared with reviewed
//! snapshots (`snapshots/`; `INSTA_UPDATE=always cargo test` rewrites them for review).

use ratatui::{Terminal, backend::TestBackend, buffer::Buffer, style::Color};

use super::{
    app::{App, Column, Screen},
    model::{Detail, Header, Health, Model, Row},
    render::{Theme, columns, draw},
};
use crate::{diagnose::Diagnosis, diagnose::Sigchld, pipeline::event::LeakReason};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

const VERDICT: &str = "python3 (pid 19466) sleeps in hrtimer_nanosleep with SIGCHLD at default \
    and 41 zombies, oldest 1m12s: it starts children and never waits for them; fix the parent \
    (wait/join them, or ignore SIGCHLD), or kill it and init (or a subreaper) will reap them. \
    Killing the zombies does nothing.";

const HANDLER: &str = "node (pid 8121) sleeps in ep_poll with a SIGCHLD handler and 7 zombies, \
    oldest 3.40s: its SIGCHLD handler runs but does not reap: the handler is the bug; it must call \
    waitpid(-1, &status, WNOHANG) until it returns 0, or kill it and init (or a subreaper) will \
    reap them. Killing the zombies does nothing.";

#[allow(clippy::too_many_arguments)]
fn row(
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

fn model() -> Model {
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
            "reparent",
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
            reaps: 1197,
            p50_ns: 15_000,
            p99_ns: 1_520 * MS,
            outstanding: 50,
            leaking: 3,
            lost: 0,
            decode_errors: 0,
            map_full: 0,
        },
        rows,
        detail: None,
        message: None,
    }
}

fn detail(model: &Model) -> Detail {
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
    }
}

fn screen(width: u16, height: u16, model: &Model, app: &mut App, theme: Theme) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| draw(f, model, app, theme)).unwrap();
    terminal.backend().buffer().clone()
}

/// The screen as text, one line per row (what insta compares).
fn text(buffer: &Buffer) -> String {
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

const COLOR: Theme = Theme { color: true };

#[test]
fn the_table_at_80x24() {
    let mut app = App::default();
    insta::assert_snapshot!(text(&screen(80, 24, &model(), &mut app, COLOR)));
    assert_eq!(app.selected, Some(19466), "the first row is selected");
}

#[test]
fn the_table_wide_shows_the_cause() {
    let mut app = App::default();
    insta::assert_snapshot!(text(&screen(132, 16, &model(), &mut app, COLOR)));
}

#[test]
fn the_table_narrow_drops_columns() {
    let mut app = App::default();
    insta::assert_snapshot!(text(&screen(60, 14, &model(), &mut app, COLOR)));
    let kept: Vec<Column> = columns(60).into_iter().map(|c| c.0).collect();
    assert_eq!(
        kept,
        [
            Column::Pid,
            Column::Command,
            Column::Out,
            Column::Oldest,
            Column::P99,
            Column::Verdict
        ]
    );
    let total: u16 = columns(80).iter().map(|c| c.1 + 1).sum::<u16>() - 1;
    assert_eq!(
        (columns(80).len(), total),
        (9, 80),
        "all nine fit 80 columns"
    );
}

#[test]
fn filtered_sorted_paused_with_a_message() {
    let mut model = model();
    model.header.lost = 12;
    model.header.map_full = 2;
    model.message = Some("zombietrace: bad record from the kernel: short \u{1b}[31m".into());
    let mut app = App {
        filter: "sess".into(),
        editing: true,
        sort: Column::P99,
        paused: true,
        ..App::default()
    };
    insta::assert_snapshot!(text(&screen(80, 24, &model, &mut app, COLOR)));
}

#[test]
fn a_parent_open_at_80x24() {
    let mut model = model();
    model.detail = Some(detail(&model));
    let mut app = App {
        screen: Screen::Parent(19466),
        selected: Some(19466),
        ..App::default()
    };
    insta::assert_snapshot!(text(&screen(80, 24, &model, &mut app, COLOR)));
    // Scrolled to the end of its zombies.
    app.scroll = 1000;
    let scrolled = text(&screen(80, 24, &model, &mut app, COLOR));
    assert!(scrolled.contains("19510 python3"), "{scrolled}");
    assert!(!scrolled.contains("more"), "{scrolled}");
}

#[test]
fn a_parent_no_longer_tracked() {
    let mut app = App {
        screen: Screen::Parent(4),
        ..App::default()
    };
    let shown = text(&screen(80, 24, &model(), &mut app, COLOR));
    assert!(shown.contains("pid 4 is no longer tracked"), "{shown}");
}

#[test]
fn the_help() {
    let mut app = App {
        help: true,
        ..App::default()
    };
    insta::assert_snapshot!(text(&screen(80, 24, &model(), &mut app, COLOR)));
}

#[test]
fn an_empty_table() {
    let mut app = App::default();
    let shown = text(&screen(80, 24, &Model::default(), &mut app, COLOR));
    assert!(shown.contains("no parent has had a zombie yet"), "{shown}");
}

/// No colour at all with NO_COLOR; the leaking rows red with colour.
#[test]
fn no_color_means_no_colour() {
    let mut model = model();
    model.detail = Some(detail(&model));
    for screen_ in [Screen::Table, Screen::Parent(19466)] {
        for help in [false, true] {
            let mut app = App {
                screen: screen_,
                help,
                ..App::default()
            };
            let plain = screen(80, 24, &model, &mut app, Theme { color: false });
            for cell in &plain.content {
                assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
            }
            let colored = screen(80, 24, &model, &mut app, COLOR);
            assert!(colored.content.iter().any(|c| c.fg == Color::Red));
        }
    }
}

/// Whatever the names, no cell holds a character a terminal would act on.
#[test]
fn nothing_reaches_the_terminal_raw() {
    let mut model = model();
    model.detail = Some(detail(&model));
    model.rows[1].place = Some("pod\u{9b}31m\u{2028}x".into());
    for screen_ in [Screen::Table, Screen::Parent(19466)] {
        let mut app = App {
            screen: screen_,
            ..App::default()
        };
        let shown = text(&screen(100, 30, &model, &mut app, COLOR));
        assert!(
            !shown
                .chars()
                .any(|c| c != '\n' && (c.is_control() || ('\u{2028}'..='\u{202e}').contains(&c))),
            "{shown}"
        );
    }
    let mut app = App {
        selected: Some(4242),
        ..App::default()
    };
    let shown = text(&screen(100, 30, &model, &mut app, COLOR));
    assert!(
        shown.contains("4242 \\x1b[2Jevil\\nn… "),
        "cut in its column: {shown}"
    );
    assert!(
        shown.contains(" 4242 \\x1b[2Jevil\\nname: process 4242 is gone"),
        "whole below: {shown}"
    );
}
