//! Raw ring-buffer records → kernel events. Properties: never a panic; a record is refused for
//! its length exactly when its length is not its kind's size; names carry no NUL.
#![no_main]

use std::mem::size_of;

use libfuzzer_sys::fuzz_target;
use zombietrace::pipeline::{
    decode::{DecodeError, decode},
    kernel_event::KernelEvent,
};
use zombietrace_common::{
    FreeEvent, Header, ReparentEvent, ThreadExitEvent, WaitEvent, ZombieEvent, call, kind,
};

fn size_of_kind(kind: u32) -> Option<usize> {
    Some(match kind {
        kind::ZOMBIE => size_of::<ZombieEvent>(),
        kind::REPARENT => size_of::<ReparentEvent>(),
        kind::WAIT => size_of::<WaitEvent>(),
        kind::FREE => size_of::<FreeEvent>(),
        kind::THREAD_EXIT => size_of::<ThreadExitEvent>(),
        _ => return None,
    })
}

fuzz_target!(|bytes: &[u8]| {
    let result = decode(bytes);
    if bytes.len() < size_of::<Header>() {
        assert_eq!(result, Err(DecodeError::Short(bytes.len())));
        return;
    }
    let kind = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    let Some(want) = size_of_kind(kind) else {
        assert_eq!(result, Err(DecodeError::UnknownKind(kind)));
        return;
    };
    if bytes.len() != want {
        let len = bytes.len();
        assert_eq!(result, Err(DecodeError::Size { kind, len, want }));
        return;
    }
    // Exactly a valid size: only a wait record's call can still be refused.
    match result {
        Err(DecodeError::UnknownCall(c)) => {
            assert_eq!(kind, kind::WAIT);
            assert!(
                ![
                    call::WAIT4,
                    call::WAITID,
                    call::WAITID_PIDFD,
                    call::IO_URING_WAITID
                ]
                .contains(&c)
            );
        }
        Err(err) => panic!("a record of its kind's exact size was refused: {err}"),
        Ok(KernelEvent::Zombie(z)) => {
            assert!((1..=zombietrace_common::MAX_NS_LEVELS).contains(&z.nspids.len()));
            assert!(!z.comm.contains('\0') && !z.parent_comm.contains('\0'));
        }
        Ok(KernelEvent::Reparent(r)) => assert!(!r.new_parent_comm.contains('\0')),
        Ok(KernelEvent::Wait(w)) => assert!(!w.comm.contains('\0')),
        Ok(KernelEvent::ThreadExit(t)) => assert!(!t.comm.contains('\0')),
        Ok(KernelEvent::Free(_)) => {}
    }
});
