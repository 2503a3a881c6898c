//! How a child ends: the memory it touches first, its exit code or the signal it dies by;
//! and signal names for the command line and for people.

use std::ptr;

/// What a child does before it ends: touch some memory, then exit or die by a signal.
#[derive(Clone, Copy, Debug)]
pub struct Fate {
    pub exit_code: i32,
    pub kill_with: Option<i32>,
    pub touch_mib: u32,
    /// The command name it takes before it ends (NUL-terminated).
    pub name: Option<[u8; 16]>,
}

impl Fate {
    /// Allocates and writes `touch_mib` MiB of heap, so that the exit has memory to tear down.
    pub fn touch(&self) {
        if self.touch_mib == 0 {
            return;
        }
        let len = (self.touch_mib as usize) << 20;
        // SAFETY: malloc of `len` bytes; every page is written through a valid pointer.
        unsafe {
            let p = libc::malloc(len).cast::<u8>();
            if p.is_null() {
                return;
            }
            let mut off = 0;
            while off < len {
                ptr::write_volatile(p.add(off), 1);
                off += 4096;
            }
        }
    }

    /// Ends the whole process as asked (no touching), stamping its last clock reading first.
    pub fn finish(&self) -> ! {
        if let Some(name) = &self.name {
            // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
            unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
        }
        super::exit_stamp::stamp();
        if let Some(sig) = self.kill_with {
            raise_default(sig);
        }
        // SAFETY: ends the process.
        unsafe { libc::_exit(self.exit_code) }
    }

    pub fn die(&self) -> ! {
        self.touch();
        self.finish()
    }
}

/// Raises `sig` with its default action restored and unblocked (so it kills the process).
pub fn raise_default(sig: i32) {
    // SAFETY: signal-state changes in a process that is about to die.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
    super::cleanup::set_blocked(sig, false);
    // SAFETY: as above.
    unsafe { libc::raise(sig) };
}
