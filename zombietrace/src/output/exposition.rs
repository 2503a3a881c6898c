//! The metrics registry as text: OpenMetrics, or Prometheus' classic format for scrapers that
//! do not ask for OpenMetrics.

use std::collections::HashSet;

use prometheus_client::registry::Registry;

/// The exposition of everything in `registry` (OpenMetrics text).
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

/// The same exposition in Prometheus' classic text format (0.0.4), for scrapers that do not
/// ask for OpenMetrics (and what `promtool check metrics` lints). prometheus-client writes
/// only OpenMetrics, where a counter's HELP and TYPE name the family (`x`) and its sample is
/// `x_total`; the classic format names the sample's name in both, and has no UNIT or EOF.
pub fn render_classic(registry: &Registry) -> String {
    let open = render(registry);
    let counters: HashSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len());
    for line in open.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}
