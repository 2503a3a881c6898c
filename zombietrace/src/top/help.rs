//! The keys, in a box over the screen (`?`).

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::{Block, Borders, Clear, Paragraph},
};

use super::theme::Theme;

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

pub fn draw(frame: &mut Frame, area: Rect, theme: Theme) {
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
