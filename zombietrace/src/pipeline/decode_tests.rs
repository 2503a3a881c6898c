use zombietrace_common::{ReparentEvent, WaitEvent, ZombieEvent, call, kind, zflag};

use super::*;
use crate::pipeline::kernel_event::{Autoreap, Call, KernelEvent};

fn bytes_of<T>(value: &T) -> Vec<u8> {
    // SAFETY: test-only view of a padding-free #[repr(C)] record.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

fn comm16(s: &[u8]) -> [u8; 16] {
    let mut out = [0; 16];
    out[..s.len()].copy_from_slice(s);
    out
}

fn zombie_record() -> ZombieEvent {
    ZombieEvent {
        ts_ns: 5_000,
        kind: kind::ZOMBIE,
        tgid: 4242,
        start_ns: 100,
        parent_start_ns: 50,
        cgroup_id: 77,
        parent_cgroup_id: 0,
        ppid: 4000,
        orig_ppid: 3999,
        status: 11 | 0x80,
        flags: zflag::AUTOREAP_NOCLDWAIT,
        nspid: [4242, 7, 0, 0],
        tracer: 0,
        _reserved: 0,
        comm: comm16(b"worker"),
        parent_comm: comm16(b"python3"),
    }
}

#[test]
fn zombie_round_trip() {
    let event = decode(&bytes_of(&zombie_record())).unwrap();
    let KernelEvent::Zombie(z) = event else {
        panic!("not a zombie: {event:?}")
    };
    assert_eq!((z.ts_ns, z.tgid, z.ppid), (5_000, 4242, 4000));
    assert_eq!(z.orig_ppid, Some(3999));
    assert_eq!(z.status, WaitStatus(11 | 0x80));
    assert!(z.status.core_dumped());
    assert_eq!(z.autoreap, Some(Autoreap::NoCldWait));
    assert!(!z.silent);
    // Only levels 0..=its own are meaningful.
    assert_eq!(z.nspids, vec![4242, 7]);
    assert_eq!(z.comm, "worker");
    assert_eq!(z.parent_comm, "python3");
    assert_eq!((z.start_ns, z.parent_start_ns), (100, 50));
    assert_eq!((z.cgroup_id, z.parent_cgroup_id), (Some(77), None));
}

#[test]
fn unknown_orig_parent_and_full_comm() {
    let mut record = zombie_record();
    record.orig_ppid = 0;
    record.comm = *b"exactly16bytes!!";
    record.flags = zflag::SILENT | zflag::AUTOREAP_IGNORED;
    record.nspid = [4242, 0, 0, 0];
    let KernelEvent::Zombie(z) = decode(&bytes_of(&record)).unwrap() else {
        panic!()
    };
    assert_eq!(z.orig_ppid, None);
    assert_eq!(z.comm, "exactly16bytes!!");
    assert!(z.silent);
    assert_eq!(z.autoreap, Some(Autoreap::Ignored));
    assert_eq!(z.nspids, vec![4242]);
}

#[test]
fn a_name_that_is_not_utf8_keeps_its_bytes() {
    let mut record = zombie_record();
    record.comm = comm16(b"\xff\xfe\x1b[2J\n");
    let KernelEvent::Zombie(z) = decode(&bytes_of(&record)).unwrap() else {
        panic!()
    };
    assert_eq!(z.comm, "\\xff\\xfe\x1b[2J\n");
}

#[test]
fn wait_round_trip() {
    let record = WaitEvent {
        ts_ns: 9,
        kind: kind::WAIT,
        reaper_tgid: 1,
        entered_ns: 4,
        sigchld_ns: 0,
        pid: 3,
        ns_level: 0,
        call: call::WAITID_PIDFD,
        status: STATUS_UNKNOWN,
        comm: comm16(b"init"),
    };
    let KernelEvent::Wait(w) = decode(&bytes_of(&record)).unwrap() else {
        panic!()
    };
    assert_eq!(w.call, Call::WaitidPidfd);
    assert_eq!(w.status, None);
    let io_uring = WaitEvent {
        call: call::IO_URING_WAITID,
        ..record
    };
    let KernelEvent::Wait(w) = decode(&bytes_of(&io_uring)).unwrap() else {
        panic!()
    };
    assert_eq!(w.call, Call::IoUringWaitid);
    assert_eq!((w.reaper_tgid, w.pid), (1, 3));
    assert_eq!((w.entered_ns, w.sigchld_ns), (Some(4), None));
}

#[test]
fn reparent_round_trip() {
    let record = ReparentEvent {
        ts_ns: 10,
        kind: kind::REPARENT,
        old_ppid: 10,
        new_ppid: 1,
        ns_pid: 77,
        new_parent_ns_level: 0,
        flags: 0,
        new_parent_comm: comm16(b"systemd"),
    };
    let KernelEvent::Reparent(r) = decode(&bytes_of(&record)).unwrap() else {
        panic!()
    };
    assert_eq!((r.old_ppid, r.new_ppid, r.ns_pid), (10, 1, 77));
    assert_eq!(r.new_parent_comm, "systemd");
    assert_eq!(r.autoreap, None);
}

#[test]
fn rejects_bad_records() {
    assert_eq!(decode(&[0; 8]), Err(DecodeError::Short(8)));
    let mut bytes = bytes_of(&zombie_record());
    bytes.pop();
    assert!(matches!(decode(&bytes), Err(DecodeError::Size { .. })));
    let mut header = bytes_of(&zombie_record());
    header[8] = 200; // the kind
    assert_eq!(decode(&header), Err(DecodeError::UnknownKind(200)));
    let mut wait = WaitEvent {
        ts_ns: 0,
        kind: kind::WAIT,
        reaper_tgid: 0,
        entered_ns: 0,
        sigchld_ns: 0,
        pid: 0,
        ns_level: 0,
        call: 9,
        status: 0,
        comm: [0; 16],
    };
    assert_eq!(decode(&bytes_of(&wait)), Err(DecodeError::UnknownCall(9)));
    wait.call = call::WAIT4;
    assert!(decode(&bytes_of(&wait)).is_ok());
}
