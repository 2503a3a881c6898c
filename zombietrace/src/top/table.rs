//! The table of parents: the columns that fit the width, one row per parent as the person
//! sorted and filtered them, the selected one highlighted.

use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    style::{Color, Modifier, Style},
    text::Span,
    widgets::{Cell, Paragraph, Row as TableRow, Table},
};

use super::{
    app::{App, Column},
    cells::{age, fit, rate},
    model::{Health, Model, Row},
    theme::Theme,
};

/// The columns that fit in `width`, with their widths: WHERE takes what the others leave, up
/// to 24 columns, VERDICT the rest; below 80 columns WHERE, then /MIN, REAPS and OLDEST go.
pub fn columns(width: u16) -> Vec<(Column, u16)> {
    let fixed = |c: Column| match c {
        Column::Pid => 7,
        Column::Command => 15,
        Column::Where => 7,
        Column::Out => 5,
        Column::Oldest | Column::P99 => 6,
        Column::Rate => 5,
        // A kind (8 columns at most) and `+` when there are others.
        Column::How => 9,
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
        // The rate zombies accumulate, for a parent that is leaking them (for one that reaps,
        // a zombie a few microseconds old would make it look huge).
        Column::Rate => right(if r.health == Health::Leaking {
            rate(r.rate_per_min)
        } else {
            "-".into()
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

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, app: &mut App, theme: Theme) {
    let cols = columns(area.width);
    let shown = app.visible(&model.rows);
    app.table.select(app.current(&shown));
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
