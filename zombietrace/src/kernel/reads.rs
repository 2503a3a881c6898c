//! Which of the two program sets reads kernel memory: the raw tracepoints' probe-read calls
//! (any kernel) or their BTF-typed twins' plain loads (Linux 5.11+), and loading the twins.

use anyhow::{Context as _, Result, bail};
use aya::{Ebpf, programs::Program, util::KernelVersion};

/// Programs with a twin, `<name>_btf`, that reads kernel memory with plain loads the verifier
/// checks against the kernel's types, where these read with `bpf_probe_read_kernel` calls (a
/// few instructions against tens of nanoseconds each). The twins need Linux 5.11 (the current
/// task as a typed pointer); where the kernel has it, they are attached instead (see [`Reads`]).
pub const TWINS: [&str; 6] = [
    "sched_process_fork",
    "sched_process_exit",
    "signal_generate",
    "sched_process_free",
    "sys_exit_wait4",
    "sys_exit_waitid",
];

pub fn twin(name: &str) -> String {
    format!("{name}_btf")
}

/// How the kernel programs read kernel memory: shown when tracing starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// The `_btf` twins: plain loads through BTF-typed pointers (Linux 5.11+).
    Typed,
    /// `bpf_probe_read_kernel` calls: any kernel, and wherever `ZOMBIETRACE_READS=probe`.
    Probe,
}

impl Reads {
    pub fn describe(self) -> &'static str {
        match self {
            Reads::Typed => "BTF-typed reads",
            Reads::Probe => "probe reads",
        }
    }

    /// What to try: `ZOMBIETRACE_READS` (`typed` or `probe`: for comparing the two, or a
    /// kernel whose verifier misjudges the typed ones), else typed reads from Linux 5.11.
    pub fn wanted() -> Result<Reads> {
        let asked = std::env::var("ZOMBIETRACE_READS").ok();
        let typed_kernel =
            KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(5, 11, 0));
        Reads::choose(asked.as_deref(), typed_kernel)
    }

    fn choose(asked: Option<&str>, typed_kernel: bool) -> Result<Reads> {
        Ok(match asked {
            Some("probe") => Reads::Probe,
            Some("typed") => Reads::Typed,
            None | Some("") if typed_kernel => Reads::Typed,
            None | Some("") => Reads::Probe,
            Some(other) => bail!("ZOMBIETRACE_READS must be `typed` or `probe`, not `{other}`"),
        })
    }
}

/// Loads every `_btf` twin; the first the verifier refuses is the error (the caller unloads
/// those loaded, and the probe-read programs do the same work).
pub fn load_twins(ebpf: &mut Ebpf) -> Result<()> {
    let btf = aya::Btf::from_sys_fs().context("reading the kernel's BTF")?;
    for base in TWINS {
        let name = twin(base);
        let program = ebpf
            .program_mut(&name)
            .with_context(|| format!("program {name} missing from the object"))?;
        match program {
            Program::BtfTracePoint(p) => p.load(base, &btf),
            Program::TracePoint(p) => p.load(),
            _ => bail!("program {name} is neither a BTF nor a syscall tracepoint"),
        }
        .with_context(|| format!("the verifier refused {name}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_reads_from_5_11_unless_asked_otherwise() {
        assert_eq!(Reads::choose(None, true).unwrap(), Reads::Typed);
        assert_eq!(Reads::choose(None, false).unwrap(), Reads::Probe);
        assert_eq!(Reads::choose(Some(""), true).unwrap(), Reads::Typed);
        assert_eq!(Reads::choose(Some("probe"), true).unwrap(), Reads::Probe);
        // Asked for, typed reads are tried anyway: a refusal falls back, with a warning.
        assert_eq!(Reads::choose(Some("typed"), false).unwrap(), Reads::Typed);
        let err = Reads::choose(Some("fast"), true).unwrap_err().to_string();
        assert!(err.contains("`typed` or `probe`, not `fast`"), "{err}");
    }
}
