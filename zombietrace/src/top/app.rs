//! What the person at the keyboard chose: the sort column and order, the filter, the parent
//! selected (followed by pid as the ranking changes), the parent open, pause and help; and
//! what each key does. No terminal here: keys come in as crossterm events, the table's rows as
//! the model's.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::widgets::TableState;

use super::model::Row;

/// The table's columns, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Pid,
    Command,
    Where,
    Out,
    Oldest,
    Rate,
    P99,
    How,
    Verdict,
}

impl Column {
    pub const ALL: [Column; 9] = [
        Column::Pid,
        Column::Command,
        Column::Where,
        Column::Out,
        Column::Oldest,
        Column::Rate,
        Column::P99,
        Column::How,
        Column::Verdict,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Pid => "PID",
            Column::Command => "COMMAND",
            Column::Where => "WHERE",
            Column::Out => "OUT",
            Column::Oldest => "OLDEST",
            Column::Rate => "/MIN",
            Column::P99 => "P99",
            Column::How => "REAPS",
            Column::Verdict => "VERDICT",
        }
    }

    /// Amounts sort largest first, pids and names in ascending order; the verdict by the
    /// pipeline's ranking (leaking first, then most zombies, then oldest, then slowest reaps).
    fn descending(self) -> bool {
        matches!(
            self,
            Column::Out | Column::Oldest | Column::Rate | Column::P99 | Column::Verdict
        )
    }

    /// Whether the column is sorted largest first (for its arrow), given `reverse`.
    pub fn arrow(self, reverse: bool) -> &'static str {
        if self.descending() != reverse {
            "▼"
        } else {
            "▲"
        }
    }

    fn index(self) -> usize {
        Column::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// Which screen is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Table,
    /// One parent's view.
    Parent(u32),
}

/// How the person ended the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quit {
    /// `q`: leave quietly, as top does.
    Key,
    /// Ctrl-C (a key, in raw mode): end the run as an interrupt does, summary included.
    Interrupt,
}

/// What a key asks of the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    Redraw,
    /// Redraw with fresh data (a parent opened).
    Refresh,
}

pub struct App {
    pub sort: Column,
    pub reverse: bool,
    pub filter: String,
    /// The filter is being typed.
    pub editing: bool,
    /// The parent the person moved to, followed by pid as the ranking changes; None: the top
    /// row, whichever parent it is (as the view starts, and after Home).
    pub selected: Option<u32>,
    pub screen: Screen,
    pub help: bool,
    pub paused: bool,
    pub quit: Option<Quit>,
    /// The table's scroll position, kept between frames.
    pub table: TableState,
    /// Rows a page moves (set as the table is drawn).
    pub page: usize,
    /// First zombie shown in a parent's view.
    pub scroll: usize,
}

impl Default for App {
    fn default() -> Self {
        App {
            sort: Column::Verdict,
            reverse: false,
            filter: String::new(),
            editing: false,
            selected: None,
            screen: Screen::Table,
            help: false,
            paused: false,
            quit: None,
            table: TableState::default(),
            page: 10,
            scroll: 0,
        }
    }
}

impl App {
    /// The rows shown, in order: those the filter matches, sorted.
    pub fn visible<'a>(&self, rows: &'a [Row]) -> Vec<&'a Row> {
        let needle = self.filter.to_lowercase();
        let mut shown: Vec<&Row> = rows
            .iter()
            .filter(|r| needle.is_empty() || matches(r, &needle))
            .collect();
        let sort = self.sort;
        shown.sort_by(|a, b| {
            let order = compare(sort, a, b);
            let order = if sort.descending() {
                order.reverse()
            } else {
                order
            };
            let order = if self.reverse { order.reverse() } else { order };
            order.then(a.rank.cmp(&b.rank))
        });
        shown
    }

    /// Where the selection is among `shown` (the rows as [`App::visible`] gives them): the
    /// parent moved to while it is shown, else the top row.
    pub fn current(&self, shown: &[&Row]) -> Option<usize> {
        self.selected
            .and_then(|pid| shown.iter().position(|r| r.pid == pid))
            .or((!shown.is_empty()).then_some(0))
    }

    /// The parent open, if any.
    pub fn open(&self) -> Option<u32> {
        match self.screen {
            Screen::Parent(pid) => Some(pid),
            Screen::Table => None,
        }
    }

    /// Applies a key; `rows` are the model's (to move within, and to open).
    pub fn key(&mut self, key: KeyEvent, rows: &[Row]) -> Effect {
        if key.kind == KeyEventKind::Release {
            return Effect::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            self.quit = Some(Quit::Interrupt);
            return Effect::None;
        }
        if ctrl && matches!(key.code, KeyCode::Char('l')) {
            return Effect::Redraw;
        }
        if self.editing {
            return self.edit(key);
        }
        if self.help {
            // Any key closes the help (q still quits).
            self.help = false;
            if key.code == KeyCode::Char('q') {
                self.quit = Some(Quit::Key);
            }
            return Effect::Redraw;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::F(10) => {
                self.quit = Some(Quit::Key);
                Effect::None
            }
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => {
                self.help = true;
                Effect::Redraw
            }
            KeyCode::Char('p') | KeyCode::Char(' ') => {
                self.paused = !self.paused;
                Effect::Refresh
            }
            _ => match self.screen {
                Screen::Table => self.table_key(key, rows),
                Screen::Parent(_) => self.parent_key(key),
            },
        }
    }

    fn edit(&mut self, key: KeyEvent) -> Effect {
        match key.code {
            KeyCode::Enter => self.editing = false,
            KeyCode::Esc => {
                self.editing = false;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) if !c.is_control() && self.filter.chars().count() < 64 => {
                self.filter.push(c)
            }
            _ => return Effect::None,
        }
        Effect::Redraw
    }

    fn table_key(&mut self, key: KeyEvent, rows: &[Row]) -> Effect {
        let shown = self.visible(rows);
        let at = self.current(&shown);
        let last = shown.len().saturating_sub(1);
        let page = self.page.max(1);
        let move_to = |i: usize| shown.get(i.min(last)).map(|r| r.pid);
        let here = at.unwrap_or(0);
        let target = match key.code {
            KeyCode::Down | KeyCode::Char('j') => Some(here + 1),
            KeyCode::Up | KeyCode::Char('k') => Some(here.saturating_sub(1)),
            KeyCode::PageDown => Some(here + page),
            KeyCode::PageUp => Some(here.saturating_sub(page)),
            KeyCode::End | KeyCode::Char('G') => Some(last),
            KeyCode::Home | KeyCode::Char('g') => {
                // The top row again, whichever parent ranks there.
                self.selected = None;
                return Effect::Redraw;
            }
            _ => None,
        };
        if let Some(i) = target {
            if let Some(pid) = move_to(i) {
                self.selected = Some(pid);
            }
            return Effect::Redraw;
        }
        match key.code {
            KeyCode::Enter | KeyCode::Right => {
                if let Some(pid) = at.map(|i| shown[i].pid) {
                    self.selected = Some(pid);
                    self.screen = Screen::Parent(pid);
                    self.scroll = 0;
                    return Effect::Refresh;
                }
                Effect::None
            }
            KeyCode::Char('/') | KeyCode::F(3) | KeyCode::F(4) => {
                self.editing = true;
                Effect::Redraw
            }
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                Effect::Redraw
            }
            KeyCode::Char('<') | KeyCode::Char(',') => {
                self.sort = Column::ALL[(self.sort.index() + Column::ALL.len() - 1) % 9];
                Effect::Redraw
            }
            KeyCode::Char('>') | KeyCode::Char('.') | KeyCode::F(6) => {
                self.sort = Column::ALL[(self.sort.index() + 1) % 9];
                Effect::Redraw
            }
            KeyCode::Char(c @ '1'..='9') => {
                let column = Column::ALL[c as usize - '1' as usize];
                if column == self.sort {
                    self.reverse = !self.reverse;
                } else {
                    self.sort = column;
                    self.reverse = false;
                }
                Effect::Redraw
            }
            KeyCode::Char('r') | KeyCode::Char('I') => {
                self.reverse = !self.reverse;
                Effect::Redraw
            }
            _ => Effect::None,
        }
    }

    fn parent_key(&mut self, key: KeyEvent) -> Effect {
        match key.code {
            KeyCode::Esc | KeyCode::Left | KeyCode::Backspace | KeyCode::Enter => {
                self.screen = Screen::Table;
                Effect::Redraw
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.scroll += 1;
                Effect::Redraw
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.scroll = self.scroll.saturating_sub(1);
                Effect::Redraw
            }
            KeyCode::PageDown => {
                self.scroll += self.page.max(1);
                Effect::Redraw
            }
            KeyCode::PageUp => {
                self.scroll = self.scroll.saturating_sub(self.page.max(1));
                Effect::Redraw
            }
            KeyCode::Home | KeyCode::Char('g') => {
                self.scroll = 0;
                Effect::Redraw
            }
            _ => Effect::None,
        }
    }
}

/// Whether `needle` (lowercase) is in any text of the row as shown.
fn matches(r: &Row, needle: &str) -> bool {
    r.pid.to_string().contains(needle)
        || [
            r.comm.as_str(),
            r.place.as_deref().unwrap_or(""),
            r.how.as_str(),
            r.label,
            r.verdict.as_deref().unwrap_or(""),
        ]
        .iter()
        .any(|text| text.to_lowercase().contains(needle))
}

fn compare(column: Column, a: &Row, b: &Row) -> std::cmp::Ordering {
    match column {
        Column::Pid => a.pid.cmp(&b.pid),
        Column::Command => a.comm.cmp(&b.comm),
        Column::Where => a.place.cmp(&b.place),
        Column::Out => a.outstanding.cmp(&b.outstanding),
        Column::Oldest => a.oldest_ns.cmp(&b.oldest_ns),
        Column::Rate => a.rate_per_min.total_cmp(&b.rate_per_min),
        Column::P99 => a.p99_ns.cmp(&b.p99_ns),
        Column::How => a.how.cmp(&b.how),
        // Worst first is the ranking itself: rank 0 is "largest".
        Column::Verdict => b.rank.cmp(&a.rank),
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
