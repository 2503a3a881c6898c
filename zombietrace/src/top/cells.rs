//! How values are written in the view's cells: any text a process controls escaped as the text
//! output escapes it (`output::escape`) and cut to the columns it has, measured on the escaped
//! form; durations and rates in a few columns.

use unicode_width::{UnicodeWidthChar as _, UnicodeWidthStr as _};

use crate::{duration::format_ns, output::escape::escape};

/// `text` escaped, cut to `width` terminal columns (with `…` where it was cut).
pub fn fit(text: &str, width: usize) -> String {
    let shown = escape(text);
    if shown.width() <= width {
        return shown.into_owned();
    }
    let mut out = String::with_capacity(width + 3);
    let mut used = 0;
    for c in shown.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// `shown` (text already escaped) in lines of at most `width` columns, broken at spaces; a word
/// longer than a line is broken where the line ends.
pub fn wrap(shown: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in shown.split(' ').filter(|w| !w.is_empty()) {
        let w = word.width();
        if used > 0 && used + 1 + w <= width {
            line.push(' ');
            line.push_str(word);
            used += 1 + w;
            continue;
        }
        if used > 0 {
            lines.push(std::mem::take(&mut line));
            used = 0;
        }
        for c in word.chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw > width {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            line.push(c);
            used += cw;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A duration as the text output writes it, in at most 6 columns (`355ms`, not `355.0ms`).
pub fn short(ns: u64) -> String {
    const HOUR: u64 = 3_600_000_000_000;
    match ns {
        100_000_000..1_000_000_000 => format!("{}ms", ns / 1_000_000),
        // From 100 hours on, whole days (6 columns up to 273 years).
        _ if ns >= 100 * HOUR => format!("{}d", ns / (24 * HOUR)),
        _ => format_ns(ns),
    }
}

/// An age or a percentile in at most 6 columns; `-` for none.
pub fn age(ns: u64) -> String {
    if ns == 0 { "-".into() } else { short(ns) }
}

/// A rate: one decimal below 100.
pub fn rate(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_counts_columns_of_the_escaped_text() {
        assert_eq!(fit("python3", 15), "python3");
        assert_eq!(fit("\u{1b}[2Jevil", 8), "\\x1b[2J…");
        // Wide characters take two columns each: 進程進程 is 8 columns.
        assert_eq!(fit("進程進程", 8), "進程進程");
        assert_eq!(fit("進程進程", 6), "進程…");
        assert_eq!(fit("進程進程", 5), "進程…");
        assert_eq!(fit("anything", 1), "…");
        assert_eq!(fit("anything", 0), "");
        for w in 0..12 {
            assert!(fit("進\u{202e}程 \n", w).width() <= w);
        }
    }

    #[test]
    fn wrap_breaks_at_spaces_within_the_width() {
        assert_eq!(
            wrap("it starts children and never waits", 12),
            ["it starts", "children and", "never waits"]
        );
        assert_eq!(
            wrap("a \\x1b[2J\\x1b[2J b", 6),
            ["a", "\\x1b[2", "J\\x1b[", "2J b"]
        );
        assert_eq!(wrap("進程 進程進程", 4), ["進程", "進程", "進程"]);
        assert_eq!(wrap("", 10), [""]);
        for w in 1..20 {
            for line in wrap(
                "user root · 1 thread · up 1.02s · cmd: /tmp/x spawn never --children 3",
                w,
            ) {
                assert!(line.width() <= w, "{w}: {line}");
            }
        }
    }

    #[test]
    fn durations_and_rates_are_short() {
        assert_eq!(age(0), "-");
        assert_eq!(age(1_500_000_000), "1.50s");
        assert_eq!(age(355_049_000), "355ms");
        assert_eq!(age(150 * 3_600_000_000_000), "6d");
        assert_eq!(age(99 * 3_600_000_000_000), "99h00m");
        // Up to 2^62 ns: 146 years.
        for ns in (0..63).map(|b| 1u64 << b).chain([999_999_999]) {
            assert!(age(ns).len() <= 6, "{ns}: {}", age(ns));
        }
        assert_eq!(
            (rate(34.25), rate(124.4)),
            ("34.2".to_string(), "124".to_string())
        );
    }
}
