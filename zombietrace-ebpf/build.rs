fn main() -> aya_build::Result<()> {
    // Rebuild when bpf-linker changes (it is an undeclared build tool of this crate).
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
    aya_build::emit_bpf_target_arch_cfg()
}
