//! Everything that touches the running kernel: privileges, tracefs, BTF, resolving offsets and
//! loading/attaching the programs.

pub mod btf;
pub mod counters;
pub mod least_privilege;
pub mod loader;
pub mod offsets;
pub mod privilege;
pub mod reads;
pub mod tracefs;
