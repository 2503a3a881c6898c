//! Once every probe is attached and every map made, the tracer keeps only what the rest of its
//! run needs. Reading the ring buffer and the counters, and detaching at the end, work on file
//! descriptors it already holds: no capability. Diagnosing a leaking parent reads other users'
//! /proc files, some of which (where a process sleeps, exit codes, everything under
//! `hidepid`) need CAP_SYS_PTRACE: that one is kept, unless `--user` asks for an unprivileged
//! user, as `tcpdump -Z` does. Either way no new privileges can be gained (it execs nothing).
//!
//! Capabilities are per thread: this runs before any other thread is started (the output's
//! writer thread, a metrics server's), which then inherit the reduced sets.

use anyhow::{Context as _, Result, bail};
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{User, setgroups, setresgid, setresuid};

/// What the run holds after [`drop_after_attach`], for a person to read.
#[derive(Debug, PartialEq, Eq)]
pub enum Holds {
    /// CAP_SYS_PTRACE at most (it is kept only if it was there); `bounded`: the bounding set
    /// was emptied too (it takes CAP_SETPCAP, which a service manager may not have given).
    Ptrace { ptrace: bool, bounded: bool },
    /// An unprivileged user, no capability at all.
    User { name: String, uid: u32 },
}

impl Holds {
    pub fn describe(&self) -> String {
        match self {
            Holds::Ptrace { ptrace, bounded } => format!(
                "holds {}, no new privileges{}",
                if *ptrace {
                    "CAP_SYS_PTRACE only (to read other users' /proc for leak diagnosis)"
                } else {
                    "no capabilities (without CAP_SYS_PTRACE, leak diagnosis sees what this \
                     user may read in /proc)"
                },
                if *bounded {
                    ""
                } else {
                    "; the bounding set stays as it was given (no CAP_SETPCAP to change it)"
                }
            ),
            Holds::User { name, uid } => format!(
                "runs as {name} (uid {uid}) with no capabilities, no new privileges: leak \
                 diagnosis sees what {name} may read in /proc"
            ),
        }
    }
}

/// Looks up `name` now (while /etc and NSS are as they were at start).
pub fn lookup(name: &str) -> Result<User> {
    User::from_name(name)
        .with_context(|| format!("looking up user {name}"))?
        .with_context(|| format!("no user named {name}"))
}

/// Drops every capability but CAP_SYS_PTRACE (or, with `user`, switches to it and keeps none),
/// empties the bounding, inheritable and ambient sets, and sets no_new_privs.
pub fn drop_after_attach(user: Option<&User>) -> Result<Holds> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        bail!("setting no_new_privs: {}", std::io::Error::last_os_error());
    }
    // CAP_SYS_PTRACE is kept only where it was permitted (a service may run without it).
    let permitted = caps::read(None, CapSet::Permitted).context("reading the capabilities")?;
    let keep: CapsHashSet = match user {
        None => permitted
            .iter()
            .copied()
            .filter(|&c| c == Capability::CAP_SYS_PTRACE)
            .collect(),
        Some(_) => CapsHashSet::new(),
    };
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes below.
    let bounded = caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP)?;
    if bounded {
        for cap in caps::runtime::thread_all_supported() {
            if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
                caps::drop(None, CapSet::Bounding, cap)
                    .with_context(|| format!("dropping {cap} from the bounding set"))?;
            }
        }
    }
    caps::clear(None, CapSet::Ambient).context("clearing the ambient capabilities")?;
    caps::clear(None, CapSet::Inheritable).context("clearing the inheritable capabilities")?;
    let Some(user) = user else {
        caps::set(None, CapSet::Effective, &keep).context("reducing the effective set")?;
        caps::set(None, CapSet::Permitted, &keep).context("reducing the permitted set")?;
        return Ok(Holds::Ptrace {
            ptrace: !keep.is_empty(),
            bounded,
        });
    };
    let (uid, gid) = (user.uid, user.gid);
    setgroups(&[gid]).context("setting the supplementary groups")?;
    setresgid(gid, gid, gid).with_context(|| format!("switching to group {gid}"))?;
    setresuid(uid, uid, uid).with_context(|| format!("switching to user {}", user.name))?;
    // Leaving uid 0 clears the permitted and effective sets; make sure it did.
    if !caps::read(None, CapSet::Permitted)?.is_empty() || uid.is_root() {
        bail!("{} still holds capabilities after the switch", user.name);
    }
    Ok(Holds::User {
        name: user.name.clone(),
        uid: uid.as_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_what_it_holds() {
        let root = Holds::Ptrace {
            ptrace: true,
            bounded: true,
        };
        assert!(root.describe().contains("CAP_SYS_PTRACE only"));
        assert!(!root.describe().contains("bounding"));
        let service = Holds::Ptrace {
            ptrace: false,
            bounded: false,
        };
        assert!(service.describe().contains("no capabilities"));
        assert!(service.describe().contains("bounding set stays"));
        let user = Holds::User {
            name: "nobody".into(),
            uid: 65534,
        };
        assert!(
            user.describe()
                .contains("nobody (uid 65534) with no capabilities")
        );
    }

    #[test]
    fn unknown_users_are_errors() {
        let err = lookup("no-such-user-zt").unwrap_err().to_string();
        assert!(err.contains("no user named no-such-user-zt"), "{err}");
        assert!(lookup("root").is_ok());
    }
}
