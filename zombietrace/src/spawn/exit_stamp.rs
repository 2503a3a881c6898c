//! Each child's own last clock reading before it ends (`exiting_ns` in the ground truth): the
//! zombie moment comes after it, so it bounds the tracer's zombie time from below, however late
//! the reaper then learns of the exit.
//!
//! The readings go into one table in memory that every process of the spawner shares: the top
//! maps it (MAP_SHARED | MAP_ANONYMOUS) before it forks anything, so every descendant inherits
//! it. A child writes CLOCK_MONOTONIC into slot `pid % SLOTS` right before it exits; whoever
//! writes its `child` line takes the reading out. A slot holds the pid, the time and a check
//! word (the time mixed with the pid): two children that share a slot and stamp at the same
//! moment can interleave their stores, and the check word turns such a torn slot into no
//! reading rather than a wrong one. A slot taken by another pid is no reading either.

use std::io;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use super::process::{Pid, now_ns};

/// 65,536 slots of 24 bytes: 1.5 MiB of address space, of which only touched pages are used.
const SLOTS: usize = 1 << 16;

/// One child's reading. All zero (pid 0) is an empty slot.
#[repr(C)]
#[derive(Default)]
struct Slot {
    pid: AtomicU64,
    ns: AtomicU64,
    check: AtomicU64,
}

/// The table, once the top has mapped it; null before (stamps are then dropped).
static TABLE: AtomicPtr<Slot> = AtomicPtr::new(ptr::null_mut());

/// Maps the shared table; call once in the top before it forks. Later calls do nothing.
pub fn init() -> io::Result<()> {
    if !TABLE.load(Ordering::Acquire).is_null() {
        return Ok(());
    }
    // SAFETY: a fresh anonymous shared mapping; zeroed pages are valid empty slots.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            SLOTS * size_of::<Slot>(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    if TABLE
        .compare_exchange(
            ptr::null_mut(),
            p.cast(),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        // SAFETY: our own mapping, which nobody else saw.
        unsafe { libc::munmap(p, SLOTS * size_of::<Slot>()) };
    }
    Ok(())
}

fn table() -> Option<&'static [Slot]> {
    let p = TABLE.load(Ordering::Acquire);
    // SAFETY: once set, the mapping holds SLOTS slots and is never unmapped.
    (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, SLOTS) })
}

/// In a child, right before it ends (or its last thread does): records CLOCK_MONOTONIC.
pub fn stamp() {
    if let Some(slots) = table() {
        // SAFETY: getpid has no preconditions.
        put(slots, unsafe { libc::getpid() }, now_ns());
    }
}

/// The last reading `pid` stamped, if its slot still holds it; empties the slot.
pub fn take(pid: Pid) -> Option<u64> {
    take_from(table()?, pid)
}

fn check_of(pid: Pid, ns: u64) -> u64 {
    // Multiplying by an odd constant is a bijection: different pids never mix alike.
    ns ^ (pid as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn slot(slots: &[Slot], pid: Pid) -> &Slot {
    &slots[pid as u32 as usize % slots.len()]
}

fn put(slots: &[Slot], pid: Pid, ns: u64) {
    let s = slot(slots, pid);
    s.ns.store(ns, Ordering::Relaxed);
    s.check.store(check_of(pid, ns), Ordering::Relaxed);
    s.pid.store(pid as u64, Ordering::Release);
}

fn take_from(slots: &[Slot], pid: Pid) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let s = slot(slots, pid);
    if s.pid.load(Ordering::Acquire) != pid as u64 {
        return None;
    }
    let ns = s.ns.load(Ordering::Relaxed);
    let consistent = s.check.load(Ordering::Relaxed) == check_of(pid, ns);
    // Empty it, unless another child has stamped there since.
    let _ = s
        .pid
        .compare_exchange(pid as u64, 0, Ordering::AcqRel, Ordering::Relaxed);
    consistent.then_some(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(n: usize) -> Vec<Slot> {
        (0..n).map(|_| Slot::default()).collect()
    }

    #[test]
    fn a_stamp_is_taken_once() {
        let t = slots(8);
        put(&t, 42, 1_000);
        assert_eq!(take_from(&t, 42), Some(1_000));
        assert_eq!(take_from(&t, 42), None, "taken out");
        assert_eq!(take_from(&t, 43), None, "never stamped");
        assert_eq!(take_from(&t, 0), None);
    }

    #[test]
    fn a_slot_shared_by_two_pids_answers_only_the_last() {
        let t = slots(8);
        put(&t, 3, 100);
        put(&t, 11, 200); // 11 % 8 == 3 % 8
        assert_eq!(take_from(&t, 3), None, "overwritten by 11");
        assert_eq!(take_from(&t, 11), Some(200));
    }

    #[test]
    fn a_torn_slot_is_no_reading() {
        let t = slots(8);
        put(&t, 3, 100);
        // Another child sharing the slot has stored its time but not yet its check and pid.
        t[3].ns.store(200, Ordering::Relaxed);
        assert_eq!(take_from(&t, 3), None);
        // ...and its check too, but not yet its pid.
        put(&t, 3, 100);
        t[3].ns.store(200, Ordering::Relaxed);
        t[3].check.store(check_of(11, 200), Ordering::Relaxed);
        assert_eq!(take_from(&t, 3), None);
    }

    #[test]
    fn taking_leaves_a_newer_stamp_of_another_pid() {
        let t = slots(8);
        put(&t, 3, 100);
        assert_eq!(take_from(&t, 3), Some(100));
        put(&t, 11, 300);
        assert_eq!(take_from(&t, 3), None);
        assert_eq!(take_from(&t, 11), Some(300));
    }

    #[test]
    fn the_shared_table_holds_this_process_stamp() {
        init().unwrap();
        init().unwrap();
        let before = now_ns();
        stamp();
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        let got = take(me).expect("a stamp");
        assert!(before <= got && got <= now_ns());
    }
}
