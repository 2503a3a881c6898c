use zombietrace_common::{Header, ReparentEvent, WaitEvent, ZombieEvent, call, kind, zflag};

use super::*;
use crate::model::{Autoreap, Call, ExitStatus, KernelEvent};

fn bytes_of<T>(value: &T) -> Vec<u8> {
    // SAFETY: test-only view of a padding-free #[repr(C)] record.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

fn comm16(s: &str) -> [u8; 16] {
    let mut out = [0; 16];
    out[..s.len()].copy_from_slice(s.as_bytes());
    out
}

fn zombie_record() -> ZombieEvent {
    ZombieEvent {
        header: Header {
            kind: kind::ZOMBIE,
            cpu: 1,
            ts_ns: 5_000,
        },
        start_ns: 100,
        start_boottime_ns: 200,
        parent_start_ns: 50,
        tgid: 4242,
        tid: 4243,
        ppid: 4000,
        orig_ppid: 3999,
        status: 11 | 0x80,
        flags: zflag::AUTOREAP_NOCLDWAIT,
        ns_level: 1,
        nspid: [4242, 7, 99, 99],
        parent_ns_level: 1,
        comm: comm16("worker"),
        parent_comm: comm16("python3"),
    }
}

#[test]
fn zombie_round_trip() {
    let event = decode(&bytes_of(&zombie_record())).unwrap();
    let KernelEvent::Zombie(z) = event else {
        panic!("not a zombie: {event:?}")
    };
    assert_eq!((z.ts_ns, z.tgid, z.tid, z.ppid), (5_000, 4242, 4243, 4000));
    assert_eq!(z.orig_ppid, Some(3999));
    assert_eq!(z.status, ExitStatus(11 | 0x80));
    assert!(z.status.core_dumped());
    assert_eq!(z.autoreap, Some(Autoreap::NoCldWait));
    assert!(!z.silent);
    // Only levels 0..=ns_level are meaningful.
    assert_eq!(z.nspids, vec![4242, 7]);
    assert_eq!(z.comm, "worker");
    assert_eq!(z.parent_comm, "python3");
    assert_eq!(
        (z.start_ns, z.start_boottime_ns, z.parent_start_ns),
        (100, 200, 50)
    );
}

#[test]
fn unknown_orig_parent_and_full_comm() {
    let mut record = zombie_record();
    record.orig_ppid = 0;
    record.comm = *b"exactly16bytes!!";
    record.flags = zflag::SILENT | zflag::AUTOREAP_IGNORED;
    let KernelEvent::Zombie(z) = decode(&bytes_of(&record)).unwrap() else {
        panic!()
    };
    assert_eq!(z.orig_ppid, None);
    assert_eq!(z.comm, "exactly16bytes!!");
    assert!(z.silent);
    assert_eq!(z.autoreap, Some(Autoreap::Ignored));
}

#[test]
fn wait_round_trip() {
    let record = WaitEvent {
        header: Header {
            kind: kind::WAIT,
            cpu: 0,
            ts_ns: 9,
        },
        reaper_tgid: 1,
        reaper_tid: 2,
        pid: 3,
        ns_level: 0,
        call: call::WAITID_PIDFD,
        status: STATUS_UNKNOWN,
        comm: comm16("init"),
    };
    let KernelEvent::Wait(w) = decode(&bytes_of(&record)).unwrap() else {
        panic!()
    };
    assert_eq!(w.call, Call::WaitidPidfd);
    assert_eq!(w.status, None);
    assert_eq!((w.reaper_tgid, w.reaper_tid, w.pid), (1, 2, 3));
}

#[test]
fn reparent_round_trip() {
    let record = ReparentEvent {
        header: Header {
            kind: kind::REPARENT,
            cpu: 0,
            ts_ns: 10,
        },
        new_parent_start_ns: 1,
        old_ppid: 10,
        new_ppid: 1,
        ns_pid: 77,
        new_parent_ns_level: 0,
        status: 2 << 8,
        flags: 0,
        new_parent_comm: comm16("systemd"),
    };
    let KernelEvent::Reparent(r) = decode(&bytes_of(&record)).unwrap() else {
        panic!()
    };
    assert_eq!((r.old_ppid, r.new_ppid, r.ns_pid), (10, 1, 77));
    assert_eq!(r.status.exit_code(), Some(2));
    assert_eq!(r.autoreap, None);
}

#[test]
fn rejects_bad_records() {
    assert_eq!(decode(&[0; 8]), Err(DecodeError::Short(8)));
    let mut bytes = bytes_of(&zombie_record());
    bytes.pop();
    assert!(matches!(decode(&bytes), Err(DecodeError::Size { .. })));
    let mut header = bytes_of(&zombie_record());
    header[0] = 200;
    assert_eq!(decode(&header), Err(DecodeError::UnknownKind(200)));
    let mut wait = WaitEvent {
        header: Header {
            kind: kind::WAIT,
            cpu: 0,
            ts_ns: 0,
        },
        reaper_tgid: 0,
        reaper_tid: 0,
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
