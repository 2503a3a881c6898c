#![no_std]
// The kernel programs are the `zombietrace` binary target (src/main.rs); this library target
// exists so that the userspace crate can name this crate as a build dependency.
