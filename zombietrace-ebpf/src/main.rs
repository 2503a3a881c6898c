//! zombietrace's kernel programs: one file per probe family, thin `#[…] fn x` wrappers around
//! `try_x -> Result` whose failures are counted, never discarded.
#![no_std]
#![no_main]

mod io_uring;
mod maps;
mod sched;
mod signal;
mod slots;
mod task;
mod wait;
mod zombie;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
