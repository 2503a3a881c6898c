//! Human durations on the command line (`250ms`, `2s`, `1.5s`, `1m`) and in output.

use std::time::Duration;

/// Parses a duration such as `250ms`, `2s`, `1.5s`, `10us`, `500ns`, `1m` or `1h`.
/// A bare number is rejected: the unit is always required, so `--hold 30` is never ambiguous.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. 250ms, 2s, 1.5s, 1m"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let ns_per_unit: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use ns, us, ms, s, m or h"
            ));
        }
    };
    let ns = value * ns_per_unit;
    if !ns.is_finite() || ns < 0.0 || ns > u64::MAX as f64 {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(Duration::from_nanos(ns.round() as u64))
}

/// Formats nanoseconds for a person: `0ns`, `734us`, `12.3ms`, `2.01s`, `3m12s`.
pub fn format_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{}us", ns / 1_000),
        1_000_000..10_000_000 => format!("{:.2}ms", ns as f64 / 1e6),
        10_000_000..1_000_000_000 => format!("{:.1}ms", ns as f64 / 1e6),
        1_000_000_000..60_000_000_000 => format!("{:.2}s", ns as f64 / 1e9),
        _ => {
            let s = ns / 1_000_000_000;
            if s < 3600 {
                format!("{}m{:02}s", s / 60, s % 60)
            } else {
                format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("0ms").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("5parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_ns(999), "999ns");
        assert_eq!(format_ns(734_000), "734us");
        assert_eq!(format_ns(1_234_567), "1.23ms");
        assert_eq!(format_ns(12_345_678), "12.3ms");
        assert_eq!(format_ns(2_010_000_000), "2.01s");
        assert_eq!(format_ns(192_000_000_000), "3m12s");
    }
}
