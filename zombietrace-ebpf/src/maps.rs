//! Maps, load-time globals, counters and the ring-buffer writer shared by every program.

use aya_ebpf::{
    bindings::{BPF_F_MMAPABLE, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::bpf_get_smp_processor_id,
    macros::map,
    maps::{Array, HashMap, RingBuf},
};
use zombietrace_common::{
    Offsets, PARENT_MAP_ENTRIES, RING_BUF_BYTES, Settings, Stamp, TASK_SLOTS_MAX, WAIT_MAP_ENTRIES,
    WaitArgs, counter, slot,
};

/// Field offsets resolved by the loader from the running kernel's BTF (see `Offsets`).
#[unsafe(no_mangle)]
pub static OFFSETS: Offsets = unsafe { core::mem::zeroed() };

/// Filters and switches chosen on the command line.
#[unsafe(no_mangle)]
pub static SETTINGS: Settings = unsafe { core::mem::zeroed() };

/// Reads one field of a load-time global. `read_volatile` keeps the compiler from folding the
/// zero initialiser; the verifier sees the real (frozen) value.
#[macro_export]
macro_rules! off {
    ($field:ident) => {
        unsafe { core::ptr::read_volatile(&$crate::maps::OFFSETS.$field) }
    };
}

#[macro_export]
macro_rules! setting {
    ($field:ident) => {
        unsafe { core::ptr::read_volatile(&$crate::maps::SETTINGS.$field) }
    };
}

#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RING_BUF_BYTES, 0);

/// `counter::*` for each CPU (at `cpu * counter::LEN + index`: one writer per slot, as in a
/// per-CPU array), memory-mapped by userspace: read with no bpf() call, so with no capability
/// on any kernel (before 6.5, every bpf() call needs CAP_BPF where unprivileged BPF is off).
/// The loader sizes it to the possible CPUs.
#[map]
pub static COUNTERS: Array<u64> = Array::with_max_entries(counter::LEN, BPF_F_MMAPABLE);

/// One slot per process (see `zombietrace_common::slot`): who forked it, and whether its wait
/// or free still needs sending. The loader sizes it to the kernel's pid_max.
#[map]
pub static TASKS: Array<u64> = Array::with_max_entries(TASK_SLOTS_MAX, 0);

/// New process's tgid -> the tgid of the process that forked it, for processes whose `TASKS`
/// slot another live process holds (pid_max above `TASK_SLOTS_MAX`). Preallocated: kernels
/// before 6.1 refuse run-time allocated hashes in tracing programs.
#[map]
pub static ORIG_PARENT: HashMap<u32, u32> = HashMap::with_max_entries(PARENT_MAP_ENTRIES, 0);

/// When each thread entered its current wait call (indexed like `TASKS`, by thread id).
#[map]
pub static WAIT_ENTERED: Array<Stamp> = Array::with_max_entries(TASK_SLOTS_MAX, 0);

/// When each process last had a SIGCHLD delivered to a handler (indexed like `TASKS`, by tgid).
#[map]
pub static SIGCHLD_DELIVERED: Array<Stamp> = Array::with_max_entries(TASK_SLOTS_MAX, 0);

/// Thread id -> arguments of its wait call in flight.
#[map]
pub static WAIT_ARGS: HashMap<u32, WaitArgs> = HashMap::with_max_entries(WAIT_MAP_ENTRIES, 0);

#[inline(always)]
pub fn count(index: u32) {
    let cpu = unsafe { bpf_get_smp_processor_id() };
    if let Some(slot) = COUNTERS.get_ptr_mut(cpu * counter::LEN + index) {
        // This CPU's slot: no other writer.
        unsafe { *slot += 1 };
    }
}

/// Writes `event` to the ring buffer, or counts it lost (and returns false). Wake-ups are
/// batched: userspace polls on a short timer, and is woken early only when the buffer is an
/// eighth full.
#[inline(always)]
pub fn emit<T: Copy + 'static>(event: &T) -> bool {
    let backlog = EVENTS.query(aya_ebpf::bindings::BPF_RB_AVAIL_DATA as u64);
    let flags = if backlog > (RING_BUF_BYTES / 8) as u64 {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    } as u64;
    match EVENTS.reserve::<T>(0) {
        Some(mut entry) => {
            entry.write(*event);
            entry.submit(flags);
            true
        }
        None => {
            count(counter::RINGBUF_LOST);
            false
        }
    }
}

/// Ends a program: a failed read is counted (and the event, if any, was not sent).
#[inline(always)]
pub fn finish(result: Result<(), i32>) -> u32 {
    if result.is_err() {
        count(counter::READ_FAILED);
    }
    0
}

/// Stamps `now` in `id`'s slot of `map`.
#[inline(always)]
pub fn stamp(map: &Array<Stamp>, id: u32, now: u64) {
    if let Some(ptr) = map.get_ptr_mut(slot::index(id, crate::setting!(task_slots))) {
        unsafe {
            *ptr = Stamp {
                ts_ns: now,
                id,
                _reserved: 0,
            }
        };
    }
}

/// The moment stamped in `id`'s slot of `map`, if the slot is `id`'s; 0 otherwise.
#[inline(always)]
pub fn stamped(map: &Array<Stamp>, id: u32) -> u64 {
    match map.get(slot::index(id, crate::setting!(task_slots))) {
        Some(s) if s.id == id => s.ts_ns,
        _ => 0,
    }
}
