//! The screen: the header (the last interval's rates, the state now), the body (the table of
//! parents, `table.rs`, or one parent's view, `detail.rs`), a line about the selected parent or
//! a recent message, and the keys; the help (`help.rs`) over it. Every text a process controls
//! goes through `output::escape`, as in the text output (`cells::fit`).

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::Paragraph,
};

use super::{
    app::{App, Screen},
    cells::{age, fit, rate},
    detail, help,
    model::Model,
    table,
    theme::Theme,
};
use crate::output::escape::escape;

/// The whole screen.
pub fn draw(frame: &mut Frame, model: &Model, app: &mut App, theme: Theme) {
    let area = frame.area();
    // A parent's view has no use for the table's sort line (it keeps the header's third line
    // when something could not be recorded), nor for the selected row's line.
    let table_up = app.screen == Screen::Table;
    let h = &model.header;
    let troubles = h.map_full + h.decode_errors + h.read_failed + h.lines_dropped > 0;
    let [head, body, info, keys] = Layout::vertical([
        Constraint::Length(if table_up || troubles { 3 } else { 2 }),
        Constraint::Min(3),
        Constraint::Length(u16::from(table_up || model.message.is_some())),
        Constraint::Length(1),
    ])
    .areas(area);
    header(frame, head, model, app, theme);
    match (app.screen, &model.detail) {
        (Screen::Parent(_), Some(d)) => detail::draw(frame, body, d, app, theme),
        (Screen::Parent(pid), None) => {
            let gone = format!(" pid {pid} is no longer tracked (it exited and was forgotten)");
            frame.render_widget(Paragraph::new(gone).style(theme.dim()), body);
        }
        (Screen::Table, _) => table::draw(frame, body, model, app, theme),
    }
    status(frame, info, model, app, theme);
    footer(frame, keys, app, theme);
    if app.help {
        help::draw(frame, area, theme);
    }
}

fn header(frame: &mut Frame, area: Rect, model: &Model, app: &App, theme: Theme) {
    let h = &model.header;
    let every = if h.interval_ns.is_multiple_of(1_000_000_000) {
        format!("{}s", h.interval_ns / 1_000_000_000)
    } else {
        format!("{}ms", h.interval_ns / 1_000_000)
    };
    // Events lost come first, where no width cuts them; the interval last.
    let lost = if h.lost > 0 {
        theme.alert()
    } else {
        Style::new()
    };
    let mut first = vec![
        Span::styled(" zombietrace top", theme.title()),
        Span::raw(format!(" {}  ", h.time)),
        Span::styled(format!("lost {}", h.lost), lost),
        Span::raw(format!(
            "  exits/s {}  reaps/s {}  every {every}",
            rate(h.exits_per_s),
            rate(h.reaps_per_s)
        )),
    ];
    if app.paused {
        first.push(Span::raw(" "));
        first.push(Span::styled(
            "PAUSED",
            Style::new().add_modifier(Modifier::REVERSED),
        ));
    }
    let leaking = if h.leaking > 0 {
        theme.alert()
    } else {
        Style::new()
    };
    let second = Line::from(vec![
        Span::raw(format!(" zombies {}  ", h.outstanding)),
        Span::styled(format!("leaking {}", h.leaking), leaking),
        Span::raw(format!(
            " of {} parents  zombie time p50 {} p99 {}",
            model.rows.len(),
            age(h.p50_ns),
            age(h.p99_ns),
        )),
    ]);
    let shown = app.visible(&model.rows).len();
    let mut third = Vec::new();
    // What could not be recorded or written: the counts above (or the recording) miss it.
    if h.map_full > 0 {
        third.push(Span::styled(
            format!(" map full {} ", h.map_full),
            theme.alert(),
        ));
    }
    if h.decode_errors > 0 {
        third.push(Span::styled(
            format!(" bad records {} ", h.decode_errors),
            theme.alert(),
        ));
    }
    if h.read_failed > 0 {
        third.push(Span::styled(
            format!(" read failures {} ", h.read_failed),
            theme.alert(),
        ));
    }
    if h.lines_dropped > 0 {
        third.push(Span::styled(
            format!(" lines dropped {} ", h.lines_dropped),
            theme.alert(),
        ));
    }
    if app.screen == Screen::Table {
        third.push(Span::styled(
            format!(
                " sorted by {} {}",
                app.sort.title(),
                app.sort.arrow(app.reverse)
            ),
            theme.dim(),
        ));
    }
    if app.screen == Screen::Table && (!app.filter.is_empty() || app.editing) {
        third.push(Span::raw("  filter "));
        third.push(Span::styled(
            format!("\"{}\"", escape(&app.filter)),
            theme.key(),
        ));
        third.push(Span::raw(format!(": {shown} shown")));
    }
    let lines = vec![Line::from(first), second, Line::from(third)];
    frame.render_widget(Paragraph::new(lines), area);
}

/// One line: a recent message from stderr, else about the selected parent in full.
fn status(frame: &mut Frame, area: Rect, model: &Model, app: &App, theme: Theme) {
    let width = area.width as usize;
    if let Some(message) = &model.message {
        let line = Span::styled(fit(&format!(" {message}"), width), theme.fg(Color::Yellow));
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    if app.screen != Screen::Table {
        return;
    }
    let shown = app.visible(&model.rows);
    let Some(r) = app.current(&shown).map(|i| shown[i]) else {
        return;
    };
    let mut text = format!(" {} {}", r.pid, r.comm);
    if let Some(place) = &r.place {
        text.push_str(&format!(" [{place}]"));
    }
    // The cause (its situation is in the parent's view).
    let why = r
        .verdict
        .as_deref()
        .map(|v| v.split_once(": ").map_or(v, |(_, cause)| cause));
    text.push_str(&format!(": {}", why.unwrap_or(r.label)));
    frame.render_widget(Paragraph::new(fit(&text, width)), area);
}

fn footer(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let keys: &[(&str, &str)] = if app.editing {
        &[("⏎", "keep"), ("esc", "clear"), ("⌫", "erase")]
    } else {
        match app.screen {
            Screen::Table => &[
                ("q", "quit"),
                ("↑↓", "move"),
                ("⏎", "open"),
                ("/", "filter"),
                ("<>", "sort"),
                ("r", "reverse"),
                ("p", "pause"),
                ("?", "help"),
            ],
            Screen::Parent(_) => &[
                ("q", "quit"),
                ("esc", "back"),
                ("↑↓", "scroll"),
                ("p", "pause"),
                ("?", "help"),
            ],
        }
    };
    let mut spans = Vec::new();
    if app.editing {
        spans.push(Span::raw(format!(" filter: {}", escape(&app.filter))));
        spans.push(Span::styled("█", theme.key()));
    }
    for (key, what) in keys {
        spans.push(Span::styled(format!(" {key}"), theme.key()));
        spans.push(Span::raw(format!(" {what} ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
