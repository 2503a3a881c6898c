//! The live system as the tracing pipeline sees it: procfs, now.

use super::diagnosis;
use crate::{
    pipeline::{Host, event::ReaperRole},
    sys::proc::{self, ProcError},
};

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
        proc::alive(pid)
    }

    fn diagnose(&self, pid: u32) -> Result<diagnosis::Diagnosis, ProcError> {
        diagnosis::diagnose(pid)
    }
}
