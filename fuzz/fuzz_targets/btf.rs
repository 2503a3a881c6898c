//! The BTF parser on corrupt `/sys/kernel/btf/vmlinux`-like blobs: an error, never a panic, a
//! hang or a huge allocation; on a blob that parses, every lookup the loader makes (and lookups
//! of names the blob itself holds) answers without panicking, and `offsets::resolve` (then
//! `resolve_io_uring`) runs whole against a tracefs of real format files.
#![no_main]

use std::{path::PathBuf, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use zombietrace::kernel::{btf::Btf, offsets};

/// What `offsets::resolve` and `resolve_io_uring` ask for, as (struct, member path).
const LOOKUPS: &[(&str, &str)] = &[
    ("task_struct", "pid"),
    ("task_struct", "tgid"),
    ("task_struct", "flags"),
    ("task_struct", "exit_state"),
    ("task_struct", "exit_code"),
    ("task_struct", "exit_signal"),
    ("task_struct", "comm"),
    ("task_struct", "start_time"),
    ("task_struct", "real_parent"),
    ("task_struct", "signal.flags"),
    ("signal_struct", "live"),
    ("sighand_struct", "action"),
    ("k_sigaction", "sa.sa_flags"),
    ("sigaction", "sa_handler"),
    ("pid", "numbers"),
    ("upid", "nr"),
    ("task_struct", "cgroups"),
    ("css_set", "dfl_cgrp"),
    ("cgroup", "kn"),
    ("kernfs_node", "id"),
    ("io_kiocb", "opcode"),
    ("io_kiocb", "cmd"),
    ("io_waitid", "options"),
    ("io_waitid", "info"),
    ("waitid_info", "cause"),
];

/// A tracefs with the format files `resolve` and `resolve_io_uring` read (as kernel 6.18
/// writes them).
fn tracefs() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root =
            std::env::temp_dir().join(format!("zombietrace-fuzz-tracefs-{}", std::process::id()));
        let common = "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
                      \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n";
        let ret = "\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n";
        let waitid = "\tfield:int which;\toffset:16;\tsize:8;\tsigned:0;\n\
                      \tfield:pid_t upid;\toffset:24;\tsize:8;\tsigned:0;\n\
                      \tfield:struct siginfo * infop;\toffset:32;\tsize:8;\tsigned:0;\n\
                      \tfield:int options;\toffset:40;\tsize:8;\tsigned:0;\n";
        let submit = "\tfield:void * ctx;\toffset:8;\tsize:8;\tsigned:0;\n\
                      \tfield:void * req;\toffset:16;\tsize:8;\tsigned:0;\n\
                      \tfield:u8 opcode;\toffset:32;\tsize:1;\tsigned:0;\n";
        let complete = "\tfield:void * ctx;\toffset:8;\tsize:8;\tsigned:0;\n\
                        \tfield:void * req;\toffset:16;\tsize:8;\tsigned:0;\n\
                        \tfield:int res;\toffset:32;\tsize:4;\tsigned:1;\n";
        for (category, event, id, fields) in [
            ("syscalls", "sys_exit_wait4", 1, ret),
            ("syscalls", "sys_exit_waitid", 2, ret),
            ("syscalls", "sys_enter_waitid", 3, waitid),
            ("io_uring", "io_uring_submit_req", 4, submit),
            ("io_uring", "io_uring_complete", 5, complete),
        ] {
            let dir = root.join("events").join(category).join(event);
            std::fs::create_dir_all(&dir).unwrap();
            let text =
                format!("name: {event}\nID: {id}\nformat:\n{common}{fields}\nprint fmt: \"\"\n");
            std::fs::write(dir.join("format"), text).unwrap();
        }
        root
    })
}

fuzz_target!(init: quiet_errors(), |bytes: &[u8]| check(bytes));

/// anyhow captures a backtrace with every error when RUST_BACKTRACE is set (as cargo fuzz sets
/// it): most of the time per input, for errors thrown away.
fn quiet_errors() {
    // SAFETY: before the fuzzer starts, no other thread reads the environment.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
}

fn check(bytes: &[u8]) {
    let Ok(btf) = Btf::parse(bytes.to_vec()) else {
        return;
    };
    for (strukt, path) in LOOKUPS {
        let found = btf.member(strukt, path);
        assert_eq!(found.is_ok(), btf.has_member(strukt, path));
        if found.is_ok() {
            assert!(btf.has_type(strukt));
        }
        let _ = btf.struct_size(strukt);
    }
    // Names the blob holds, each asked as a struct and as a member of the first one.
    let names: Vec<&str> = bytes
        .split(|&b| b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .filter(|s| !s.is_empty() && s.len() < 64)
        .take(16)
        .collect();
    for name in &names {
        let _ = btf.struct_size(name);
        if let Some(first) = names.first() {
            let _ = btf.member(first, name);
            let _ = btf.member(name, &format!("{first}.{name}"));
        }
    }
    if let Ok(mut found) = offsets::resolve(&btf, tracefs()) {
        let _ = offsets::resolve_io_uring(&btf, tracefs(), &mut found);
    }
}
