//! A cgroup (v2) id, as the kernel records carry it, back to its path: the id is the inode of
//! the cgroup's directory in the v2 hierarchy. The hierarchy is found in /proc/self/mounts
//! (never assumed: on a hybrid machine it is /sys/fs/cgroup/unified), walked once, and walked
//! again for an id it does not know, at most once a second; ids map to what they resolved to,
//! within a bound. A cgroup removed before it was seen stays unknown (and says so).

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::{
    text::lossless,
    workload::{Workload, classify},
};

/// Cgroups remembered at most; past it, the map starts over from a fresh walk.
const MAX_CGROUPS: usize = 100_000;
/// How often an unknown id may trigger a walk.
const REWALK: Duration = Duration::from_secs(1);

/// A cgroup, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    pub id: u64,
    /// Its path from the v2 root (`/system.slice/nginx.service`); None when it could not be
    /// found (removed before it was seen, or no v2 hierarchy is mounted).
    pub path: Option<String>,
    pub workload: Option<Workload>,
}

impl Cgroup {
    /// What to show of it in a column: the workload, else the path (when not the root).
    pub fn short(&self) -> Option<String> {
        match (&self.workload, &self.path) {
            (Some(w), _) => Some(w.short()),
            (None, Some(p)) if p != "/" => Some(p.clone()),
            _ => None,
        }
    }
}

/// The mount point of the cgroup v2 hierarchy, from a mounts table (`/proc/self/mounts`).
pub fn v2_mount(mounts: &str) -> Option<PathBuf> {
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, point, fstype) = (fields.next()?, fields.next()?, fields.next()?);
        // Spaces in a mount point are written \040.
        (fstype == "cgroup2").then(|| PathBuf::from(point.replace("\\040", " ")))
    })
}

/// The v2 mount of this machine, if any.
pub fn this_v2_mount() -> Option<PathBuf> {
    v2_mount(&std::fs::read_to_string("/proc/self/mounts").ok()?)
}

/// Every cgroup directory under `root`: inode → path from the root.
pub fn walk(root: &Path) -> HashMap<u64, String> {
    let mut found = HashMap::new();
    let mut stack = vec![(root.to_path_buf(), String::from("/"))];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&dir) else {
            continue;
        };
        found.insert(meta.ino(), rel.clone());
        if found.len() >= MAX_CGROUPS {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let name = lossless(entry.file_name().as_encoded_bytes());
                let child = if rel == "/" {
                    format!("/{name}")
                } else {
                    format!("{rel}/{name}")
                };
                stack.push((entry.path(), child));
            }
        }
    }
    found
}

/// A cgroup to filter on, in the kernel: its id, and its level below the root (the root is 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub path: String,
    pub id: u64,
    pub level: u32,
}

/// `--cgroup PATH`: a path from the v2 root (`/system.slice/nginx.service`), or a directory
/// under the v2 mount point (`/sys/fs/cgroup/unified/system.slice/…`).
pub fn locate(mount: &Path, path: &str) -> anyhow::Result<Target> {
    let rel = Path::new(path)
        .strip_prefix(mount)
        .map(|r| format!("/{}", r.display()))
        .unwrap_or_else(|_| path.to_string());
    let rel = if rel.starts_with('/') {
        rel
    } else {
        format!("/{rel}")
    };
    let dir = mount.join(rel.trim_start_matches('/'));
    let meta = std::fs::metadata(&dir).map_err(|e| {
        anyhow::anyhow!(
            "no cgroup {rel} in the v2 hierarchy at {}: {e}",
            mount.display()
        )
    })?;
    anyhow::ensure!(meta.is_dir(), "{} is not a cgroup directory", dir.display());
    let level = rel.split('/').filter(|c| !c.is_empty()).count() as u32;
    Ok(Target {
        path: rel,
        id: meta.ino(),
        level,
    })
}

/// `--container ID`: the cgroup of the one container whose id starts with `prefix`.
pub fn find_container(mount: &Path, prefix: &str) -> anyhow::Result<Target> {
    let prefix = prefix.to_ascii_lowercase();
    anyhow::ensure!(
        !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_hexdigit()),
        "a container id is hexadecimal: `{prefix}` is not"
    );
    // The shallowest cgroup of each matching container (crun adds `/container` below it).
    let mut found: HashMap<String, (usize, String)> = HashMap::new();
    for path in walk(mount).into_values() {
        let Some(id) = classify(&path).and_then(|w| w.container_id) else {
            continue;
        };
        if id.starts_with(&prefix) {
            let depth = path.matches('/').count();
            let entry = found.entry(id).or_insert((usize::MAX, String::new()));
            if depth < entry.0 || (depth == entry.0 && path < entry.1) {
                *entry = (depth, path);
            }
        }
    }
    match found.len() {
        0 => anyhow::bail!(
            "no container's cgroup under {} has an id starting with {prefix} (is it running? on \
             a hybrid machine a container placed only in v1 hierarchies is not in the v2 one, \
             and cannot be filtered in the kernel)",
            mount.display()
        ),
        1 => {
            let (_, path) = found.into_values().next().expect("one");
            locate(mount, &path)
        }
        _ => {
            let mut ids: Vec<String> = found.into_keys().map(|id| id[..12].to_string()).collect();
            ids.sort();
            anyhow::bail!("{prefix} matches several containers: {}", ids.join(", "))
        }
    }
}

/// Resolves ids to cgroups, walking the v2 hierarchy when it meets one it does not know.
pub struct Resolver {
    root: Option<PathBuf>,
    paths: HashMap<u64, String>,
    known: HashMap<u64, Arc<Cgroup>>,
    walked: Option<Instant>,
}

impl Resolver {
    pub fn new(root: Option<PathBuf>) -> Self {
        Resolver {
            root,
            paths: HashMap::new(),
            known: HashMap::new(),
            walked: None,
        }
    }

    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    pub fn resolve(&mut self, id: u64) -> Arc<Cgroup> {
        if let Some(c) = self.known.get(&id) {
            return c.clone();
        }
        if !self.paths.contains_key(&id) && self.walked.is_none_or(|t| t.elapsed() >= REWALK) {
            self.walked = Some(Instant::now());
            if let Some(root) = &self.root {
                self.paths = walk(root);
            }
        }
        let path = self.paths.get(&id).cloned();
        let cgroup = Arc::new(Cgroup {
            id,
            workload: path.as_deref().and_then(classify),
            path,
        });
        // Only what was found is remembered: an id not found now may be a cgroup made since.
        if cgroup.path.is_some() {
            if self.known.len() >= MAX_CGROUPS {
                self.known.clear();
            }
            self.known.insert(id, cgroup.clone());
        }
        cgroup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v2_mount_wherever_it_is() {
        let hybrid = "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";
        assert_eq!(
            v2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            v2_mount("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(v2_mount("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n"), None);
        assert_eq!(
            v2_mount("cg /my\\040cgroups cgroup2 rw 0 0\n"),
            Some(PathBuf::from("/my cgroups"))
        );
    }

    #[test]
    fn finds_filter_targets() {
        let root = std::env::temp_dir().join(format!("zt-cgfind-{}", std::process::id()));
        let id = "ab".repeat(32);
        let scope = root.join(format!("machine.slice/libpod-{id}.scope"));
        std::fs::create_dir_all(scope.join("container")).unwrap();
        std::fs::create_dir_all(root.join(format!("machine.slice/libpod-conmon-{id}.scope")))
            .unwrap();
        let t = find_container(&root, "ABAB").unwrap();
        assert_eq!(t.path, format!("/machine.slice/libpod-{id}.scope"));
        assert_eq!(t.level, 2);
        assert_eq!(t.id, std::fs::metadata(&scope).unwrap().ino());
        assert!(
            find_container(&root, "cd")
                .unwrap_err()
                .to_string()
                .contains("is it running")
        );
        assert!(find_container(&root, "xyz").is_err());
        let again = locate(&root, &scope.display().to_string()).unwrap();
        assert_eq!(again, t);
        assert_eq!(locate(&root, "machine.slice").unwrap().level, 1);
        assert!(locate(&root, "/nope").is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn walks_a_tree_by_inode() {
        let root = std::env::temp_dir().join(format!("zt-cgwalk-{}", std::process::id()));
        let deep = root.join("system.slice").join("nginx.service");
        std::fs::create_dir_all(&deep).unwrap();
        let found = walk(&root);
        let ino = std::fs::metadata(&deep).unwrap().ino();
        assert_eq!(
            found.get(&ino).map(String::as_str),
            Some("/system.slice/nginx.service")
        );
        let mut r = Resolver::new(Some(root.clone()));
        let c = r.resolve(ino);
        assert_eq!(c.short().as_deref(), Some("nginx.service"));
        let unknown = r.resolve(1);
        assert_eq!(unknown.path, None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
