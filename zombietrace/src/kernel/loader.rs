//! Loads the kernel programs with this kernel's offsets and the user's settings, attaches them,
//! and hands back the ring buffer and counters. Dropping `Probes` detaches everything.

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData, RingBuf},
    programs::{BtfTracePoint, Program, ProgramError, RawTracePoint, TracePoint},
};
use aya_log::EbpfLogger;
use zombietrace_common::{PARENT_MAP_ENTRIES, Settings, TASK_SLOTS_MAX, counter, slot};

use super::{
    btf::Btf,
    counters, offsets, privilege,
    reads::{self, Reads, TWINS, twin},
    tracefs,
};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/zombietrace"));

const RAW_TRACEPOINTS: [&str; 6] = [
    "sched_process_fork",
    "sched_process_exit",
    "signal_generate",
    "signal_deliver",
    "sched_process_wait",
    "sched_process_free",
];
const SYSCALL_TRACEPOINTS: [&str; 3] = ["sys_exit_wait4", "sys_enter_waitid", "sys_exit_waitid"];
/// Attached only where the kernel has IORING_OP_WAITID (see `offsets::resolve_io_uring`).
const IO_URING_TRACEPOINTS: [&str; 2] = ["io_uring_submit_req", "io_uring_complete"];
/// The order programs are detached in: the last moment of a process's life first. A free seen
/// after the wait probes are gone would close the books on a reap that a wait call made as a
/// release with no wait call (`kernel`, time approximate); detached first, such a zombie stays
/// outstanding in the summary instead. Then the waits (their returns, then their starts: a
/// reap reported after the start probes were gone would carry a stale stamp as its phases),
/// then the notifications (a handler's SIGCHLD, then its sending), then exits, then forks.
const DETACH_ORDER: [&str; 11] = [
    "sched_process_free",
    "sys_exit_wait4",
    "sys_exit_waitid",
    "io_uring_complete",
    "sched_process_wait",
    "sys_enter_waitid",
    "io_uring_submit_req",
    "signal_deliver",
    "signal_generate",
    "sched_process_exit",
    "sched_process_fork",
];

/// Unloads (and so detaches) program `name`, if it is loaded.
fn unload(ebpf: &mut Ebpf, name: &str) {
    let unloaded = match ebpf.program_mut(name) {
        Some(Program::RawTracePoint(p)) => p.unload(),
        Some(Program::TracePoint(p)) => p.unload(),
        Some(Program::BtfTracePoint(p)) => p.unload(),
        _ => Ok(()),
    };
    match unloaded {
        // A twin not chosen, or the io_uring programs on a kernel without IORING_OP_WAITID.
        Ok(()) | Err(ProgramError::NotLoaded) => {}
        Err(err) => log::warn!("detaching {name}: {err}"),
    }
}

/// The programs among `names` that no attach list above names: each would load and never run.
fn unattached<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let listed = |n: &str| {
        RAW_TRACEPOINTS.contains(&n)
            || SYSCALL_TRACEPOINTS.contains(&n)
            || IO_URING_TRACEPOINTS.contains(&n)
    };
    let mut missing: Vec<&str> = names
        .into_iter()
        .filter(|n| {
            let twin_of = n.strip_suffix("_btf").filter(|base| TWINS.contains(base));
            !listed(n) && twin_of.is_none()
        })
        .collect();
    missing.sort_unstable();
    missing
}

pub struct Probes {
    /// Keeps the programs loaded and attached; `None` once detached.
    ebpf: Option<Ebpf>,
    /// The programs' own warnings (aya-log), forwarded to stderr through `log`.
    logger: Option<EbpfLogger<&'static dyn log::Log>>,
    counters: counters::CounterPage,
    pub attached: usize,
    pub reads: Reads,
}

/// Kernel-side counters, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub lost: u64,
    pub parent_map_full: u64,
    pub wait_map_full: u64,
    pub read_failed: u64,
}

/// One `TASKS` slot per pid the kernel can hand out, up to `TASK_SLOTS_MAX`.
/// `ZOMBIETRACE_TASK_SLOTS=N` (for tests) makes fewer, so that pids share slots as they do
/// where pid_max exceeds `TASK_SLOTS_MAX`.
fn task_slots() -> u32 {
    if let Some(n) = std::env::var("ZOMBIETRACE_TASK_SLOTS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        return n.clamp(1, TASK_SLOTS_MAX);
    }
    let pid_max = crate::sys::proc::pid_max().unwrap_or(TASK_SLOTS_MAX);
    pid_max.clamp(1024, TASK_SLOTS_MAX)
}

/// Entries of the first-parent hash: `PARENT_MAP_ENTRIES`, or fewer with
/// `ZOMBIETRACE_PARENT_MAP_ENTRIES=N` (for tests: a full map must be counted and shown).
fn parent_map_entries() -> u32 {
    std::env::var("ZOMBIETRACE_PARENT_MAP_ENTRIES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(PARENT_MAP_ENTRIES, |n| n.clamp(1, PARENT_MAP_ENTRIES))
}

/// Seeds the first parents of the processes that exist already, before attaching, so that
/// their reparented reaps are told too. Where a slot is shared, the hash takes the rest; a
/// full hash only loses that hint for old processes.
fn seed_parents(ebpf: &mut Ebpf, slots: u32, first_parents: &[(u32, u32)]) -> Result<()> {
    let mut taken = Vec::new();
    {
        let mut tasks: Array<_, u64> =
            Array::try_from(ebpf.map_mut("TASKS").context("TASKS map")?)?;
        let mut used = std::collections::HashSet::new();
        for &(pid, ppid) in first_parents {
            let index = slot::index(pid, slots);
            if used.insert(index) {
                tasks.set(index, slot::pack(pid, ppid & slot::PARENT_MASK), 0)?;
            } else {
                taken.push((pid, ppid));
            }
        }
    }
    let mut parents: HashMap<_, u32, u32> =
        HashMap::try_from(ebpf.map_mut("ORIG_PARENT").context("ORIG_PARENT map")?)?;
    for (pid, ppid) in taken {
        let _ = parents.insert(pid, ppid, 0);
    }
    Ok(())
}

impl Probes {
    /// Loads and attaches everything; returns the probes and the ring buffer they write to.
    pub fn load(
        settings: Settings,
        first_parents: &[(u32, u32)],
    ) -> Result<(Probes, RingBuf<MapData>)> {
        if OBJECT.is_empty() {
            bail!("this binary was built without its eBPF programs (AYA_BUILD_SKIP was set)");
        }
        privilege::check_tracing_privileges().map_err(anyhow::Error::msg)?;
        let root = tracefs::ensure_mounted()?;
        let btf = Btf::from_sys()?;
        let mut offsets =
            offsets::resolve(&btf, &root).context("this kernel lacks a field zombietrace needs")?;
        let io_uring = offsets::resolve_io_uring(&btf, &root, &mut offsets).context(
            "this kernel has io_uring's IORING_OP_WAITID but not as zombietrace knows it",
        )?;
        raise_memlock_limit();
        let cpus = aya::util::nr_cpus()
            .map_err(|(what, err)| anyhow::anyhow!("{what}: {err}"))
            .context("counting the possible CPUs")? as u32;
        let mut settings = settings;
        settings.task_slots = task_slots();
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("TASKS", settings.task_slots)
            .map_max_entries("WAIT_ENTERED", settings.task_slots)
            .map_max_entries("SIGCHLD_DELIVERED", settings.task_slots)
            .map_max_entries("COUNTERS", counters::entries(cpus))
            .map_max_entries("ORIG_PARENT", parent_map_entries())
            .override_global("OFFSETS", &offsets, true)
            .override_global("SETTINGS", &settings, true)
            .load(OBJECT)
            .context("loading the eBPF programs")?;

        seed_parents(&mut ebpf, settings.task_slots, first_parents)?;
        let missing = unattached(ebpf.programs().map(|(name, _)| name));
        if !missing.is_empty() {
            bail!(
                "kernel programs {} are in the object but in no attach list",
                missing.join(", ")
            );
        }

        let reads = match Reads::wanted()? {
            Reads::Typed => match reads::load_twins(&mut ebpf) {
                Ok(()) => Reads::Typed,
                Err(err) => {
                    for name in TWINS {
                        unload(&mut ebpf, &twin(name));
                    }
                    eprintln!(
                        "zombietrace: warning: {err:#}; reading kernel memory with probe reads \
                         instead (the same events, at more cost per process)"
                    );
                    Reads::Probe
                }
            },
            Reads::Probe => Reads::Probe,
        };
        let typed = |name: &str| reads == Reads::Typed && TWINS.contains(&name);
        let mut attached = 0;
        for name in RAW_TRACEPOINTS {
            if typed(name) {
                let program: &mut BtfTracePoint = ebpf
                    .program_mut(&twin(name))
                    .with_context(|| format!("program {name}_btf missing from the object"))?
                    .try_into()?;
                program
                    .attach()
                    .with_context(|| format!("attaching to BTF tracepoint {name}"))?;
                attached += 1;
                continue;
            }
            let program: &mut RawTracePoint = ebpf
                .program_mut(name)
                .with_context(|| format!("program {name} missing from the object"))?
                .try_into()?;
            program
                .load()
                .with_context(|| format!("the verifier refused {name}"))?;
            program
                .attach(name)
                .with_context(|| format!("attaching to raw tracepoint {name}"))?;
            attached += 1;
        }
        let io_uring: &[&str] = if io_uring { &IO_URING_TRACEPOINTS } else { &[] };
        let tracepoints = SYSCALL_TRACEPOINTS
            .iter()
            .map(|name| ("syscalls", name))
            .chain(io_uring.iter().map(|name| ("io_uring", name)));
        for (category, name) in tracepoints {
            let program_name = if typed(name) {
                twin(name)
            } else {
                name.to_string()
            };
            let program: &mut TracePoint = ebpf
                .program_mut(&program_name)
                .with_context(|| format!("program {program_name} missing from the object"))?
                .try_into()?;
            if !typed(name) {
                program
                    .load()
                    .with_context(|| format!("the verifier refused {name}"))?;
            }
            program
                .attach(category, name)
                .with_context(|| format!("attaching to tracepoint {category}/{name}"))?;
            attached += 1;
        }
        let logger = match EbpfLogger::init(&mut ebpf) {
            Ok(logger) => Some(logger),
            Err(err) => {
                log::warn!("the eBPF programs' warnings will not be shown: {err}");
                None
            }
        };
        let events = RingBuf::try_from(ebpf.take_map("EVENTS").context("EVENTS map")?)?;
        let counters =
            counters::CounterPage::map(ebpf.take_map("COUNTERS").context("COUNTERS map")?, cpus)?;
        let probes = Probes {
            ebpf: Some(ebpf),
            logger,
            counters,
            attached,
            reads,
        };
        Ok((probes, events))
    }

    /// Detaches and unloads every program, one at a time in [`DETACH_ORDER`] (dropping them all
    /// at once would detach them in no particular order). The ring buffer and counters stay
    /// readable.
    pub fn detach(&mut self) {
        self.flush_logs();
        if let Some(ebpf) = &mut self.ebpf {
            for name in DETACH_ORDER {
                unload(ebpf, name);
                if TWINS.contains(&name) {
                    unload(ebpf, &twin(name));
                }
            }
        }
        self.ebpf = None;
    }

    /// Forwards what the programs logged since the last call.
    pub fn flush_logs(&mut self) {
        if let Some(logger) = &mut self.logger {
            logger.flush();
        }
    }

    /// Read from memory: works with no capability left.
    pub fn counters(&self) -> Counters {
        let page = &self.counters;
        Counters {
            lost: page.get(counter::RINGBUF_LOST),
            parent_map_full: page.get(counter::PARENT_MAP_FULL),
            wait_map_full: page.get(counter::WAIT_MAP_FULL),
            read_failed: page.get(counter::READ_FAILED),
        }
    }
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; lift it so the ring buffer fits.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // Failure only matters on old kernels, where the load then reports the real error.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every program in the embedded object is in an attach list, and every name in the lists
    /// is a program: a program added to `zombietrace-ebpf` and forgotten here fails this test.
    #[test]
    fn every_program_is_attached() {
        assert!(
            !OBJECT.is_empty(),
            "this build carries no eBPF object (AYA_BUILD_SKIP): the check cannot run"
        );
        let object = aya_obj::Object::parse(OBJECT).expect("the embedded object parses");
        let names: Vec<&str> = object.programs.keys().map(String::as_str).collect();
        assert_eq!(unattached(names.iter().copied()), Vec::<&str>::new());
        for listed in RAW_TRACEPOINTS
            .iter()
            .chain(&SYSCALL_TRACEPOINTS)
            .chain(&IO_URING_TRACEPOINTS)
        {
            assert!(
                names.contains(listed),
                "{listed} is listed but not in the object"
            );
        }
        for base in TWINS {
            assert!(
                names.contains(&twin(base).as_str()),
                "{base} has no typed twin in the object"
            );
        }
        assert_eq!(
            unattached(["sched_process_fork", "new_probe", "sched_process_fork_btf"]),
            vec!["new_probe"]
        );
        // A `_btf` program with no base in TWINS is attached by nothing.
        assert_eq!(
            unattached(["signal_deliver_btf"]),
            vec!["signal_deliver_btf"]
        );
    }

    /// The detach order names every attached program once: one it missed would be detached
    /// whenever the rest are dropped, in no particular order.
    #[test]
    fn the_detach_order_names_every_program() {
        let mut attached: Vec<&str> = RAW_TRACEPOINTS
            .iter()
            .chain(&SYSCALL_TRACEPOINTS)
            .chain(&IO_URING_TRACEPOINTS)
            .copied()
            .collect();
        let mut ordered = DETACH_ORDER.to_vec();
        attached.sort_unstable();
        ordered.sort_unstable();
        assert_eq!(ordered, attached);
    }
}
