//! The main screen: the header (the last interval's rates, the state now), the table of
//! parents, a line about the selected one, and the keys; the help over it. Every text a
//! process controls goes through `output::escape`, as in the text output.

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Cell, Clear, Paragraph, Row as TableRow, Table},
};
use unicode_width::UnicodeWidthStr as _;

use super::{
    app::{App, Column, Screen},
    detail,
    model::{Health, Model, Row},
};
use crate::{
    duration::format_ns,
    output::escape::{cut, escape},
};

/// Colours, or none when `NO_COLOR` is set (https://no-color.org): then only bold, dim and
/// reverse video tell things apart.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    pub fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// What needs attention: leaks, lost events.
    pub fn alert(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn key(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn dim(self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }
}

/// `text` escaped, cut to `width` columns (with `…` where it was cut).
pub fn fit(text: &str, width: usize) -> String {
    let shown = escape(text);
    if shown.width() <= width {
        shown.into_owned()
    } else {
        cut(text, width.saturating_sub(1))
    }
}

/// Durations in at most 6 columns; `-` for none.
pub fn age(ns: u64) -> String {
    if ns == 0 { "-".into() } else { format_ns(ns) }
}

/// A rate: one decimal below 100.
pub fn rate(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

/// The whole screen.
pub fn draw(frame: &mut Frame, model: &Model, app: &mut App, theme: Theme) {
    let area = frame.area();
    // A parent's view has no use for the table's sort line, nor for the selected row's line.
    let table_up = app.screen == Screen::Table;
    let [head, body, info, keys] = Layout::vertical([
        Constraint::Length(if table_up { 3 } else { 2 }),
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
        (Screen::Table, _) => table(frame, body, model, app, theme),
    }
    status(frame, info, model, app, theme);
    footer(frame, keys, app, theme);
    if app.help {
        help(frame, area, theme);
    }
}

fn header(frame: &mut Frame, area: Rect, model: &Model, app: &App, theme: Theme) {
    let h = &model.header;
    let every = if h.interval_ns % 1_000_000_000 == 0 {
        format!("{}s", h.interval_ns / 1_000_000_000)
    } else {
        format!("{}ms", h.interval_ns / 1_000_000)
    };
    let mut first = vec![
        Span::styled(" zombietrace top", theme.title()),
        Span::raw(format!(" {}  every {every}", h.time)),
    ];
    if app.paused {
        first.push(Span::styled(
            " PAUSED",
            Style::new().add_modifier(Modifier::REVERSED),
        ));
    }
    first.push(Span::raw(format!(
        "  exits/s {}  reaps/s {}  ",
        rate(h.exits_per_s),
        rate(h.reaps_per_s)
    )));
    let lost = if h.lost > 0 {
        theme.alert()
    } else {
        Style::new()
    };
    first.push(Span::styled(format!("lost {}", h.lost), lost));
    let leaking = if h.leaking > 0 {
        theme.alert()
    } else {
        Style::new()
    };
    let second = Line::from(vec![
        Span::raw(format!(" zombies {}  ", h.outstanding)),
        Span::styled(format!("leaking {}", h.leaking), leaking),
        Span::raw(format!(
            " of {} parents  zombie time p50 {} p99 {} ({} reaps)",
            model.rows.len(),
            age(h.p50_ns),
            age(h.p99_ns),
            h.reaps
        )),
    ]);
    let shown = app.visible(&model.rows).len();
    let mut third = Vec::new();
    // What the kernel side could not record: the counts above miss it.
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
    third.push(Span::styled(
        format!(
            " sorted by {} {}",
            app.sort.title(),
            app.sort.arrow(app.reverse)
        ),
        theme.dim(),
    ));
    if !app.filter.is_empty() || app.editing {
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

/// The columns that fit in `width`, with their widths: WHERE takes what the others leave, up
/// to 24 columns, VERDICT the rest; below 80 columns WHERE, then /MIN, REAPS and OLDEST go.
pub fn columns(width: u16) -> Vec<(Column, u16)> {
    let fixed = |c: Column| match c {
        Column::Pid => 7,
        Column::Command => 15,
        Column::Where => 8,
        Column::Out => 5,
        Column::Oldest | Column::P99 => 6,
        Column::Rate => 5,
        Column::How => 8,
        Column::Verdict => 12,
    };
    let mut shown: Vec<Column> = Column::ALL.to_vec();
    let need = |cols: &[Column]| -> u16 {
        cols.iter().map(|c| fixed(*c)).sum::<u16>() + cols.len() as u16 - 1
    };
    for drop in [Column::Where, Column::Rate, Column::How, Column::Oldest] {
        if need(&shown) <= width {
            break;
        }
        shown.retain(|c| *c != drop);
    }
    let mut spare = width.saturating_sub(need(&shown));
    shown
        .into_iter()
        .map(|c| {
            let mut w = fixed(c);
            if c == Column::Where {
                let more = spare.min(16);
                w += more;
                spare -= more;
            }
            if c == Column::Verdict {
                w += spare;
            }
            (c, w)
        })
        .collect()
}

fn cell(c: Column, r: &Row, width: usize, theme: Theme) -> Cell<'static> {
    let right = |s: String| Cell::from(format!("{s:>width$}"));
    match c {
        Column::Pid => right(r.pid.to_string()),
        Column::Command => Cell::from(fit(&r.comm, width)),
        Column::Where => Cell::from(fit(r.place.as_deref().unwrap_or("-"), width)),
        Column::Out => right(r.outstanding.to_string()),
        Column::Oldest => right(age(r.oldest_ns)),
        Column::Rate => right(if r.outstanding == 0 {
            "-".into()
        } else {
            rate(r.rate_per_min)
        }),
        Column::P99 => right(age(r.p99_ns)),
        Column::How => Cell::from(r.how.clone()),
        Column::Verdict => {
            let style = match r.health {
                Health::Leaking => theme.alert(),
                Health::Recovered => theme.fg(Color::Yellow),
                Health::Ok => theme.fg(Color::Green),
                Health::Exited => theme.dim(),
            };
            // Wide enough: the cause in words after the label.
            let mut text = r.label.to_string();
            if let (Health::Leaking, Some(v), true) = (r.health, &r.verdict, width >= 30) {
                let cause = v.split_once(": ").map_or(v.as_str(), |(_, c)| c);
                text = format!("{text} · {cause}");
            }
            Cell::from(Span::styled(fit(&text, width), style))
        }
    }
}

fn table(frame: &mut Frame, area: Rect, model: &Model, app: &mut App, theme: Theme) {
    let cols = columns(area.width);
    let shown = app.visible(&model.rows);
    let at = app
        .selected
        .and_then(|pid| shown.iter().position(|r| r.pid == pid));
    let at = at.or((!shown.is_empty()).then_some(0));
    app.selected = at.map(|i| shown[i].pid);
    app.table.select(at);
    app.page = area.height.saturating_sub(1) as usize;
    let titles = cols.iter().map(|(c, w)| {
        let mut title = c.title().to_string();
        if *c == app.sort {
            title.push_str(c.arrow(app.reverse));
        }
        let w = *w as usize;
        let numeric = matches!(
            c,
            Column::Pid | Column::Out | Column::Oldest | Column::Rate | Column::P99
        );
        if numeric {
            Cell::from(format!("{title:>w$}"))
        } else {
            Cell::from(title)
        }
    });
    let head_style = if theme.color {
        Style::new().fg(Color::Black).bg(Color::Cyan)
    } else {
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    };
    let rows = shown.iter().map(|r| {
        let row = TableRow::new(
            cols.iter()
                .map(|(c, w)| cell(*c, r, *w as usize, theme))
                .collect::<Vec<_>>(),
        );
        if r.health == Health::Exited {
            row.style(theme.dim())
        } else {
            row
        }
    });
    let widths: Vec<Constraint> = cols.iter().map(|(_, w)| Constraint::Length(*w)).collect();
    let table = Table::new(rows, widths)
        .header(TableRow::new(titles.collect::<Vec<_>>()).style(head_style))
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    frame.render_stateful_widget(table, area, &mut app.table);
    if shown.is_empty() {
        let empty = if model.rows.is_empty() {
            " no parent has had a zombie yet"
        } else {
            " no parent matches the filter"
        };
        let below = Rect {
            y: area.y + 1,
            height: 1,
            ..area
        };
        frame.render_widget(Paragraph::new(empty).style(theme.dim()), below);
    }
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
    let Some(r) = app
        .selected
        .and_then(|pid| model.rows.iter().find(|r| r.pid == pid))
    else {
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

const HELP: &[(&str, &str)] = &[
    ("q  F10", "quit (Ctrl-C: quit and print the summary)"),
    ("↑ ↓  j k", "move (in a parent: scroll its zombies)"),
    ("PgUp PgDn Home End", "move by a page, to the ends"),
    ("⏎  →", "open the parent (esc ← back)"),
    ("/  F4", "filter: pid, command, unit, verdict"),
    ("< >  F6", "sort by the column left or right"),
    ("1 … 9", "sort by that column (again: reverse)"),
    ("r  I", "reverse the order"),
    ("p  space", "pause (tracing goes on)"),
    ("Ctrl-L", "redraw"),
    ("?  h  F1", "this help (any key closes it)"),
];

fn help(frame: &mut Frame, area: Rect, theme: Theme) {
    let width = area.width.min(64);
    let height = area.height.min(HELP.len() as u16 + 4);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<19}"), theme.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(Span::styled(
        " the rates and p50/p99 cover the last interval (--interval)",
        theme.dim(),
    )));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .title(Span::styled(" keys ", theme.title())),
        ),
        popup,
    );
}
