//! CLOCK_MONOTONIC (the kernel's bpf_ktime_get_ns) and turning it into wall-clock time.

pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CLOCK_BOOTTIME in ns: the clock of a process's start time in /proc.
pub fn boottime_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Maps monotonic timestamps to local wall-clock times of day.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    /// realtime − monotonic, in ns, sampled once.
    offset_ns: i128,
    /// Times of day in UTC rather than local time.
    utc: bool,
}

impl WallClock {
    /// A clock whose realtime − monotonic offset is `offset_ns` (for replaying a recording),
    /// in UTC or local time.
    pub fn with_offset(offset_ns: i128, utc: bool) -> Self {
        WallClock { offset_ns, utc }
    }

    pub fn now() -> Self {
        let mono = monotonic_ns();
        let real = clock_ns(libc::CLOCK_REALTIME);
        WallClock {
            offset_ns: real as i128 - mono as i128,
            utc: false,
        }
    }

    /// `HH:MM:SS.mmm` in local time (or UTC).
    pub fn time_of_day(&self, monotonic: u64) -> String {
        let real_ns = (monotonic as i128 + self.offset_ns).max(0) as u64;
        let secs = (real_ns / 1_000_000_000) as _; // time_t: 64-bit on glibc and musl alike
        let millis = (real_ns / 1_000_000) % 1000;
        // SAFETY: localtime_r and gmtime_r write only into `tm`.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        if self.utc {
            unsafe { libc::gmtime_r(&secs, &mut tm) };
        } else {
            unsafe { libc::localtime_r(&secs, &mut tm) };
        }
        format!(
            "{:02}:{:02}:{:02}.{millis:03}",
            tm.tm_hour, tm.tm_min, tm.tm_sec
        )
    }
}
