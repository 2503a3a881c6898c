//! The kernel programs' counters (events lost, map refusals, failed reads), read through a
//! read-only mapping of their array: no bpf() call, so they stay readable once the tracer has
//! dropped its capabilities, on every kernel (before 6.5 every bpf() call needs CAP_BPF when
//! unprivileged BPF is disabled). Hand-mapped: aya 0.14 maps no array map into memory.

use std::{
    os::fd::{AsFd as _, AsRawFd as _},
    ptr::NonNull,
};

use anyhow::{Context as _, Result, bail};
use aya::maps::{Map, MapData};
use zombietrace_common::counter;

/// The array's size for `cpus` possible CPUs: `counter::LEN` slots each.
pub fn entries(cpus: u32) -> u32 {
    cpus * counter::LEN
}

pub struct CounterPage {
    base: NonNull<u64>,
    bytes: usize,
    cpus: u32,
    /// Keeps the map's descriptor for the mapping's life.
    _map: MapData,
}

impl CounterPage {
    pub fn map(map: Map, cpus: u32) -> Result<CounterPage> {
        let Map::Array(data) = map else {
            bail!("the COUNTERS map is not an array");
        };
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let bytes = (entries(cpus) as usize * 8).div_ceil(page) * page;
        // SAFETY: a fresh shared read-only mapping of a BPF_F_MMAPABLE array's fd; the kernel
        // checks the length against the array.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ,
                libc::MAP_SHARED,
                data.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error()).context("mapping the COUNTERS array");
        }
        Ok(CounterPage {
            base: NonNull::new(ptr.cast()).context("mmap returned null")?,
            bytes,
            cpus,
            _map: data,
        })
    }

    /// Counter `index` (`counter::*`), summed over CPUs.
    pub fn get(&self, index: u32) -> u64 {
        assert!(index < counter::LEN);
        (0..self.cpus)
            .map(|cpu| {
                let at = (cpu * counter::LEN + index) as usize;
                // SAFETY: inside the mapping (at < entries(cpus)), 8-byte aligned (page-aligned
                // base); the kernel writes it, so read it as volatile.
                unsafe { self.base.as_ptr().add(at).read_volatile() }
            })
            .sum()
    }
}

impl Drop for CounterPage {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.bytes) };
    }
}
