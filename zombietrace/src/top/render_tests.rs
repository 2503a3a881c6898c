//! The screens drawn from a made-up state (`render_fixture.rs`) into ratatui's `TestBackend`,
//! compared with reviewed snapshots (`snapshots/`; `INSTA_UPDATE=always cargo test` rewrites
//! them, `cargo insta review` shows what changed).

use ratatui::style::Color;

use super::{
    app::{App, Column, Screen},
    model::Model,
    render_fixture::{COLOR, detail, model, screen, text},
    table::columns,
    theme::Theme,
};

#[test]
fn the_table_at_80x24() {
    let mut app = App::default();
    insta::assert_snapshot!(text(&screen(80, 24, &model(), &mut app, COLOR)));
    assert_eq!(app.table.selected(), Some(0), "the top row is selected");
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
    model.header.lines_dropped = 7;
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

/// A why longer than the room it has is cut, and says so; the zombies keep their rows.
#[test]
fn a_long_why_is_cut_not_the_zombies() {
    let mut model = model();
    let mut d = detail(&model);
    d.diagnosis.as_mut().unwrap().cmdline = "python3 -c ".to_string() + &"x=1; ".repeat(120);
    model.detail = Some(d);
    let mut app = App {
        screen: Screen::Parent(19466),
        ..App::default()
    };
    let shown = text(&screen(80, 24, &model, &mut app, COLOR));
    let lines: Vec<&str> = shown.lines().collect();
    let zombies = lines
        .iter()
        .position(|l| l.contains(" zombies (41"))
        .unwrap();
    assert!(lines[zombies - 1].trim_end().ends_with('…'), "{shown}");
    assert!(lines[zombies + 2].contains("19470 python3"), "{shown}");
}

/// In a parent's view the header keeps what could not be recorded (the sort line goes).
#[test]
fn a_parent_open_keeps_the_troubles() {
    let mut model = model();
    model.detail = Some(detail(&model));
    model.header.read_failed = 3;
    let mut app = App {
        screen: Screen::Parent(19466),
        ..App::default()
    };
    let shown = text(&screen(80, 24, &model, &mut app, COLOR));
    let third = shown.lines().nth(2).unwrap();
    assert_eq!(third.trim_end(), " read failures 3", "{shown}");
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

/// A terminal made tiny (a resize, a split pane) is drawn in, not panicked at.
#[test]
fn any_size_draws() {
    let mut model = model();
    model.detail = Some(detail(&model));
    model.message = Some("a message".into());
    for (width, height) in [(1, 1), (10, 3), (20, 6), (40, 10), (79, 23), (300, 100)] {
        for screen_ in [Screen::Table, Screen::Parent(19466)] {
            for (help, editing) in [(false, false), (true, false), (false, true)] {
                let mut app = App {
                    screen: screen_,
                    help,
                    editing,
                    ..App::default()
                };
                screen(width, height, &model, &mut app, COLOR);
            }
        }
    }
}
