//! One parent's view (Enter on its row): what it holds now, why it does not reap (its
//! diagnosis and verdict), its zombies with their ages, a histogram of its zombie times and a
//! sparkline of its outstanding count.

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::Color,
    text::{Line, Span},
    widgets::{Block, Borders, Padding, Paragraph, Sparkline},
};

use super::{
    app::App,
    cells::{age, fit, rate, short, wrap},
    model::{Detail, Health},
    theme::Theme,
};
use crate::{diagnose::Diagnosis, duration::format_ns, output::escape::escape};

/// Width of the zombie list, next to the histogram.
const LIST_WIDTH: u16 = 34;

pub fn draw(frame: &mut Frame, area: Rect, d: &Detail, app: &mut App, theme: Theme) {
    // The why, wrapped here (its height is known before the layout): it gets the rows the
    // zombies and the histogram (4 at least) and the sparkline (3) leave, and says when it was
    // cut.
    let width = area.width.saturating_sub(1).max(1) as usize;
    let mut why: Vec<String> = why(d).iter().flat_map(|l| wrap(l, width)).collect();
    let room = area.height.saturating_sub(2 + 1 + 4 + 3).max(1) as usize;
    if why.len() > room {
        why.truncate(room);
        if let Some(last) = why.last_mut() {
            *last = fit(&format!("{last} …"), width);
        }
    }
    let [title, numbers, why_area, panes, spark] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(why.len() as u16 + 1),
        Constraint::Min(4),
        Constraint::Length(3),
    ])
    .areas(area);
    heading(frame, title, numbers, d, theme);
    let why: Vec<Line> = why.into_iter().map(Line::from).collect();
    frame.render_widget(Paragraph::new(why).block(section(" why ", theme)), why_area);
    let [list, histogram] =
        Layout::horizontal([Constraint::Length(LIST_WIDTH), Constraint::Min(20)]).areas(panes);
    children(frame, list, d, app, theme);
    times(frame, histogram, d, theme);
    sparkline(frame, spark, d, theme);
}

fn section(title: &str, theme: Theme) -> Block<'static> {
    Block::new()
        .borders(Borders::TOP)
        .padding(Padding::left(1))
        .border_style(theme.dim())
        .title(Span::styled(title.to_string(), theme.title()))
}

fn heading(frame: &mut Frame, title: Rect, numbers: Rect, d: &Detail, theme: Theme) {
    let r = &d.row;
    let mut first = vec![Span::styled(
        format!(" {} (pid {})", escape(&r.comm), r.pid),
        theme.title(),
    )];
    if let Some(place) = &r.place {
        first.push(Span::raw(format!(" [{}]", escape(place))));
    }
    let state = match (d.leaking, r.health) {
        (Some((for_ns, reason)), _) => Span::styled(
            format!(
                "  leaking for {} ({})",
                format_ns(for_ns),
                match reason {
                    crate::pipeline::event::LeakReason::Old => "holds an old zombie",
                    crate::pipeline::event::LeakReason::Growing => "its zombies keep growing",
                }
            ),
            theme.alert(),
        ),
        (None, Health::Exited) => Span::styled("  exited", theme.dim()),
        (None, Health::Recovered) => Span::styled("  recovered", theme.fg(Color::Yellow)),
        (None, _) => Span::styled("  not leaking", theme.fg(Color::Green)),
    };
    first.push(state);
    frame.render_widget(Paragraph::new(Line::from(first)), title);
    let kinds: Vec<String> = d.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let mut text = format!(
        " {} zombies now, oldest {}",
        r.outstanding,
        age(r.oldest_ns)
    );
    if r.health == Health::Leaking {
        text.push_str(&format!(", {}/min", rate(r.rate_per_min)));
    }
    text.push_str(&format!(" · {} so far, {} reaped", d.zombies, d.reaped));
    if !kinds.is_empty() {
        text.push_str(&format!(" ({})", kinds.join(", ")));
    }
    if d.leaks > 0 {
        let s = if d.leaks == 1 { "" } else { "s" };
        text.push_str(&format!(" · {} leak episode{s}", d.leaks));
    }
    frame.render_widget(Paragraph::new(fit(&text, numbers.width as usize)), numbers);
}

/// The verdict, then the facts it rests on, escaped.
fn why(d: &Detail) -> Vec<String> {
    let mut lines = Vec::new();
    match (&d.row.verdict, d.row.health) {
        (Some(v), _) => lines.push(escape(v).into_owned()),
        (None, Health::Exited) => lines.push("It exited; its zombies went to a new parent.".into()),
        (None, _) => lines.push(
            "Not diagnosed: a parent is diagnosed when it starts leaking (a zombie older than \
             --leak-after, or a growing count)."
                .into(),
        ),
    }
    if let Some(diag) = &d.diagnosis {
        lines.extend(facts(diag));
    }
    // As the text summary says it: asking is calling wait late (the program), waking is
    // running late once asked (the scheduler).
    if let Some(p) = &d.phases {
        lines.push(format!(
            "phases ({} wait reap{}): ask p50 {}, p99 {}; wake p50 {}, p99 {}",
            p.reaps,
            if p.reaps == 1 { "" } else { "s" },
            format_ns(p.ask_p50_ns),
            format_ns(p.ask_p99_ns),
            format_ns(p.wake_p50_ns),
            format_ns(p.wake_p99_ns),
        ));
    }
    lines
}

/// What procfs said when it started leaking, beyond the verdict (which already gives its
/// state, where it sleeps and its SIGCHLD disposition).
fn facts(d: &Diagnosis) -> Vec<String> {
    let mut line = format!(
        "user {} · {} thread{} · up {}",
        escape(&d.user),
        d.threads,
        if d.threads == 1 { "" } else { "s" },
        format_ns(d.age_ns),
    );
    if let Some(ns) = d.nspid {
        line.push_str(&format!(" · pid {ns} in its namespace"));
    }
    if !d.cmdline.is_empty() {
        line.push_str(&format!(" · cmd: {}", escape(&d.cmdline)));
    }
    vec![line]
}

fn children(frame: &mut Frame, area: Rect, d: &Detail, app: &mut App, theme: Theme) {
    let total = d.children.len() + d.more_children;
    let block = section(&format!(" zombies ({total}, oldest first) "), theme);
    let rows = block.inner(area).height.saturating_sub(1) as usize;
    app.page = rows;
    app.scroll = app.scroll.min(d.children.len().saturating_sub(rows));
    let mut lines = vec![Line::from(Span::styled(
        format!("{:>7} {:<15} {:>8}", "PID", "COMMAND", "AGE"),
        theme.dim(),
    ))];
    for (pid, comm, age_ns) in d.children.iter().skip(app.scroll).take(rows) {
        lines.push(Line::from(format!(
            "{pid:>7} {:<15} {:>8}",
            fit(comm, 15),
            age(*age_ns)
        )));
    }
    let below = d.children.len().saturating_sub(app.scroll + rows) + d.more_children;
    if below > 0 && lines.len() > 1 {
        lines.pop();
        lines.push(Line::from(Span::styled(
            format!("{:>7} … {below} more", ""),
            theme.dim(),
        )));
    }
    if d.children.is_empty() {
        lines.push(Line::from(Span::styled("    none now", theme.dim())));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// Eighths of a block, for bars drawn to a fraction of a column.
const EIGHTHS: [&str; 9] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"];

fn bar(value: u64, max: u64, width: usize) -> String {
    if max == 0 || width == 0 {
        return String::new();
    }
    let eighths = (value as u128 * width as u128 * 8).div_ceil(max as u128) as usize;
    let mut s = "█".repeat(eighths / 8);
    s.push_str(EIGHTHS[eighths % 8]);
    s
}

/// Buckets merged in runs so that at most `rows` remain.
fn fit_buckets(buckets: &[(u64, u64, u64)], rows: usize) -> Vec<(u64, u64, u64)> {
    let per = buckets.len().div_ceil(rows.max(1)).max(1);
    buckets
        .chunks(per)
        .map(|run| {
            let count = run.iter().map(|b| b.2).sum();
            (run[0].0, run[run.len() - 1].1, count)
        })
        .collect()
}

fn times(frame: &mut Frame, area: Rect, d: &Detail, theme: Theme) {
    let r = &d.row;
    let title = if d.reaped == 0 {
        " zombie times: none reaped yet ".to_string()
    } else {
        format!(
            " zombie times: p50 {} p99 {} max {} ",
            age(d.p50_ns),
            age(r.p99_ns),
            age(d.max_ns)
        )
    };
    let block = section(&title, theme).borders(Borders::TOP | Borders::LEFT);
    let inner = block.inner(area);
    let buckets = fit_buckets(&d.buckets, inner.height as usize);
    let max = buckets.iter().map(|b| b.2).max().unwrap_or(0);
    let count_width = max.to_string().len();
    let bar_width = (inner.width as usize).saturating_sub(14 + count_width + 1);
    let lines: Vec<Line> = buckets
        .iter()
        .map(|&(low, high, count)| {
            Line::from(vec![
                Span::raw(format!("{:>6}-{:<6} ", short(low), short(high))),
                Span::styled(
                    format!("{:<bar_width$}", bar(count, max, bar_width)),
                    theme.fg(Color::Magenta),
                ),
                Span::raw(format!(" {count:>count_width$}")),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn sparkline(frame: &mut Frame, area: Rect, d: &Detail, theme: Theme) {
    let width = area.width as usize;
    let data = &d.history[d.history.len().saturating_sub(width)..];
    let max = data.iter().copied().max().unwrap_or(0);
    let title = format!(
        " outstanding, one sample per interval: {} now, max {max} over {} ",
        data.last().copied().unwrap_or(0),
        data.len()
    );
    frame.render_widget(
        Sparkline::default()
            .data(data)
            .max(max.max(1))
            .style(theme.fg(Color::Red))
            .block(section(&title, theme)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_drawn_to_an_eighth() {
        assert_eq!(bar(0, 10, 4), "");
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 4), "██");
        assert_eq!(bar(1, 10, 4), "▌", "rounded up to an eighth");
        assert_eq!(bar(1, 1000, 4), "▏", "a count is never invisible");
    }

    #[test]
    fn buckets_merge_to_fit() {
        let b: Vec<(u64, u64, u64)> = (0..10).map(|i| (1 << i, 2 << i, i)).collect();
        assert_eq!(fit_buckets(&b, 20), b);
        let merged = fit_buckets(&b, 4);
        assert_eq!(merged.len(), 4);
        assert_eq!(merged[0], (1, 8, 3));
        assert_eq!(merged.iter().map(|m| m.2).sum::<u64>(), 45);
    }
}
