//! Facts about processes, each computed in one place and used by the tracer, the diagnosis and
//! the spawner alike: what a wait status says, what a signal is called, what procfs says.

pub mod bounded;
pub mod cgroup;
pub mod proc;
pub mod signal;
pub mod text;
pub mod wait_status;
pub mod workload;
