//! Aligned columns a person reads at a glance.

use std::io::{self, Write};

use super::{
    Format,
    escape::{cell, escape},
};
use crate::{
    clock::WallClock,
    duration::format_ns,
    pipeline::{
        event::{Event, LeakReason, Reap, ReapCall, ReapKind, Since, Zombie},
        summary::{Latency, Summary},
    },
};

pub struct Text {
    clock: WallClock,
    header_done: bool,
}

impl Text {
    pub fn new(clock: WallClock) -> Self {
        Text {
            clock,
            header_done: false,
        }
    }

    fn header(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if !self.header_done {
            self.header_done = true;
            writeln!(
                out,
                "{:<12} {:<6} {:>7} {:>7} {:<15} {:<14} {:>9}  {:<22} HOW",
                "TIME", "EVENT", "PID", "PPID", "COMM", "STATUS", "ZOMBIE", "REAPER"
            )?;
        }
        Ok(())
    }
}

/// `comm[pid]`, unescaped: the caller escapes it with the rest of its cell.
fn who(comm: &str, pid: u32) -> String {
    format!("{comm}[{pid}]")
}

fn status(zombie: &Zombie) -> String {
    if zombie.since == Since::TracingStart {
        "-".into()
    } else {
        zombie.status.to_string()
    }
}

/// What follows a zombie's line: its pid in its own namespace, and where it lives (its unit,
/// container or pod, else its cgroup path), escaped.
fn nspid_note(zombie: &Zombie) -> String {
    let mut note = zombie
        .nspid
        .map(|ns| format!(" (pid {ns} in its namespace)"))
        .unwrap_or_default();
    if let Some(place) = zombie.cgroup.as_ref().and_then(|c| c.short()) {
        note.push_str(&format!(" [{}]", escape(&place)));
    }
    note
}

pub fn how(reap: &Reap) -> String {
    let mut how = match (reap.kind, reap.call) {
        (ReapKind::Waitid, Some(ReapCall::WaitidPidfd)) => "waitid (pidfd)".to_string(),
        (ReapKind::IoUring, _) => "io_uring waitid".to_string(),
        (ReapKind::Autoreap, _) => "autoreap (parent ignores SIGCHLD)".to_string(),
        (ReapKind::Reparented, call) => {
            let role = reap.reaper_role.map(|r| r.name()).unwrap_or("new parent");
            match call {
                Some(call) => format!("reparented: {role}, {}", call.name()),
                None => format!("reparented: {role}"),
            }
        }
        (ReapKind::Kernel, _) => "kernel (no wait call seen)".to_string(),
        (kind, _) => kind.name().to_string(),
    };
    if reap.approx {
        how.push_str(", time approx");
    }
    how
}

impl Format for Text {
    fn event(&mut self, out: &mut dyn Write, event: &Event) -> io::Result<()> {
        if let Event::ParentGone(_) | Event::Adopted(_) = event {
            // Facts for recordings (JSON): the reap line says who adopted a zombie.
            return Ok(());
        }
        self.header(out)?;
        match event {
            Event::Zombie(z) => {
                let zombie_col = match z.since {
                    Since::TracingStart => "existing",
                    Since::ExitStart => "~",
                    Since::Notified => "",
                };
                let line = format!(
                    "{:<12} {:<6} {:>7} {:>7} {} {:<14} {:>9}  {:<22} {}",
                    self.clock.time_of_day(z.ts_ns),
                    "zombie",
                    z.pid,
                    z.ppid,
                    cell(&z.comm, 15),
                    status(z),
                    zombie_col,
                    "",
                    nspid_note(z).trim_start(),
                );
                writeln!(out, "{}", line.trim_end())
            }
            Event::Reap(r) => {
                let mut dur = format_ns(r.zombie_ns);
                if r.zombie.since == Since::TracingStart {
                    dur = format!(">{dur}");
                } else if r.approx {
                    dur = format!("~{dur}");
                }
                writeln!(
                    out,
                    "{:<12} {:<6} {:>7} {:>7} {} {:<14} {:>9}  {} {}{}",
                    self.clock.time_of_day(r.ts_ns),
                    "reap",
                    r.zombie.pid,
                    r.zombie.ppid,
                    cell(&r.zombie.comm, 15),
                    status(&r.zombie),
                    dur,
                    cell(&who(&r.reaper_comm, r.reaper_pid), 22),
                    how(r),
                    nspid_note(&r.zombie),
                )
            }
            Event::Leak(l) => {
                let oldest: Vec<String> = l.oldest.iter().map(|o| o.pid.to_string()).collect();
                writeln!(
                    out,
                    "{:<12} {:<6} {:>7} {:>7} {} {} zombies, oldest {}, {:.1}/min ({}; oldest: {})",
                    self.clock.time_of_day(l.ts_ns),
                    "leak",
                    l.pid,
                    "-",
                    cell(&l.comm, 15),
                    l.outstanding,
                    format_ns(l.oldest_age_ns),
                    l.rate_per_min,
                    match l.reason {
                        LeakReason::Old => "holds an old zombie",
                        LeakReason::Growing => "backlog growing",
                    },
                    oldest.join(" "),
                )?;
                if let Some(place) = l.cgroup.as_ref().and_then(|c| c.short()) {
                    writeln!(out, "{:<12} {:<6} in: {}", "", "", escape(&place))?;
                }
                if let Some(verdict) = &l.verdict {
                    writeln!(out, "{:<12} {:<6} why: {}", "", "", escape(verdict))?;
                }
                Ok(())
            }
            Event::LeakEnd(e) => writeln!(
                out,
                "{:<12} {:<6} {:>7} {:>7} {} {} after {}, {} zombies left",
                self.clock.time_of_day(e.ts_ns),
                "ok",
                e.pid,
                "-",
                cell(&e.comm, 15),
                if e.exited { "exited" } else { "caught up" },
                format_ns(e.leaked_for_ns),
                e.outstanding,
            ),
            Event::Lost(l) => writeln!(
                out,
                "{:<12} {:<6} {} events lost (ring buffer full; {} in all)",
                self.clock.time_of_day(l.ts_ns),
                "lost",
                l.count,
                l.total,
            ),
            Event::ParentGone(_) | Event::Adopted(_) => Ok(()),
        }
    }

    fn dropped(&mut self, out: &mut dyn Write, count: u64, total: u64) -> io::Result<()> {
        self.header(out)?;
        writeln!(
            out,
            "{:<12} {:<6} {count} lines dropped: stdout is not keeping up ({total} in all; \
             the summary still counts their events)",
            self.clock.time_of_day(crate::clock::monotonic_ns()),
            "drop",
        )
    }

    fn summary(&mut self, out: &mut dyn Write, s: &Summary) -> io::Result<()> {
        writeln!(out)?;
        writeln!(
            out,
            "Summary: {} events in {}; {} zombies, {} reaped",
            s.counts.events,
            format_ns(s.duration_ns),
            s.zombies,
            s.reaped
        )?;
        let kinds: Vec<String> = ReapKind::ALL
            .iter()
            .filter(|k| s.reaps_of(**k) > 0)
            .map(|k| format!("{} {}", k.name(), s.reaps_of(*k)))
            .collect();
        if !kinds.is_empty() {
            writeln!(out, "  reaped by: {}", kinds.join(", "))?;
        }
        writeln!(
            out,
            "  lost events: {}{}",
            s.counters.lost,
            if s.counters.lost > 0 {
                " (ring buffer full: per-event lines are missing)"
            } else {
                ""
            }
        )?;
        if s.counters.parent_map_full + s.counters.wait_map_full + s.counters.read_failed > 0 {
            writeln!(
                out,
                "  kernel map full: parents {}, wait calls {}; failed reads {}",
                s.counters.parent_map_full, s.counters.wait_map_full, s.counters.read_failed
            )?;
        }
        if s.counts.lines_dropped > 0 {
            writeln!(
                out,
                "  output lines dropped: {} (stdout did not keep up; the counts here include them)",
                s.counts.lines_dropped
            )?;
        }
        if s.vanished > 0 {
            writeln!(out, "  zombies whose release was not seen: {}", s.vanished)?;
        }
        parents(out, s)?;
        histogram(out, &s.latency, s)?;
        if s.outstanding.is_empty() {
            writeln!(out, "  no zombies outstanding")?;
        } else {
            writeln!(out, "  still zombies ({}):", s.outstanding.len())?;
            for z in s.outstanding.iter().take(20) {
                writeln!(
                    out,
                    "    {:>7} {} for {}{}  parent {}",
                    z.pid,
                    cell(&z.comm, 15),
                    if z.at_least { "at least " } else { "" },
                    format_ns(z.age_ns),
                    escape(&who(&z.parent_comm, z.ppid))
                )?;
            }
            if s.outstanding.len() > 20 {
                writeln!(out, "    … and {} more", s.outstanding.len() - 20)?;
            }
        }
        Ok(())
    }
}

fn parents(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    if s.parents.is_empty() {
        return Ok(());
    }
    writeln!(out, "  parents, worst first:")?;
    writeln!(
        out,
        "    {:>7} {:<15} {:>5} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8}  REAPED BY",
        "PID", "COMM", "ZOMB", "OLDEST", "REAPED", "p50", "p90", "p99", "max"
    )?;
    for p in &s.parents {
        let kinds: Vec<String> = p
            .reaps
            .iter()
            .map(|(k, n)| format!("{} {n}", k.name()))
            .collect();
        let mut flags = String::new();
        if p.leaking {
            flags.push_str(" LEAKING");
        }
        if p.exited {
            flags.push_str(" (exited)");
        }
        let lat = |v: u64| {
            if p.latency.count == 0 {
                "-".to_string()
            } else {
                format_ns(v)
            }
        };
        writeln!(
            out,
            "    {:>7} {} {:>5} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8}  {}{flags}",
            p.pid,
            cell(&p.comm, 15),
            p.outstanding,
            if p.outstanding > 0 {
                format_ns(p.oldest_age_ns)
            } else {
                "-".into()
            },
            p.reaped,
            lat(p.latency.p50),
            lat(p.latency.p90),
            lat(p.latency.p99),
            lat(p.latency.max),
            kinds.join(", "),
        )?;
        if let Some(place) = p.cgroup.as_ref().and_then(|c| c.short()) {
            writeln!(out, "            in: {}", escape(&place))?;
        }
        if let Some(verdict) = &p.verdict {
            writeln!(out, "            why: {}", escape(verdict))?;
        }
        if let Some(line) = phases(&p.ask, &p.wake) {
            writeln!(out, "            {line}")?;
        }
    }
    Ok(())
}

/// The phases of wait-based reaps, when any was timed: asking (calling wait late) and waking
/// (running late once asked).
fn phases(ask: &Latency, wake: &Latency) -> Option<String> {
    (ask.count > 0).then(|| {
        format!(
            "phases ({} wait reaps): ask p50 {}, p99 {}; wake p50 {}, p99 {}",
            ask.count,
            format_ns(ask.p50),
            format_ns(ask.p99),
            format_ns(wake.p50),
            format_ns(wake.p99)
        )
    })
}

/// bcc-style log2 histogram of zombie times (`s`: the summary, for its phases).
fn histogram(out: &mut dyn Write, latency: &Latency, s: &Summary) -> io::Result<()> {
    if latency.count == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "  zombie time: p50 {}, p90 {}, p99 {}, max {} ({} reaps)",
        format_ns(latency.p50),
        format_ns(latency.p90),
        format_ns(latency.p99),
        format_ns(latency.max),
        latency.count
    )?;
    if let Some(line) = phases(&s.ask, &s.wake) {
        writeln!(out, "  {line}")?;
    }
    let top = latency
        .log2
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(1)
        .max(1);
    writeln!(
        out,
        "    {:>21} : {:<8} distribution",
        "zombie time", "count"
    )?;
    for b in &latency.log2 {
        let (low, high, n) = (b.low, b.high, b.count);
        let stars = (n * 40).div_ceil(top) as usize;
        writeln!(
            out,
            "    {:>9} -> {:<8} : {:<8} |{:<40}|",
            format_ns(low),
            format_ns(high),
            n,
            "*".repeat(stars.min(40))
        )?;
    }
    Ok(())
}
