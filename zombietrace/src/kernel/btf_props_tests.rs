//! The BTF parser on hostile blobs (as the `btf` fuzz target feeds it): every corruption of a
//! kernel-like blob is an answer or an error, quickly, never a panic, a hang or an allocation
//! its length fields ask for; and the regression inputs fuzzing and review found.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{Btf, tests::Builder};
use crate::kernel::offsets;

/// The `btf` fuzz target's seed: a miniature of the kernel's BTF that holds every struct and
/// member `offsets::resolve` reads (fuzz/make_seeds.py writes it).
const KERNEL: &[u8] = include_bytes!("../../../fuzz/seeds/btf/kernel.btf");

/// A tracefs holding the format files `offsets::resolve` and `resolve_io_uring` read.
fn tracefs() -> &'static std::path::Path {
    static ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let root =
            std::env::temp_dir().join(format!("zombietrace-btf-props-{}", std::process::id()));
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
        for (category, event, fields) in [
            ("syscalls", "sys_exit_wait4", ret),
            ("syscalls", "sys_exit_waitid", ret),
            ("syscalls", "sys_enter_waitid", waitid),
            ("io_uring", "io_uring_submit_req", submit),
            ("io_uring", "io_uring_complete", complete),
        ] {
            let dir = root.join("events").join(category).join(event);
            std::fs::create_dir_all(&dir).unwrap();
            let text = format!("name: {event}\nID: 1\nformat:\n{fields}\nprint fmt: \"\"\n");
            std::fs::write(dir.join("format"), text).unwrap();
        }
        root
    })
}

/// Every lookup the loader makes, on whatever `bytes` parse to.
fn look_up_everything(bytes: Vec<u8>) {
    let Ok(btf) = Btf::parse(bytes) else {
        return;
    };
    for (strukt, path) in [
        ("task_struct", "pid"),
        ("task_struct", "signal.flags"),
        ("k_sigaction", "sa.sa_flags"),
        ("pid", "numbers"),
        ("upid", "nr"),
        ("task_struct", "cgroups"),
        ("css_set", "dfl_cgrp"),
        ("cgroup", "kn"),
        ("kernfs_node", "id"),
        ("io_kiocb", "opcode"),
        ("io_waitid", "info"),
        ("waitid_info", "cause"),
    ] {
        assert_eq!(
            btf.member(strukt, path).is_ok(),
            btf.has_member(strukt, path)
        );
        let _ = btf.struct_size(strukt);
    }
    if let Ok(mut found) = offsets::resolve(&btf, tracefs()) {
        let _ = offsets::resolve_io_uring(&btf, tracefs(), &mut found);
    }
}

#[test]
fn the_seed_is_a_kernel_that_resolves() {
    let btf = Btf::parse(KERNEL.to_vec()).unwrap();
    let mut offsets = offsets::resolve(&btf, tracefs()).unwrap();
    assert_eq!((offsets.task_pid, offsets.task_tgid), (16, 20));
    assert_eq!((offsets.task_comm, offsets.task_thread_pid), (72, 64));
    assert_eq!(
        (offsets.k_sigaction_size, offsets.k_sigaction_flags),
        (32, 8)
    );
    assert_eq!((offsets.pid_numbers, offsets.upid_size), (8, 16));
    assert_eq!(offsets.tp_waitid_options, 40);
    assert_eq!((offsets.task_cgroups, offsets.css_set_dfl_cgrp), (88, 8));
    assert_eq!((offsets.cgroup_kn, offsets.kernfs_node_id), (16, 16));
    assert!(offsets::resolve_io_uring(&btf, tracefs(), &mut offsets).unwrap());
    assert_eq!((offsets.io_kiocb_cmd, offsets.io_kiocb_opcode), (0, 64));
    assert_eq!((offsets.io_waitid_options, offsets.io_waitid_info), (8, 16));
    assert_eq!(offsets.tp_uring_submit_opcode, 32);
    assert_eq!(
        (offsets.tp_uring_complete_req, offsets.tp_uring_complete_res),
        (16, 32)
    );
}

proptest! {
    /// Bytes overwritten anywhere in a kernel-like blob.
    #[test]
    fn corrupt_kernels_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut bytes = KERNEL.to_vec();
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        look_up_everything(bytes);
    }

    /// Cut short or grown, with a header that promises anything.
    #[test]
    fn any_lengths_never_panic(
        len in 0..KERNEL.len() + 64,
        header in prop::collection::vec(any::<u8>(), 0..20),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = KERNEL.to_vec();
        bytes.extend(tail);
        bytes.truncate(len);
        for (at, byte) in (4..).zip(header) {
            if let Some(b) = bytes.get_mut(at) {
                *b = byte;
            }
        }
        look_up_everything(bytes);
    }

    /// Arbitrary bytes after a valid magic and version.
    #[test]
    fn arbitrary_blobs_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = vec![0x9f, 0xeb, 1, 0];
        bytes.extend(body);
        look_up_everything(bytes);
    }
}

/// A header whose type and string sections claim 4 GiB: an error, not an allocation of it.
#[test]
fn huge_length_fields_are_errors() {
    let mut bytes = KERNEL.to_vec();
    bytes[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = Btf::parse(bytes).unwrap_err().to_string();
    assert!(err.contains("type section"), "{err}");
    let mut bytes = KERNEL.to_vec();
    bytes[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = Btf::parse(bytes).unwrap_err().to_string();
    assert!(err.contains("string section"), "{err}");
}

/// Found by review while writing the `btf` fuzz target: 60 structs, each with two anonymous
/// members of the next, made a member lookup search 2^60 paths (a hang).
#[test]
fn shared_anonymous_members_are_searched_once() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let levels = 60;
    for level in 0..levels {
        let next = b.next_id + 1;
        let name = if level == 0 { "top" } else { "" };
        b.composite(false, name, 8, false, &[("", next, 0), ("", next, 0)]);
    }
    b.composite(false, "", 4, false, &[("leaf", int, 0)]);
    let btf = Btf::parse(b.build()).unwrap();
    let started = Instant::now();
    assert!(btf.member("top", "nope").is_err());
    assert_eq!(btf.member("top", "leaf").unwrap().offset, 0);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// Found by review: every name was searched for its NUL up to the end of the string section,
/// so 60,000 structs named by one 1 MiB string took minutes.
#[test]
fn overlong_names_are_errors() {
    let mut b = Builder::new();
    let name = "n".repeat(1 << 20);
    let off = b.str(&name);
    for _ in 0..60_000 {
        b.words(&[off, 4 << 24, 4]);
    }
    let started = Instant::now();
    let err = Btf::parse(b.build()).unwrap_err().to_string();
    assert!(err.contains("too long"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
