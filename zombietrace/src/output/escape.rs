//! The one escaping of every text output: nothing a process controls reaches a terminal raw.
//!
//! Process-controlled text (command names, command lines, cgroup paths, user names) arrives as
//! `sys::text::lossless` made it: valid UTF-8, with each byte that was not UTF-8 already shown
//! as `\xNN` and each backslash doubled. Here, on the way to a terminal, every character that a
//! terminal could act on is shown as an escape instead:
//!
//! | character | shown as |
//! |---|---|
//! | newline, tab, carriage return | `\n`, `\t`, `\r` |
//! | other C0 controls (ESC, BEL, …) and DEL | `\x1b`, `\x07`, `\x7f`, … |
//! | C1 controls (U+0080–U+009F, e.g. the 8-bit CSI) | `\u{9b}` |
//! | bidirectional and zero-width formatting, line and paragraph separators | `\u{202e}` |
//!
//! so an escape sequence cannot start, a line cannot be split or forged, and text cannot be
//! reordered on screen. Column widths are counted on the escaped form.

use std::{borrow::Cow, fmt::Write as _};

use unicode_width::UnicodeWidthStr as _;

/// Whether a terminal could act on `c` (see the module docs).
fn dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// `text` with every character a terminal could act on escaped.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && dangerous(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if dangerous(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` escaped, then padded with spaces to `width` terminal columns (never cut).
pub fn cell(text: &str, width: usize) -> String {
    let shown = escape(text);
    let used = shown.width();
    let mut out = shown.into_owned();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// `text` escaped, cut to at most `max` characters (with `…` where it was cut).
pub fn cut(text: &str, max: usize) -> String {
    let shown = escape(text);
    match shown.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &shown[..at]),
        None => shown.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::text::lossless;

    #[test]
    fn the_hostile_name_stays_on_one_line() {
        let name = lossless(b"\x1b[2J\x1b]0;X\x07\nFAKE");
        assert_eq!(escape(&name), "\\x1b[2J\\x1b]0;X\\x07\\nFAKE");
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape("python3 -m http.server"), Cow::Borrowed(_)));
        assert_eq!(escape("zombié 進程"), "zombié 進程");
    }

    #[test]
    fn every_kind_is_escaped() {
        assert_eq!(escape("a\tb\rc\x7f"), "a\\tb\\rc\\x7f");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("x\u{2028}y"), "x\\u{2028}y");
        assert_eq!(escape(&lossless(b"\xff\\")), "\\xff\\\\");
    }

    #[test]
    fn cells_pad_on_what_is_shown() {
        assert_eq!(cell("ab", 5), "ab   ");
        assert_eq!(cell("a\nb", 5), "a\\nb ");
        assert_eq!(
            cell("進程", 6),
            "進程  ",
            "wide characters take two columns"
        );
        assert_eq!(cell("toolong", 3), "toolong");
        assert_eq!(cut("a\nbcdef", 4), "a\\nb…");
        assert_eq!(cut("abc", 3), "abc");
    }
}
