use super::*;
use crate::output::exposition::{render, render_classic};
use crate::pipeline::{
    event::{Reap, ReapCall, Since, Zombie},
    parents::Parents,
    summary::RunCounts,
    tracker::Tracker,
};

const S: u64 = 1_000_000_000;

fn zombie(pid: u32, ppid: u32, parent_comm: &str) -> Zombie {
    Zombie {
        pid,
        nspid: None,
        ppid,
        parent_start_ns: Some(ppid as u64),
        comm: "child".into(),
        parent_comm: parent_comm.into(),
        status: Default::default(),
        start_ns: Some(pid as u64),
        ts_ns: S,
        since: Since::Notified,
        cgroup: None,
        parent_cgroup: None,
    }
}

fn reap(z: Zombie, zombie_ns: u64) -> Event {
    Event::Reap(Reap {
        ts_ns: z.ts_ns + zombie_ns,
        zombie: z,
        zombie_ns,
        reaper_pid: 1,
        reaper_comm: "x".into(),
        kind: ReapKind::Wait4,
        call: Some(ReapCall::Wait4),
        reaper_role: None,
        approx: false,
        phases: Default::default(),
    })
}

/// Feeds `events` to the statistics and the metrics, then ticks at `now`.
fn run(m: &mut Metrics, parents: &mut Parents, events: &[Event], now: u64, counters: Counters) {
    for e in events {
        parents.observe(e);
        m.event(e);
    }
    let tracker = Tracker::new(Default::default(), 0);
    m.tick(&View {
        now_ns: now,
        tracker: &tracker,
        parents,
        counters,
        counts: RunCounts::default(),
    });
}

fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .map(|l| &l[series.len() + 1..])
}

#[test]
fn counts_events_and_times_reaps() {
    let (mut m, registry) = Metrics::new(20, "6.18.0-test");
    let mut parents = Parents::new(S);
    let z = zombie(10, 5, "python3");
    let events = [
        Event::Zombie(z.clone()),
        Event::Zombie(zombie(11, 5, "python3")),
        reap(z, 2_000_000),
    ];
    let counters = Counters {
        lost: 3,
        ..Counters::default()
    };
    run(&mut m, &mut parents, &events, 2 * S, counters);
    let text = render(&registry);
    assert_eq!(
        sample(&text, "zombietrace_zombies_total"),
        Some("2"),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"zombietrace_reaps_total{how="wait4"}"#),
        Some("1")
    );
    assert_eq!(
        sample(&text, r#"zombietrace_reaps_total{how="kernel"}"#),
        Some("0"),
        "every kind is a series from the start"
    );
    assert_eq!(
        sample(
            &text,
            r#"zombietrace_zombie_duration_seconds_count{how="wait4"}"#
        ),
        Some("1")
    );
    assert_eq!(
        sample(
            &text,
            r#"zombietrace_zombie_duration_seconds_bucket{le="0.0025",how="wait4"}"#
        ),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"zombietrace_zombie_duration_seconds_bucket{le="0.001",how="wait4"}"#
        ),
        Some("0"),
    );
    assert_eq!(sample(&text, "zombietrace_events_lost_total"), Some("3"));
    assert_eq!(
        sample(
            &text,
            r#"zombietrace_parent_zombies_outstanding{parent_comm="python3",workload=""}"#
        ),
        Some("1")
    );
    assert!(
        text.contains(r#"zombietrace_build_info{version=""#),
        "{text}"
    );
    assert!(text.contains(r#"kernel="6.18.0-test"}"#), "{text}");
    assert!(text.ends_with("# EOF\n"));
    assert!(!text.contains("pid="), "no pid labels: {text}");
    // The kernel's counts only grow: the next tick adds the difference.
    let counters = Counters {
        lost: 5,
        ..Counters::default()
    };
    run(&mut m, &mut parents, &[], 3 * S, counters);
    assert_eq!(
        sample(&render(&registry), "zombietrace_events_lost_total"),
        Some("5")
    );
}

#[test]
fn parent_series_are_the_top_n_and_other() {
    let (mut m, registry) = Metrics::new(2, "k");
    let mut parents = Parents::new(100 * S);
    let mut events = Vec::new();
    let mut pid = 1000;
    // Five parent commands holding 5, 4, 3, 2 and 1 zombies.
    for (ppid, count) in [(1u32, 5), (2, 4), (3, 3), (4, 2), (5, 1)] {
        for _ in 0..count {
            pid += 1;
            events.push(Event::Zombie(zombie(pid, ppid, &format!("cmd{ppid}"))));
        }
    }
    run(&mut m, &mut parents, &events, 2 * S, Counters::default());
    let text = render(&registry);
    let outstanding = |comm: &str| {
        sample(
            &text,
            &format!(
                r#"zombietrace_parent_zombies_outstanding{{parent_comm="{comm}",workload=""}}"#
            ),
        )
        .map(str::to_string)
    };
    assert_eq!(outstanding("cmd1").as_deref(), Some("5"), "{text}");
    assert_eq!(outstanding("cmd2").as_deref(), Some("4"));
    assert_eq!(outstanding("cmd3"), None);
    assert_eq!(outstanding("other").as_deref(), Some("6"));
    assert_eq!(
        sample(
            &text,
            r#"zombietrace_parent_oldest_zombie_age_seconds{parent_comm="cmd1",workload=""}"#
        ),
        Some("1.0")
    );
}

#[test]
fn series_go_when_their_zombies_do_and_stay_bounded() {
    let (mut m, registry) = Metrics::new(3, "k");
    let mut parents = Parents::new(100 * S);
    let z = zombie(10, 5, "gone-soon");
    run(
        &mut m,
        &mut parents,
        &[Event::Zombie(z.clone())],
        2 * S,
        Counters::default(),
    );
    assert!(render(&registry).contains("gone-soon"));
    run(
        &mut m,
        &mut parents,
        &[reap(z, S)],
        4 * S,
        Counters::default(),
    );
    assert!(!render(&registry).contains("gone-soon"));
    // Ten thousand distinct commands: still at most top + other.
    let events: Vec<Event> = (0..10_000u32)
        .map(|i| Event::Zombie(zombie(100_000 + i, 20_000 + i, &format!("c{i}"))))
        .collect();
    run(&mut m, &mut parents, &events, 6 * S, Counters::default());
    let text = render(&registry);
    let series = text
        .lines()
        .filter(|l| l.starts_with("zombietrace_parent_zombies_outstanding{"))
        .count();
    assert_eq!(series, 4, "{text}");
}

#[test]
fn the_classic_format_names_counters_by_their_samples() {
    let (mut m, registry) = Metrics::new(5, "k");
    let mut parents = Parents::new(S);
    run(
        &mut m,
        &mut parents,
        &[Event::Zombie(zombie(1, 2, "p"))],
        S,
        Counters::default(),
    );
    let text = render_classic(&registry);
    assert!(text.contains("# HELP zombietrace_zombies_total Processes that became zombies."));
    assert!(
        text.contains("# TYPE zombietrace_zombies_total counter\nzombietrace_zombies_total 1\n")
    );
    assert!(text.contains("# TYPE zombietrace_zombies_outstanding gauge"));
    assert!(text.contains("# TYPE zombietrace_zombie_duration_seconds histogram"));
    assert!(
        !text.contains("# UNIT") && !text.contains("# EOF"),
        "{text}"
    );
}

#[test]
fn commands_are_escaped_in_labels() {
    let (mut m, registry) = Metrics::new(3, "k");
    let mut parents = Parents::new(100 * S);
    let hostile = "\u{1b}]0;X\u{7}\nFAKE";
    let events = [Event::Zombie(zombie(10, 5, hostile))];
    run(&mut m, &mut parents, &events, 2 * S, Counters::default());
    for text in [render(&registry), render_classic(&registry)] {
        assert!(
            !text.bytes().any(|b| b < 0x20 && b != b'\n' || b == 0x7f),
            "a raw control byte: {text:?}"
        );
        assert!(!text.lines().any(|l| l.starts_with("FAKE")), "{text}");
        assert!(text.contains(r"\\x1b]0;X\\x07\\nFAKE"), "{text}");
    }
}
