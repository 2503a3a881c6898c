//! The kernel's BPF objects as the tests see them from outside: every program loaded in the
//! system (by id and name), and the programs, maps and links one process holds (its
//! `/proc/<pid>/fdinfo`), so a test can tell one tracer's objects from another's and prove they
//! are released when it exits.

use std::{collections::BTreeSet, fs, thread, time::Duration, time::Instant};

const BPF_PROG_GET_NEXT_ID: i64 = 11;
const BPF_MAP_GET_NEXT_ID: i64 = 12;
const BPF_PROG_GET_FD_BY_ID: i64 = 13;
const BPF_OBJ_GET_INFO_BY_FD: i64 = 15;
const BPF_LINK_GET_NEXT_ID: i64 = 31;

fn bpf(cmd: i64, attr: &mut [u64; 4]) -> i64 {
    // SAFETY: the attribute is 32 bytes, as the size says; the kernel reads and writes only it
    // (and, for OBJ_GET_INFO, the buffer whose address and length it holds).
    unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), 32) }
}

/// Every id of one kind (BPF_*_GET_NEXT_ID) in the system now.
fn ids(next_id_cmd: i64) -> BTreeSet<u32> {
    let mut ids = BTreeSet::new();
    let mut id = 0u32;
    loop {
        let mut attr = [u64::from(id), 0, 0, 0];
        if bpf(next_id_cmd, &mut attr) != 0 {
            return ids;
        }
        id = (attr[0] >> 32) as u32;
        ids.insert(id);
    }
}

/// Id and name of every BPF program loaded in the system (BPF_PROG_GET_NEXT_ID +
/// OBJ_GET_INFO).
pub fn loaded_programs() -> Vec<(u32, String)> {
    let mut names = Vec::new();
    for id in ids(BPF_PROG_GET_NEXT_ID) {
        let mut attr = [u64::from(id), 0, 0, 0];
        let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr);
        if fd < 0 {
            continue; // unloaded meanwhile
        }
        let mut info = [0u8; 80];
        let mut attr = [fd as u64 | (80u64 << 32), info.as_mut_ptr() as u64, 0, 0];
        if bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) == 0 {
            let raw = &info[64..80];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(16);
            names.push((id, String::from_utf8_lossy(&raw[..end]).into_owned()));
        }
        // SAFETY: closing the fd we were just given.
        unsafe { libc::close(fd as i32) };
    }
    names
}

/// The BPF objects a process holds open, by kernel id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub programs: BTreeSet<u32>,
    pub maps: BTreeSet<u32>,
    pub links: BTreeSet<u32>,
}

impl Held {
    /// What `pid` holds now, read from `/proc/<pid>/fd` and `fdinfo` (`prog_id:`, `map_id:`,
    /// `link_id:`).
    pub fn by(pid: u32) -> Held {
        let mut held = Held::default();
        let fds = fs::read_dir(format!("/proc/{pid}/fd")).expect("read the tracer's fds");
        for fd in fds.filter_map(Result::ok) {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            let info = fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .unwrap_or_default();
            let field = |key: &str| -> Option<u32> {
                info.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.trim().parse().ok())
            };
            let (set, key) = match target.as_str() {
                "anon_inode:bpf-prog" => (&mut held.programs, "prog_id:"),
                "anon_inode:bpf-map" => (&mut held.maps, "map_id:"),
                "anon_inode:bpf_link" => (&mut held.links, "link_id:"),
                _ => continue,
            };
            set.insert(field(key).unwrap_or_else(|| panic!("no {key} in fdinfo of {target}")));
        }
        held
    }

    /// Those of them still in the system.
    pub fn still_loaded(&self) -> Held {
        let keep = |mine: &BTreeSet<u32>, cmd| mine.intersection(&ids(cmd)).copied().collect();
        Held {
            programs: keep(&self.programs, BPF_PROG_GET_NEXT_ID),
            maps: keep(&self.maps, BPF_MAP_GET_NEXT_ID),
            links: keep(&self.links, BPF_LINK_GET_NEXT_ID),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.programs.is_empty() && self.maps.is_empty() && self.links.is_empty()
    }

    /// Whether any id is shared with `other`.
    pub fn overlaps(&self, other: &Held) -> bool {
        !self.programs.is_disjoint(&other.programs)
            || !self.maps.is_disjoint(&other.maps)
            || !self.links.is_disjoint(&other.links)
    }

    /// Waits (at most `deadline`) until none of them is in the system any more; returns those
    /// still there at the end (empty: all released).
    pub fn wait_released(&self, deadline: Duration) -> Held {
        let began = Instant::now();
        loop {
            let left = self.still_loaded();
            if left.is_empty() || began.elapsed() > deadline {
                return left;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}
