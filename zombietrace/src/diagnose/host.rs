//! The live system as the tracing pipeline sees it: procfs, now. A diagnosis gets a bounded
//! time on a thread of its own, so a stuck /proc never stalls the event loop.

use std::{
    cell::RefCell,
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::Duration,
};

use super::diagnosis;
use crate::{
    pipeline::{Host, event::ReaperRole},
    sys::{
        bounded,
        cgroup::{Cgroup, Resolver},
        proc::{self, ProcError},
    },
};

/// How long a leaking parent's diagnosis may take before it is reported as unknown: 250 ms, or
/// `ZOMBIETRACE_DIAGNOSIS_LIMIT_MS` (the kernel matrix's emulated CPUs read /proc that slowly).
fn diagnosis_limit() -> Duration {
    static LIMIT: OnceLock<Duration> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let ms = std::env::var("ZOMBIETRACE_DIAGNOSIS_LIMIT_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(250);
        Duration::from_millis(ms.clamp(1, 60_000))
    })
}

pub struct ProcHost {
    cgroups: RefCell<Resolver>,
}

impl ProcHost {
    /// procfs, and the cgroup v2 hierarchy mounted at `cgroup_root` (None: there is none).
    pub fn new(cgroup_root: Option<PathBuf>) -> Self {
        ProcHost {
            cgroups: RefCell::new(Resolver::new(cgroup_root)),
        }
    }
}

impl Host for ProcHost {
    fn role(&self, pid: u32) -> ReaperRole {
        if pid == 1 {
            return ReaperRole::Init;
        }
        let nspid_last = proc::status(pid, None)
            .ok()
            .and_then(|s| s.nspid.last().copied());
        if nspid_last == Some(1) {
            ReaperRole::NamespaceInit
        } else {
            ReaperRole::Subreaper
        }
    }

    fn alive(&self, pid: u32) -> bool {
        proc::exists(pid)
    }

    fn diagnose(&self, pid: u32) -> Result<diagnosis::Diagnosis, ProcError> {
        let limit = diagnosis_limit();
        bounded::within(limit, move || diagnosis::diagnose(pid))
            .unwrap_or(Err(ProcError::Slow(pid, limit)))
    }

    fn cgroup(&self, id: u64) -> Arc<Cgroup> {
        self.cgroups.borrow_mut().resolve(id)
    }
}
