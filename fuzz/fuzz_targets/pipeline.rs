//! A stream of kernel records, procfs adoptions and ticks through the whole pipeline (decode →
//! tracker → parents → text or JSON Lines and the summary), as a run would see them, with a
//! few pids so that exits, reparents, waits and frees meet, a few cgroups (one a container's)
//! and wait and SIGCHLD stamps before or after their reap. Properties: never a panic (no
//! overflow on timestamps out of order, no pairing gone wrong); the text output holds no
//! control character but its newlines; every JSON line is valid JSON, recordings included.
#![no_main]

use std::{
    cell::RefCell,
    mem::size_of,
    rc::Rc,
    sync::{Arc, OnceLock},
};

use clap::Parser as _;
use libfuzzer_sys::fuzz_target;
use zombietrace::{
    cli::Cli,
    clock::WallClock,
    config::{Config, Mode},
    diagnose::Diagnosis,
    kernel::loader::Counters,
    output::{Format, json::Json, lines::Select, text::Text},
    pipeline::{
        Consumer, Host, Pipeline,
        event::{Event, ReaperRole},
        filter::Filter,
        summary::Summary,
        tracker::Existing,
    },
    sys::{cgroup::Cgroup, proc::ProcError, text::lossless, workload},
};
use zombietrace_common::{FreeEvent, ReparentEvent, ThreadExitEvent, WaitEvent, ZombieEvent, kind};

/// The fuzzer's bytes, read as the fields of records (zeros once they run out).
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.bytes())
    }
    /// One of a few pids (0 and 1 included), so that records about the same process meet.
    fn pid(&mut self) -> u32 {
        u32::from(self.u8() % 8)
    }
    /// One of a few cgroup ids (0: none seen; 7: a container's, see `FakeHost`).
    fn cgroup(&mut self) -> u64 {
        u64::from(self.u8() % 8)
    }
    /// A moment stamped in a map before `ts_ns` (or, hostile, after it); 0: none.
    fn stamp(&mut self, ts_ns: u64) -> u64 {
        match self.u8() {
            0 => 0,
            ms @ 1..=127 => ts_ns.saturating_sub(u64::from(ms) * 1_000_000),
            ms => ts_ns + u64::from(ms - 127) * 1_000_000,
        }
    }
}

fn bytes_of<T>(record: &T) -> Vec<u8> {
    // SAFETY: the records are padding-free #[repr(C)] structs of integers and byte arrays.
    unsafe { std::slice::from_raw_parts((record as *const T).cast::<u8>(), size_of::<T>()) }
        .to_vec()
}

/// A record of `kind` at `ts_ns` (a clock that only moves forward, as the kernel's does).
fn record(kind: u32, ts_ns: u64, i: &mut Input) -> Vec<u8> {
    match kind {
        kind::ZOMBIE => {
            let tgid = i.pid();
            bytes_of(&ZombieEvent {
                ts_ns,
                kind,
                tgid,
                start_ns: u64::from(i.u8()),
                parent_start_ns: u64::from(i.u8()),
                ppid: i.pid(),
                orig_ppid: i.pid(),
                status: i.u32(),
                flags: u32::from(i.u8()),
                nspid: [tgid, i.pid(), i.pid(), i.pid()],
                comm: i.bytes(),
                parent_comm: i.bytes(),
                cgroup_id: i.cgroup(),
                parent_cgroup_id: i.cgroup(),
                tracer: i.pid(),
                _reserved: 0,
            })
        }
        kind::REPARENT => bytes_of(&ReparentEvent {
            ts_ns,
            kind,
            old_ppid: i.pid(),
            new_ppid: i.pid(),
            ns_pid: i.pid(),
            new_parent_ns_level: u32::from(i.u8() % 5),
            flags: u32::from(i.u8()),
            new_parent_comm: i.bytes(),
        }),
        kind::WAIT => bytes_of(&WaitEvent {
            ts_ns,
            kind,
            reaper_tgid: i.pid(),
            pid: i.pid(),
            ns_level: u32::from(i.u8() % 5),
            call: u32::from(i.u8() % 5),
            status: i.u32(),
            comm: i.bytes(),
            entered_ns: i.stamp(ts_ns),
            sigchld_ns: i.stamp(ts_ns),
        }),
        kind::FREE => bytes_of(&FreeEvent {
            ts_ns,
            kind,
            tgid: i.pid(),
            start_ns: u64::from(i.u8()),
        }),
        _ => bytes_of(&ThreadExitEvent {
            ts_ns,
            kind,
            tgid: i.pid(),
            tid: i.pid(),
            status: i.u32(),
            comm: i.bytes(),
        }),
    }
}

/// PID 1 is init, 2 a container's init, the rest subreapers; even pids are alive; no process
/// can be read; cgroup 7 is a podman container's, the others are unknown.
struct FakeHost;

impl Host for FakeHost {
    fn role(&self, pid: u32) -> ReaperRole {
        match pid {
            1 => ReaperRole::Init,
            2 => ReaperRole::NamespaceInit,
            _ => ReaperRole::Subreaper,
        }
    }
    fn alive(&self, pid: u32) -> bool {
        pid.is_multiple_of(2)
    }
    fn diagnose(&self, pid: u32) -> Result<Diagnosis, ProcError> {
        Err(ProcError::Gone(pid))
    }
    fn cgroup(&self, id: u64) -> Arc<Cgroup> {
        let path = (id == 7).then(|| format!("/libpod_parent/libpod-{}", "ab".repeat(32)));
        Arc::new(Cgroup {
            id,
            workload: path.as_deref().and_then(workload::classify),
            path,
        })
    }
}

/// The lines a run would print, formatted as `output::lines` does but without its writer
/// thread (a thread per input would slow the fuzzer down a hundredfold).
struct Lines {
    format: Box<dyn Format>,
    filter: Filter,
    select: Select,
    out: Rc<RefCell<Vec<u8>>>,
}

impl Consumer for Lines {
    fn event(&mut self, event: &Event) {
        if self.select.wants(&self.filter, event) {
            self.format
                .event(&mut *self.out.borrow_mut(), event)
                .unwrap();
        }
    }
    fn finish(&mut self, summary: &Summary) -> std::io::Result<()> {
        self.format.summary(&mut *self.out.borrow_mut(), summary)
    }
}

/// The configuration the first byte's low 7 bits pick (output, report, filters), parsed once
/// per choice.
fn config(options: u8) -> Config {
    static CONFIGS: OnceLock<Vec<Config>> = OnceLock::new();
    CONFIGS.get_or_init(|| (0..128).map(parse_config).collect())[usize::from(options & 127)].clone()
}

fn parse_config(options: u8) -> Config {
    let mut args = vec!["zombietrace"];
    let flags: [&[&str]; 7] = [
        &["--json"],
        &["report", "--for", "1s"],
        &["--threads"],
        &["--ppid", "3"],
        &["--min-zombie", "1ms"],
        &["--comm", "a"],
        &["--leak-after", "10ms"],
    ];
    // `report` is a subcommand: it comes first.
    if options & 2 != 0 {
        args.extend(flags[1]);
    }
    for (bit, flag) in flags.iter().enumerate() {
        if bit != 1 && options & (1 << bit) != 0 {
            args.extend(*flag);
        }
    }
    let cli = Cli::try_parse_from(args).expect("a valid command line");
    match cli.command {
        Some(zombietrace::cli::Command::Report(r)) => {
            Config::report(r.trace, r.for_.expect("--for given"))
        }
        _ => Config::live(cli.trace, None),
    }
    .expect("a valid configuration")
}

fuzz_target!(|data: &[u8]| {
    let mut i = Input(data);
    let options = i.u8();
    let config = config(options);
    // The top bit: every event as `--record` writes them, else what the mode shows.
    let select = match (options & 128 != 0, &config.mode) {
        (true, _) => Select::Every,
        (false, Mode::Report) => Select::Summary,
        (false, _) => Select::All,
    };
    let out = Rc::new(RefCell::new(Vec::new()));
    let format: Box<dyn Format> = if config.json {
        Box::new(Json)
    } else {
        Box::new(Text::new(WallClock::with_offset(0, true)))
    };
    let consumers: Vec<Box<dyn Consumer>> = vec![Box::new(Lines {
        format,
        filter: config.filter.clone(),
        select,
        out: out.clone(),
    })];
    let mut now: u64 = 1_000_000_000;
    let mut pipeline = Pipeline::new(
        config.pipeline_settings(),
        Box::new(FakeHost),
        consumers,
        now,
    );
    let mut counters = Counters::default();
    while !i.0.is_empty() {
        let op = i.u8();
        now += u64::from(op >> 3) * 1_000_000;
        match op & 7 {
            k @ 0..=4 => pipeline.record(&record(k as u32 + 1, now, &mut i)),
            5 => {
                counters.lost += u64::from(i.u8() % 2);
                pipeline.tick(now, counters);
            }
            6 => {
                let pid = i.pid();
                pipeline.adopt(Existing {
                    pid,
                    nspids: vec![pid],
                    ppid: i.pid(),
                    comm: lossless(&i.bytes::<4>()),
                    parent_comm: lossless(&i.bytes::<4>()),
                    cgroup: (i.u8() & 1 != 0).then(|| format!("/docker/{}", "cd".repeat(32))),
                });
            }
            _ => {
                // A record of any length and content, time included.
                let len = usize::from(i.u8()).min(i.0.len());
                let (raw, rest) = i.0.split_at(len);
                i.0 = rest;
                pipeline.record(raw);
            }
        }
        pipeline.flush().unwrap();
    }
    pipeline.finish(now, counters).unwrap();
    let out = out.borrow();
    let text = std::str::from_utf8(&out).expect("the output is UTF-8");
    if config.json {
        for line in text.lines() {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(line) {
                panic!("not JSON ({e}): {line}");
            }
        }
    } else if let Some(c) = text.chars().find(|&c| c != '\n' && c.is_control()) {
        panic!("a raw {c:?} in the text output:\n{text}");
    }
});
