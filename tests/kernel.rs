//! What the loader reads off the running kernel, read for real (as root: tracefs may need
//! mounting, and its formats are root-only on some kernels). The kernel matrix runs these on
//! every kernel it boots.

use zombietrace::kernel::{btf::Btf, offsets, tracefs};

#[test]
fn tracefs_is_mounted_and_read() {
    // Mounts tracefs if needed, rather than skipping.
    let root = tracefs::ensure_mounted().expect("tracefs");
    let root = root.as_path();
    let fmt = tracefs::read_format(root, "sched", "sched_process_exit").unwrap();
    assert_eq!(fmt.name, "sched_process_exit");
    assert!(fmt.id > 0);
    assert_eq!(fmt.field("common_type").unwrap().offset, 0);
    assert_eq!(fmt.field("pid").unwrap().size, 4);
    let err = tracefs::read_format(root, "sched", "sched_nope")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sched/sched_nope") && err.contains("no such tracepoint"),
        "{err}"
    );
    let fmt = tracefs::read_format(root, "syscalls", "sys_exit_wait4").unwrap();
    assert_eq!(fmt.field("ret").unwrap().size, 8);
    assert_eq!(tracefs::ensure_mounted().unwrap(), root);
}

#[test]
fn offsets_resolve_on_this_kernel() {
    let btf = Btf::from_sys().expect("this kernel has BTF");
    let root = tracefs::ensure_mounted().expect("tracefs");
    let off = offsets::resolve(&btf, &root).unwrap();
    assert_eq!(off.task_tgid, off.task_pid + 4);
    assert_eq!(off.upid_size, 16);
    assert!(off.k_sigaction_flags > off.k_sigaction_handler);
    assert!(off.tp_exit_ret >= 8);
}
