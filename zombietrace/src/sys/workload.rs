//! What a person recognises in a cgroup path: the systemd unit, the container (runtime and
//! id) and the Kubernetes pod (uid and QoS class). Recognised layouts, innermost first:
//!
//! | runtime, driver | example path |
//! |---|---|
//! | docker, systemd | `/system.slice/docker-<id>.scope` |
//! | docker, cgroupfs | `/docker/<id>` |
//! | podman, systemd | `/machine.slice/libpod-<id>.scope` (crun adds `/container`) |
//! | podman, cgroupfs | `/libpod_parent/libpod-<id>` |
//! | containerd CRI, systemd | `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope` |
//! | containerd CRI, cgroupfs | `/kubepods/burstable/pod<uid>/<id>` |
//! | CRI-O, systemd | `/kubepods.slice/…/kubepods-besteffort-pod<uid_>.slice/crio-<id>.scope` |
//! | CRI-O, cgroupfs | `/kubepods/besteffort/pod<uid>/crio-<id>` |
//! | containerd, plain | `/<namespace>/<id>` (`/default/<id>`, `/k8s.io/<id>`) |
//! | systemd unit | `/system.slice/nginx.service`, `/user.slice/user-1000.slice/user@1000.service/…` |
//!
//! A container id is 64 hex digits, a pod uid a UUID (32 hex digits for a static pod). A pod
//! directly under `kubepods` is Guaranteed; the others sit under `burstable` or `besteffort`. A
//! path that matches none of these is shown as the path.

use serde::{Deserialize, Serialize};

/// Where a process lives, as its cgroup path says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// The innermost systemd unit or scope (`nginx.service`, `session-3.scope`).
    pub unit: Option<String>,
    /// `docker`, `podman`, `containerd`, `cri-o`.
    pub runtime: Option<String>,
    /// The full container id.
    pub container_id: Option<String>,
    /// The Kubernetes pod's uid, and its QoS class (`guaranteed`, `burstable`, `besteffort`).
    pub pod_uid: Option<String>,
    pub qos: Option<String>,
}

impl Workload {
    /// What to show in a column or a label: the container (`podman:8c3af0a9b2c1`), else the
    /// pod (`pod:1f2e3d4c`), else the unit.
    pub fn short(&self) -> String {
        match (&self.container_id, &self.runtime, &self.pod_uid, &self.unit) {
            (Some(id), Some(rt), _, _) => format!("{rt}:{}", &id[..12.min(id.len())]),
            (_, _, Some(uid), _) => format!("pod:{}", &uid[..8.min(uid.len())]),
            (_, _, _, Some(unit)) => unit.clone(),
            _ => String::new(),
        }
    }
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A Kubernetes pod uid: a UUID, or a static pod's 32 hex digits (the hash of its manifest).
fn is_pod_uid(s: &str) -> bool {
    (32..=36).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The container a path component names, with its runtime.
fn container(component: &str, parent: Option<&str>) -> Option<(&'static str, String)> {
    let scoped = |prefix: &str| {
        component
            .strip_prefix(prefix)
            .map(|rest| rest.strip_suffix(".scope").unwrap_or(rest))
            .filter(|id| is_container_id(id))
            .map(str::to_string)
    };
    for (prefix, runtime) in [
        ("docker-", "docker"),
        ("libpod-", "podman"),
        ("cri-containerd-", "containerd"),
        ("crio-", "cri-o"),
    ] {
        if let Some(id) = scoped(prefix) {
            return Some((runtime, id));
        }
    }
    if is_container_id(component) {
        let runtime = match parent {
            Some("docker") => "docker",
            _ => "containerd",
        };
        return Some((runtime, component.to_string()));
    }
    None
}

/// The pod a path component names: (uid, QoS class).
fn pod(component: &str, parent: Option<&str>) -> Option<(String, &'static str)> {
    let qos_of = |q: &str| match q {
        "burstable" => Some("burstable"),
        "besteffort" => Some("besteffort"),
        _ => None,
    };
    // systemd driver: kubepods[-<qos>]-pod<uid with _>.slice
    if let Some(rest) = component
        .strip_prefix("kubepods-")
        .and_then(|r| r.strip_suffix(".slice"))
    {
        let (qos, uid) = match rest.split_once("-pod") {
            Some((q, uid)) => (qos_of(q)?, uid),
            None => ("guaranteed", rest.strip_prefix("pod")?),
        };
        let uid = uid.replace('_', "-");
        return is_pod_uid(&uid).then_some((uid, qos));
    }
    // cgroupfs driver: …/kubepods[/<qos>]/pod<uid>
    let uid = component.strip_prefix("pod")?;
    let qos = match parent {
        Some("kubepods") => "guaranteed",
        Some(q) => qos_of(q)?,
        None => return None,
    };
    is_pod_uid(uid).then(|| (uid.to_string(), qos))
}

/// What `path` (a cgroup v2 path, or a v1 hierarchy's) says; None when it names nothing known.
pub fn classify(path: &str) -> Option<Workload> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut w = Workload::default();
    for (i, part) in parts.iter().enumerate() {
        let parent = i.checked_sub(1).map(|j| parts[j]);
        if let Some((runtime, id)) = container(part, parent) {
            w.runtime = Some(runtime.to_string());
            w.container_id = Some(id);
        } else if let Some((uid, qos)) = pod(part, parent) {
            w.pod_uid = Some(uid);
            w.qos = Some(qos.to_string());
        } else if (part.ends_with(".service") || part.ends_with(".scope"))
            && w.container_id.is_none()
        {
            w.unit = Some(part.to_string());
        }
    }
    (w != Workload::default()).then_some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8c3af0a9b2c1d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8";

    fn c(path: &str) -> Workload {
        classify(path).unwrap_or_else(|| panic!("{path} not recognised"))
    }

    #[test]
    fn containers_under_each_runtime_and_driver() {
        for (path, runtime) in [
            (format!("/system.slice/docker-{ID}.scope"), "docker"),
            (format!("/docker/{ID}"), "docker"),
            (format!("/machine.slice/libpod-{ID}.scope"), "podman"),
            (
                format!("/machine.slice/libpod-{ID}.scope/container"),
                "podman",
            ),
            (format!("/libpod_parent/libpod-{ID}"), "podman"),
            (format!("/default/{ID}"), "containerd"),
            (format!("/k8s.io/{ID}"), "containerd"),
        ] {
            let w = c(&path);
            assert_eq!(
                (w.runtime.as_deref(), w.container_id.as_deref()),
                (Some(runtime), Some(ID)),
                "{path}"
            );
            assert_eq!(w.short(), format!("{runtime}:8c3af0a9b2c1"));
            assert_eq!(w.pod_uid, None);
        }
        // The runtime's monitor is not the container.
        let w = c(&format!("/machine.slice/libpod-conmon-{ID}.scope"));
        assert_eq!(w.container_id, None);
        assert_eq!(
            w.unit.as_deref(),
            Some(&*format!("libpod-conmon-{ID}.scope"))
        );
    }

    #[test]
    fn pods_and_their_qos() {
        let uid = "1f2e3d4c-5b6a-7988-a7b6-c5d4e3f2a1b0";
        let uid_ = uid.replace('-', "_");
        let w = c(&format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{ID}.scope"
        ));
        assert_eq!(w.runtime.as_deref(), Some("containerd"));
        assert_eq!(
            (w.pod_uid.as_deref(), w.qos.as_deref()),
            (Some(uid), Some("burstable"))
        );
        let w = c(&format!(
            "/kubepods.slice/kubepods-pod{uid_}.slice/crio-{ID}.scope"
        ));
        assert_eq!(
            (w.runtime.as_deref(), w.qos.as_deref()),
            (Some("cri-o"), Some("guaranteed"))
        );
        let w = c(&format!("/kubepods/besteffort/pod{uid}/{ID}"));
        assert_eq!(
            (w.runtime.as_deref(), w.qos.as_deref()),
            (Some("containerd"), Some("besteffort"))
        );
        assert_eq!(w.pod_uid.as_deref(), Some(uid));
        let w = c(&format!("/kubepods/pod{uid}/crio-{ID}"));
        assert_eq!(
            (w.runtime.as_deref(), w.qos.as_deref()),
            (Some("cri-o"), Some("guaranteed"))
        );
        // A pod's own cgroup, no container: shown as the pod.
        let w = c(&format!("/kubepods/burstable/pod{uid}"));
        assert_eq!(w.short(), "pod:1f2e3d4c");
    }

    #[test]
    fn systemd_units() {
        assert_eq!(c("/system.slice/nginx.service").short(), "nginx.service");
        assert_eq!(
            c("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service").short(),
            "foo.service"
        );
        assert_eq!(
            c("/user.slice/user-1000.slice/session-3.scope").short(),
            "session-3.scope"
        );
    }

    #[test]
    fn the_rest_is_unknown() {
        assert_eq!(classify("/"), None);
        assert_eq!(classify(""), None);
        assert_eq!(classify("/user.slice"), None);
        assert_eq!(classify("/docker/notanid"), None);
        assert_eq!(classify(&format!("/docker/{}", &ID[..63])), None);
        assert_eq!(classify("/kubepods/burstable/podshort"), None);
    }

    /// Found by fuzzing (procfs): a pod uid is only what a cgroup's name says, and anyone who
    /// may create a cgroup names it. One with a character of two bytes across its 8th byte
    /// panicked `short`, one with an escaped byte there was cut inside the escape; a uid is a
    /// UUID (or, for a static pod, 32 hex digits), and nothing else is a pod.
    #[test]
    fn a_pod_uid_is_hex_digits_and_dashes() {
        for path in [
            "/kubepods.slice/kubepods-podaaaaaaa\u{e9}aaaaaaaaaaaaaaaaaaaaaaaaaaaa.slice",
            "/kubepods/burstable/pod1f2e3\\xffd4c_5b6a_4789_8a0b_c1d2e3f4a5b6",
            "/kubepods.slice/kubepods-burstable-pod1f2e3d4c_5b6a_4789_8a0b_c1d2e3f4a5b6_0.slice",
        ] {
            assert_eq!(classify(path), None, "{path}");
        }
        let uid = "6b4a2cfb8c1f0e3d2a9b8c7d6e5f4a3b";
        let w = c(&format!("/kubepods.slice/kubepods-pod{uid}.slice"));
        assert_eq!(w.pod_uid.as_deref(), Some(uid));
        assert_eq!(w.short(), "pod:6b4a2cfb");
    }
}
