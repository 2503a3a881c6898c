//! Why a parent is not reaping, from procfs: the facts about a process and a verdict a person
//! can act on. Used by the tracer when a parent starts leaking, and by `zombietrace ps`.
//!
//! - `diagnosis.rs`: the facts about one process (`diagnose`, `facts`)
//! - `sigchld.rs`: SIGCHLD's disposition and mask from SigIgn/SigCgt/SigBlk
//! - `verdict.rs`: the one line a person can act on
//! - `schedclock.rs`: how long a zombie has been one, from the scheduler clock
//! - `scan.rs`: every process and zombie in /proc, in one pass
//! - `users.rs`: uid → user name
//! - `host.rs`: procfs as the tracing pipeline asks it (`pipeline::Host`)

mod diagnosis;
mod host;
pub mod scan;
pub mod schedclock;
mod sigchld;
mod users;
mod verdict;

pub use diagnosis::{Diagnosis, Facts, diagnose, facts, may_ptrace_read};
pub use host::ProcHost;
pub use sigchld::Sigchld;
pub use users::Users;
pub use verdict::{exec_hint, label, verdict};
