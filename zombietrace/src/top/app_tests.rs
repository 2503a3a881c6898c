use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::top::model::{Health, Row};

fn row(rank: usize, pid: u32, comm: &str, outstanding: usize, label: &'static str) -> Row {
    Row {
        rank,
        pid,
        comm: comm.into(),
        place: (pid == 30).then(|| "nginx.service".to_string()),
        outstanding,
        oldest_ns: outstanding as u64 * 1_000_000_000,
        rate_per_min: outstanding as f64,
        p99_ns: 1_000 * pid as u64,
        how: "wait4".into(),
        health: if outstanding > 0 {
            Health::Leaking
        } else {
            Health::Ok
        },
        label,
        verdict: None,
    }
}

fn rows() -> Vec<Row> {
    vec![
        row(0, 30, "python3", 12, "never waits"),
        row(1, 10, "bash", 3, "bad handler"),
        row(2, 20, "make", 0, "ok"),
    ]
}

fn key(app: &mut App, code: KeyCode, rows: &[Row]) -> Effect {
    app.key(KeyEvent::new(code, KeyModifiers::NONE), rows)
}

fn pids(app: &App, rows: &[Row]) -> Vec<u32> {
    app.visible(rows).iter().map(|r| r.pid).collect()
}

#[test]
fn ranked_worst_first_then_sorted_by_any_column() {
    let rows = rows();
    let mut app = App::default();
    assert_eq!(pids(&app, &rows), [30, 10, 20], "the pipeline's ranking");
    key(&mut app, KeyCode::Char('1'), &rows);
    assert_eq!(
        (app.sort, pids(&app, &rows)),
        (Column::Pid, vec![10, 20, 30])
    );
    key(&mut app, KeyCode::Char('1'), &rows);
    assert_eq!(
        pids(&app, &rows),
        [30, 20, 10],
        "the same column again reverses"
    );
    key(&mut app, KeyCode::Char('2'), &rows);
    assert_eq!(pids(&app, &rows), [10, 20, 30], "commands A to Z");
    key(&mut app, KeyCode::Char('>'), &rows);
    assert_eq!(app.sort, Column::Where);
    key(&mut app, KeyCode::Char('>'), &rows);
    assert_eq!(
        (app.sort, pids(&app, &rows)),
        (Column::Out, vec![30, 10, 20])
    );
    key(&mut app, KeyCode::Char('r'), &rows);
    assert_eq!(pids(&app, &rows), [20, 10, 30]);
    assert_eq!(Column::Out.arrow(app.reverse), "▲");
    key(&mut app, KeyCode::Char('<'), &rows);
    key(&mut app, KeyCode::Char('<'), &rows);
    key(&mut app, KeyCode::Char('<'), &rows);
    assert_eq!(app.sort, Column::Pid);
    key(&mut app, KeyCode::Char('<'), &rows);
    assert_eq!(app.sort, Column::Verdict, "wraps around");
}

#[test]
fn the_filter_matches_any_text_shown() {
    let rows = rows();
    let mut app = App::default();
    key(&mut app, KeyCode::Char('/'), &rows);
    for c in "NGINX".chars() {
        key(&mut app, KeyCode::Char(c), &rows);
    }
    assert_eq!(pids(&app, &rows), [30], "the unit, any case");
    assert!(app.editing);
    key(&mut app, KeyCode::Enter, &rows);
    assert!(!app.editing);
    assert_eq!(app.filter, "NGINX");
    // q typed into a filter is a letter; once kept, q quits.
    key(&mut app, KeyCode::Char('/'), &rows);
    for _ in 0..5 {
        key(&mut app, KeyCode::Backspace, &rows);
    }
    for c in "handler".chars() {
        key(&mut app, KeyCode::Char(c), &rows);
    }
    assert_eq!(pids(&app, &rows), [10], "the verdict's label");
    key(&mut app, KeyCode::Esc, &rows);
    assert_eq!((app.filter.as_str(), pids(&app, &rows).len()), ("", 3));
    app.filter = "2".into();
    assert_eq!(pids(&app, &rows), [20], "a pid");
    key(&mut app, KeyCode::Esc, &rows);
    assert!(app.filter.is_empty(), "esc clears a kept filter");
}

#[test]
fn selection_moves_follows_its_parent_and_opens_it() {
    let rows = rows();
    let mut app = App::default();
    let top = |app: &App| {
        let shown = app.visible(&rows);
        app.current(&shown).map(|i| shown[i].pid)
    };
    assert_eq!(
        (app.selected, top(&app)),
        (None, Some(30)),
        "the top row, as it starts"
    );
    key(&mut app, KeyCode::Down, &rows);
    assert_eq!(app.selected, Some(10), "the second row");
    key(&mut app, KeyCode::Char('j'), &rows);
    assert_eq!(app.selected, Some(20));
    key(&mut app, KeyCode::Down, &rows);
    assert_eq!(app.selected, Some(20), "stays at the end");
    key(&mut app, KeyCode::Home, &rows);
    assert_eq!(
        (app.selected, top(&app)),
        (None, Some(30)),
        "the top row, whichever parent"
    );
    key(&mut app, KeyCode::Char('k'), &rows);
    assert_eq!(app.selected, Some(30));
    key(&mut app, KeyCode::End, &rows);
    key(&mut app, KeyCode::Up, &rows);
    assert_eq!(app.selected, Some(10));
    // Sorted otherwise, the selection stays on its parent.
    key(&mut app, KeyCode::Char('1'), &rows);
    assert_eq!(app.selected, Some(10));
    assert_eq!(key(&mut app, KeyCode::Enter, &rows), Effect::Refresh);
    assert_eq!((app.screen, app.open()), (Screen::Parent(10), Some(10)));
    key(&mut app, KeyCode::Down, &rows);
    assert_eq!(app.scroll, 1, "in a parent, the arrows scroll its zombies");
    key(&mut app, KeyCode::Esc, &rows);
    assert_eq!((app.screen, app.selected), (Screen::Table, Some(10)));
}

#[test]
fn quit_pause_help() {
    let rows = rows();
    let mut app = App::default();
    key(&mut app, KeyCode::Char('?'), &rows);
    assert!(app.help);
    key(&mut app, KeyCode::Char('x'), &rows);
    assert!(!app.help && app.quit.is_none(), "any key closes the help");
    key(&mut app, KeyCode::Char(' '), &rows);
    assert!(app.paused);
    key(&mut app, KeyCode::Char('p'), &rows);
    assert!(!app.paused);
    key(&mut app, KeyCode::Char('q'), &rows);
    assert_eq!(app.quit, Some(Quit::Key));
    let mut app = App {
        editing: true,
        ..App::default()
    };
    app.key(
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        &rows,
    );
    assert_eq!(app.quit, Some(Quit::Interrupt), "Ctrl-C even while typing");
}
