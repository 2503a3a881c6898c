//! Per-process slots in the `TASKS` array: who forked each process (to tell a reparented reap),
//! and whether its wait and free still need sending. Array slots cost a few loads and stores
//! where a hash map costs a locked insert and delete per process; a process whose slot another
//! live process holds (only when pid_max exceeds the array) goes to the `ORIG_PARENT` hash.

use zombietrace_common::{counter, slot};

use crate::{
    maps::{ORIG_PARENT, TASKS, count},
    setting,
};

/// The slot of `tgid` when it is `tgid`'s own (tagged with it), else `None`.
#[inline(always)]
fn own(tgid: u32) -> Option<*mut u64> {
    let ptr = TASKS.get_ptr_mut(slot::index(tgid, setting!(task_slots)))?;
    let (tag, _) = slot::unpack(unsafe { *ptr });
    (tag == tgid).then_some(ptr)
}

/// Records `parent` as the process that forked `tgid`. Returns false if neither the slot nor
/// the hash could take it (counted).
#[inline(always)]
pub fn remember_parent(tgid: u32, parent: u32) -> bool {
    let Some(ptr) = TASKS.get_ptr_mut(slot::index(tgid, setting!(task_slots))) else {
        return false;
    };
    let (tag, _) = slot::unpack(unsafe { *ptr });
    // A different tag is a live process (a slot is cleared when its process is freed).
    if tag == 0 || tag == tgid {
        unsafe { *ptr = slot::pack(tgid, (parent & slot::PARENT_MASK) | slot::TRACED_FORK) };
        return true;
    }
    if ORIG_PARENT.insert(tgid, parent, 0).is_err() {
        count(counter::PARENT_MAP_FULL);
        return false;
    }
    true
}

/// The process that forked `tgid`, 0 if unknown.
#[inline(always)]
pub fn orig_parent(tgid: u32) -> u32 {
    match own(tgid) {
        Some(ptr) => slot::unpack(unsafe { *ptr }).1 & slot::PARENT_MASK,
        None => unsafe { ORIG_PARENT.get(tgid) }.copied().unwrap_or(0),
    }
}

/// Sets `flag` (`slot::FILTERED` / `slot::WAIT_SEEN`) on `tgid`'s own slot, if it has one.
#[inline(always)]
pub fn mark(tgid: u32, flag: u32) {
    if let Some(ptr) = own(tgid) {
        let (tag, info) = slot::unpack(unsafe { *ptr });
        unsafe { *ptr = slot::pack(tag, info | flag) };
    }
}

/// The `slot::*` flags of `tgid`'s own slot; `None` when it has none (it existed before
/// tracing and shares a slot, or the reaper names it from inside a pid namespace).
#[inline(always)]
pub fn flags(tgid: u32) -> Option<u32> {
    own(tgid).map(|ptr| slot::unpack(unsafe { *ptr }).1 & !slot::PARENT_MASK)
}

/// `tgid` is freed: forgets it, and says whether its free still needs sending (not when its
/// reap by a wait was already sent, or its zombie was filtered out).
#[inline(always)]
pub fn release(tgid: u32) -> bool {
    match own(tgid) {
        Some(ptr) => {
            let (_, info) = slot::unpack(unsafe { *ptr });
            unsafe { *ptr = 0 };
            info & (slot::WAIT_SEEN | slot::FILTERED) == 0
        }
        None => {
            let _ = ORIG_PARENT.remove(tgid); // absent unless its slot was taken
            true
        }
    }
}
