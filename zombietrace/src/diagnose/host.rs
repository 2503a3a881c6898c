//! The live system as the tracing pipeline sees it: procfs, now. A diagnosis gets a bounded
//! time on a thread of its own, so a stuck /proc never stalls the event loop.

use std::time::Duration;

use super::diagnosis;
use crate::{
    pipeline::{Host, event::ReaperRole},
    sys::{
        bounded,
        proc::{self, ProcError},
    },
};

/// How long a leaking parent's diagnosis may take before it is reported as unknown.
pub const DIAGNOSIS_LIMIT: Duration = Duration::from_millis(250);

pub struct ProcHost;

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
        bounded::within(DIAGNOSIS_LIMIT, move || diagnosis::diagnose(pid))
            .unwrap_or(Err(ProcError::Slow(pid, DIAGNOSIS_LIMIT)))
    }
}
