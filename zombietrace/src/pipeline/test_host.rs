//! A `Host` for unit tests: PID 1 is init, every other reaper a subreaper, every pid alive,
//! no process readable.

use std::sync::Arc;

use super::{Host, event::ReaperRole};
use crate::{
    diagnose::Diagnosis,
    sys::{cgroup::Cgroup, proc::ProcError},
};

pub struct TestHost {
    pub role: fn(u32) -> ReaperRole,
    pub alive: bool,
}

fn init_or_subreaper(pid: u32) -> ReaperRole {
    if pid == 1 {
        ReaperRole::Init
    } else {
        ReaperRole::Subreaper
    }
}

pub const HOST: TestHost = TestHost {
    role: init_or_subreaper,
    alive: true,
};

/// No parent is alive (they are forgotten once they have nothing outstanding).
pub const NOBODY_ALIVE: TestHost = TestHost {
    role: init_or_subreaper,
    alive: false,
};

impl Host for TestHost {
    fn role(&self, pid: u32) -> ReaperRole {
        (self.role)(pid)
    }

    fn alive(&self, _: u32) -> bool {
        self.alive
    }

    fn diagnose(&self, pid: u32) -> Result<Diagnosis, ProcError> {
        Err(ProcError::Gone(pid))
    }

    /// Id 7 is a podman container's, the others are unknown.
    fn cgroup(&self, id: u64) -> Arc<Cgroup> {
        let path = (id == 7).then(|| format!("/libpod_parent/libpod-{}", "ab".repeat(32)));
        Arc::new(Cgroup {
            id,
            workload: path.as_deref().and_then(crate::sys::workload::classify),
            path,
        })
    }
}
