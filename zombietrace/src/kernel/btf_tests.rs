use super::*;

/// Writes synthetic BTF blobs: header + types + strings. Type ids are handed
/// out in order from 1, so a type may only refer to earlier ones (or to ids
/// the test computes ahead of time).
pub(super) struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    pub(super) next_id: u32,
}

impl Builder {
    pub(super) fn new() -> Builder {
        Builder {
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }

    pub(super) fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    pub(super) fn words(&mut self, words: &[u32]) {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
    }

    fn ty(&mut self, name: &str, kind: u32, vlen: u32, kflag: bool, size_or_type: u32) -> u32 {
        let name = self.str(name);
        let info = (kind << 24) | vlen | if kflag { 1 << 31 } else { 0 };
        self.words(&[name, info, size_or_type]);
        self.next_id += 1;
        self.next_id - 1
    }

    pub(super) fn int(&mut self, name: &str, size: u32) -> u32 {
        let id = self.ty(name, 1, 0, false, size);
        self.words(&[size * 8]);
        id
    }

    fn ptr(&mut self, target: u32) -> u32 {
        self.ty("", 2, 0, false, target)
    }

    fn array(&mut self, elem: u32, index: u32, nelems: u32) -> u32 {
        let id = self.ty("", 3, 0, false, 0);
        self.words(&[elem, index, nelems]);
        id
    }

    fn modifier(&mut self, kind: u32, name: &str, target: u32) -> u32 {
        self.ty(name, kind, 0, false, target)
    }

    /// `members`: (name, type id, offset word). With `kflag`, the offset word is
    /// `bitfield_size << 24 | bit_offset`.
    pub(super) fn composite(
        &mut self,
        union: bool,
        name: &str,
        size: u32,
        kflag: bool,
        members: &[(&str, u32, u32)],
    ) -> u32 {
        let kind = if union { 5 } else { 4 };
        let id = self.ty(name, kind, members.len() as u32, kflag, size);
        for &(m, ty, off) in members {
            let m = self.str(m);
            self.words(&[m, ty, off]);
        }
        id
    }

    pub(super) fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        let hdr = [
            24,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ];
        for w in hdr {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// A little kernel-like world:
/// ```c
/// typedef int pid_t;
/// struct inner { long a; int b; };
/// struct outer {
///     int x;                                  // 0
///     union { pid_t pid; struct { int lo; const volatile int hi; }; };  // 4
///     char comm[16];                          // 12
///     struct inner in;                        // 32
///     void *ptr;                              // 48
///     unsigned flag:1;                        // 56 (bitfield, kind_flag)
///     int arr2[2][3];                         // 60
/// };
/// ```
fn sample() -> Vec<u8> {
    let mut b = Builder::new();
    let int = b.int("int", 4); // 1
    let long = b.int("long", 8); // 2
    let chr = b.int("char", 1); // 3
    let pid_t = b.modifier(8, "pid_t", int); // 4 typedef
    let c_int = b.modifier(10, "", int); // 5 const
    let cv_int = b.modifier(9, "", c_int); // 6 volatile const
    let inner = b.composite(false, "inner", 16, false, &[("a", long, 0), ("b", int, 64)]); // 7
    let anon_s = b.composite(false, "", 8, false, &[("lo", int, 0), ("hi", cv_int, 32)]); // 8
    let anon_u = b.composite(true, "", 8, false, &[("pid", pid_t, 0), ("", anon_s, 0)]); // 9
    let comm = b.array(chr, int, 16); // 10
    let void_ptr = b.ptr(0); // 11
    let row = b.array(int, int, 3); // 12
    let arr2 = b.array(row, int, 2); // 13
    let typedef_inner = b.modifier(8, "inner_t", inner); // 14
    b.composite(
        false,
        "outer",
        88,
        true,
        &[
            ("x", int, 0),
            ("", anon_u, 32),
            ("comm", comm, 96),
            ("in", typedef_inner, 256),
            ("ptr", void_ptr, 384),
            ("flag", int, (1 << 24) | 448),
            ("arr2", arr2, 480),
        ],
    );
    b.composite(true, "u", 8, false, &[("i", int, 0), ("l", long, 0)]);
    // A forward declaration and an empty duplicate must not shadow `inner`.
    b.ty("inner", 7, 0, false, 0);
    b.composite(false, "inner", 0, false, &[]);
    b.build()
}

fn m(offset: u32, size: u32) -> Member {
    Member { offset, size }
}

#[test]
fn direct_members_and_typedefs() {
    let btf = Btf::parse(sample()).unwrap();
    assert_eq!(btf.member("outer", "x").unwrap(), m(0, 4));
    assert_eq!(
        btf.member("outer", "ptr").unwrap(),
        m(48, std::mem::size_of::<usize>() as u32)
    );
    assert_eq!(btf.member("outer", "in").unwrap(), m(32, 16));
    assert_eq!(btf.struct_size("outer").unwrap(), 88);
    assert_eq!(btf.struct_size("inner").unwrap(), 16);
    assert_eq!(btf.struct_size("u").unwrap(), 8);
    assert!(btf.has_type("outer") && btf.has_type("inner") && btf.has_type("u"));
    assert!(!btf.has_type("pid_t") && !btf.has_type("int") && !btf.has_type("nope"));
}

#[test]
fn nested_anonymous_unions_and_paths() {
    let btf = Btf::parse(sample()).unwrap();
    assert_eq!(btf.member("outer", "pid").unwrap(), m(4, 4));
    assert_eq!(btf.member("outer", "lo").unwrap(), m(4, 4));
    assert_eq!(btf.member("outer", "hi").unwrap(), m(8, 4));
    assert_eq!(btf.member("outer", "in.b").unwrap(), m(40, 4));
    assert_eq!(btf.member("outer", "in.a").unwrap(), m(32, 8));
    assert_eq!(btf.member("u", "l").unwrap(), m(0, 8));
    assert!(btf.has_member("outer", "hi"));
}

#[test]
fn arrays() {
    let btf = Btf::parse(sample()).unwrap();
    assert_eq!(btf.member("outer", "comm").unwrap(), m(12, 16));
    assert_eq!(btf.member("outer", "arr2").unwrap(), m(60, 24));
}

#[test]
fn errors_are_clear() {
    let btf = Btf::parse(sample()).unwrap();
    let err = btf.member("outer", "flag").unwrap_err().to_string();
    assert!(
        err.contains("bitfield") && err.contains("outer") && err.contains("flag"),
        "{err}"
    );
    let err = btf.member("outer", "nope").unwrap_err().to_string();
    assert!(err.contains("outer") && err.contains("nope"), "{err}");
    let err = btf.member("outer", "in.zz").unwrap_err().to_string();
    assert!(err.contains("outer") && err.contains("in.zz"), "{err}");
    let err = btf.member("outer", "x.y").unwrap_err().to_string();
    assert!(err.contains("not a struct"), "{err}");
    let err = btf.member("missing", "x").unwrap_err().to_string();
    assert!(err.contains("missing"), "{err}");
    assert!(btf.member("outer", "").is_err());
    assert!(btf.member("outer", "in.").is_err());
    assert!(!btf.has_member("outer", "flag"));
    assert!(btf.struct_size("missing").is_err());
}

#[test]
fn old_style_int_bitfield_rejected() {
    let mut b = Builder::new();
    let id = b.ty("unsigned int", 1, 0, false, 4);
    b.words(&[(3 << 16) | 5]); // 5 bits at bit 3
    b.composite(false, "s", 4, false, &[("f", id, 0)]);
    let btf = Btf::parse(b.build()).unwrap();
    assert!(
        btf.member("s", "f")
            .unwrap_err()
            .to_string()
            .contains("bitfield")
    );
}

#[test]
fn truncated_and_corrupt_blobs_are_errors() {
    let full = sample();
    // Every prefix is an error, never a panic.
    for len in 0..full.len() {
        assert!(
            Btf::parse(full[..len].to_vec()).is_err(),
            "prefix of {len} bytes parsed"
        );
    }
    // Arbitrary byte corruption must never panic (lookups included).
    for i in 0..full.len() {
        for v in [0x00, 0xff, 0x7f, 0x13] {
            let mut bad = full.clone();
            bad[i] = v;
            if let Ok(btf) = Btf::parse(bad) {
                for p in ["x", "pid", "hi", "in.b", "comm", "arr2", "flag", "ptr"] {
                    let _ = btf.member("outer", p);
                }
                let _ = btf.struct_size("outer");
            }
        }
    }
    let mut bad = full.clone();
    bad[0] = 0;
    assert!(Btf::parse(bad).unwrap_err().to_string().contains("magic"));
    // An unknown kind is rejected.
    let mut b = Builder::new();
    b.ty("x", 25, 0, false, 0);
    assert!(
        Btf::parse(b.build())
            .unwrap_err()
            .to_string()
            .contains("unknown kind")
    );
}

#[test]
fn cyclic_typedefs_are_errors() {
    let mut b = Builder::new();
    b.modifier(8, "a", 2); // 1 -> 2
    b.modifier(8, "b", 1); // 2 -> 1
    b.composite(false, "s", 4, false, &[("f", 1, 0)]);
    let btf = Btf::parse(b.build()).unwrap();
    assert!(btf.member("s", "f").is_err());
}

#[test]
fn missing_file_mentions_config() {
    let err = Btf::from_file(Path::new("/nonexistent/btf/vmlinux")).unwrap_err();
    assert!(err.to_string().contains("CONFIG_DEBUG_INFO_BTF=y"), "{err}");
}

#[test]
fn real_vmlinux() {
    let path = Path::new("/sys/kernel/btf/vmlinux");
    if !path.exists() {
        return;
    }
    let btf = Btf::from_file(path).unwrap();
    let pid = btf.member("task_struct", "pid").unwrap();
    let tgid = btf.member("task_struct", "tgid").unwrap();
    assert_eq!((pid.size, tgid.size), (4, 4));
    assert_eq!(tgid.offset, pid.offset + 4);
    assert_eq!(btf.member("task_struct", "comm").unwrap().size, 16);
    assert_eq!(btf.struct_size("upid").unwrap(), 16);
    assert_eq!(btf.member("upid", "nr").unwrap().offset, 0);
    assert_eq!(btf.member("sigaction", "sa_handler").unwrap().offset, 0);
    assert_eq!(btf.member("sigaction", "sa_flags").unwrap().offset, 8);
    assert_eq!(btf.member("signal_struct", "live").unwrap().size, 4);
    assert!(btf.has_member("pid", "numbers"));
    assert!(btf.has_type("task_struct") && btf.has_type("pid"));
    assert!(!btf.has_member("task_struct", "no_such_member_xyz"));
}
