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
    /// Root's process with CAP_SYS_PTRACE only.
    Ptrace,
    /// An unprivileged user, no capability at all.
    User { name: String, uid: u32 },
}

impl Holds {
    pub fn describe(&self) -> String {
        match self {
            Holds::Ptrace => "holds CAP_SYS_PTRACE only (to read other users' /proc for leak \
                              diagnosis), no new privileges"
                .to_string(),
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
    let keep: CapsHashSet = match user {
        None => [Capability::CAP_SYS_PTRACE].into_iter().collect(),
        Some(_) => CapsHashSet::new(),
    };
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes below.
    for cap in caps::runtime::thread_all_supported() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("dropping {cap} from the bounding set"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).context("clearing the ambient capabilities")?;
    caps::clear(None, CapSet::Inheritable).context("clearing the inheritable capabilities")?;
    let Some(user) = user else {
        caps::set(None, CapSet::Effective, &keep).context("reducing the effective set")?;
        caps::set(None, CapSet::Permitted, &keep).context("reducing the permitted set")?;
        return Ok(Holds::Ptrace);
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
        assert!(Holds::Ptrace.describe().contains("CAP_SYS_PTRACE only"));
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
