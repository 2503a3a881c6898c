//! A small, dependency-free parser of the raw BTF format (the `.BTF` blob that
//! `/sys/kernel/btf/vmlinux` is), just enough to resolve struct member offsets
//! and sizes of the running kernel at load time (aya has no CO-RE for Rust
//! eBPF programs, so the loader hands these offsets to them as globals).
//!
//! Format reference: <https://docs.kernel.org/bpf/btf.html>.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result, bail};

const MAGIC: u16 = 0xeb9f;
const HEADER_MIN_LEN: usize = 24;
const TYPE_HEADER_LEN: usize = 12;
/// Depth limit for following typedef/const/... chains, array nesting and
/// anonymous member nesting, so corrupt (cyclic) data is an error, not a hang.
const MAX_DEPTH: usize = 64;
/// Longest name read (the kernel's KSYM_NAME_LEN is 512), so that a string section without
/// NULs is not scanned to its end for every name.
const MAX_NAME_LEN: usize = 1024;

const KIND_INT: u8 = 1;
const KIND_PTR: u8 = 2;
const KIND_ARRAY: u8 = 3;
const KIND_STRUCT: u8 = 4;
const KIND_UNION: u8 = 5;
const KIND_ENUM: u8 = 6;
const KIND_FWD: u8 = 7;
const KIND_TYPEDEF: u8 = 8;
const KIND_VOLATILE: u8 = 9;
const KIND_CONST: u8 = 10;
const KIND_RESTRICT: u8 = 11;
const KIND_FUNC: u8 = 12;
const KIND_FUNC_PROTO: u8 = 13;
const KIND_VAR: u8 = 14;
const KIND_DATASEC: u8 = 15;
const KIND_FLOAT: u8 = 16;
const KIND_DECL_TAG: u8 = 17;
const KIND_TYPE_TAG: u8 = 18;
const KIND_ENUM64: u8 = 19;

/// A struct or union member, as resolved by [`Btf::member`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Bytes from the start of the outermost struct.
    pub offset: u32,
    /// Bytes of the member's type after resolving typedef/const/volatile/restrict/type_tag.
    pub size: u32,
}

/// One parsed `btf_type` header; the kind-specific data stays in `Btf::data`.
#[derive(Debug, Clone, Copy)]
struct Type {
    name_off: u32,
    info: u32,
    size_or_type: u32,
    /// Absolute offset in `Btf::data` of the kind-specific data that follows.
    extra: usize,
}

impl Type {
    fn kind(&self) -> u8 {
        ((self.info >> 24) & 0x1f) as u8
    }
    fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }
    fn kind_flag(&self) -> bool {
        self.info >> 31 == 1
    }
    fn is_composite(&self) -> bool {
        matches!(self.kind(), KIND_STRUCT | KIND_UNION)
    }
}

/// Parsed BTF: the type table (ids from 1; index 0 is `void`) and the string table.
#[derive(Debug)]
pub struct Btf {
    data: Vec<u8>,
    str_start: usize,
    str_len: usize,
    types: Vec<Type>,
    /// Struct and union names to type ids (the first definition with members wins).
    by_name: HashMap<String, u32>,
}

fn read_u32(data: &[u8], at: usize) -> Result<u32> {
    match at.checked_add(4).and_then(|end| data.get(at..end)) {
        Some(b) => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        None => bail!(
            "BTF is truncated: 4-byte read at {at} past the end ({} bytes)",
            data.len()
        ),
    }
}

impl Btf {
    /// Reads and parses a raw BTF file.
    pub fn from_file(path: &Path) -> Result<Btf> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{} does not exist: the kernel needs CONFIG_DEBUG_INFO_BTF=y to expose its type information (BTF)",
                path.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Btf::parse(data).with_context(|| format!("parsing BTF from {}", path.display()))
    }

    /// Reads and parses the running kernel's BTF from `/sys/kernel/btf/vmlinux`.
    pub fn from_sys() -> Result<Btf> {
        Btf::from_file(Path::new("/sys/kernel/btf/vmlinux"))
    }

    /// Parses a raw BTF blob. Every read is bounds-checked: a truncated or corrupt
    /// blob is an error, never a panic.
    pub fn parse(data: Vec<u8>) -> Result<Btf> {
        if data.len() < HEADER_MIN_LEN {
            bail!(
                "BTF is truncated: {} bytes, shorter than the header",
                data.len()
            );
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic == MAGIC.swap_bytes() {
            bail!("BTF is big-endian, which is not supported");
        }
        if magic != MAGIC {
            bail!("not BTF: magic is {magic:#06x}, expected {MAGIC:#06x}");
        }
        let version = data[2];
        if version != 1 {
            bail!("unsupported BTF version {version} (expected 1)");
        }
        let hdr_len = read_u32(&data, 4)? as usize;
        if hdr_len < HEADER_MIN_LEN || hdr_len > data.len() {
            bail!(
                "BTF header length {hdr_len} is invalid (blob is {} bytes)",
                data.len()
            );
        }
        let section = |off_at: usize, what: &str| -> Result<(usize, usize)> {
            let off = read_u32(&data, off_at)? as usize;
            let len = read_u32(&data, off_at + 4)? as usize;
            let start = hdr_len.checked_add(off);
            match start.and_then(|s| s.checked_add(len)) {
                Some(end) if end <= data.len() => Ok((hdr_len + off, len)),
                _ => bail!(
                    "BTF is truncated: {what} section (offset {off}, length {len}) ends past the blob ({} bytes)",
                    data.len()
                ),
            }
        };
        let (type_start, type_len) = section(8, "type")?;
        let (str_start, str_len) = section(16, "string")?;

        let mut btf = Btf {
            data: Vec::new(),
            str_start,
            str_len,
            types: Vec::with_capacity(type_len / 24 + 1),
            by_name: HashMap::new(),
        };
        // Type id 0 is void.
        btf.types.push(Type {
            name_off: 0,
            info: 0,
            size_or_type: 0,
            extra: type_start,
        });
        let type_end = type_start + type_len;
        let mut pos = type_start;
        while pos < type_end {
            let id = btf.types.len();
            if type_end - pos < TYPE_HEADER_LEN {
                bail!("BTF is truncated: type {id} header at {pos} runs past the type section");
            }
            let t = Type {
                name_off: read_u32(&data, pos)?,
                info: read_u32(&data, pos + 4)?,
                size_or_type: read_u32(&data, pos + 8)?,
                extra: pos + TYPE_HEADER_LEN,
            };
            let vlen = t.vlen();
            let extra_len = match t.kind() {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => vlen * 12,
                KIND_ENUM | KIND_FUNC_PROTO => vlen * 8,
                KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
                | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
                k => bail!("BTF type {id} at offset {pos} has unknown kind {k}"),
            };
            if type_end - t.extra < extra_len {
                bail!(
                    "BTF is truncated: type {id} (kind {}) runs past the type section",
                    t.kind()
                );
            }
            pos = t.extra + extra_len;
            btf.types.push(t);
        }
        if u32::try_from(btf.types.len()).is_err() {
            bail!("BTF has too many types");
        }
        btf.data = data;

        let mut by_name: HashMap<String, u32> = HashMap::new();
        for (id, t) in btf.types.iter().enumerate().skip(1) {
            if !t.is_composite() || t.name_off == 0 {
                continue;
            }
            let name = btf.name(t.name_off)?;
            if name.is_empty() {
                continue;
            }
            match by_name.get_mut(name) {
                None => {
                    by_name.insert(name.to_owned(), id as u32);
                }
                // Prefer a definition with members over an empty one.
                Some(prev) if btf.types[*prev as usize].vlen() == 0 && t.vlen() > 0 => {
                    *prev = id as u32;
                }
                Some(_) => {}
            }
        }
        btf.by_name = by_name;
        Ok(btf)
    }

    /// The NUL-terminated string at `off` in the string section.
    fn name(&self, off: u32) -> Result<&str> {
        let off = off as usize;
        if off >= self.str_len {
            bail!(
                "BTF string offset {off} is outside the string section ({} bytes)",
                self.str_len
            );
        }
        let bytes = &self.data[self.str_start + off..self.str_start + self.str_len];
        let bytes = &bytes[..bytes.len().min(MAX_NAME_LEN + 1)];
        let Some(nul) = bytes.iter().position(|&b| b == 0) else {
            if bytes.len() > MAX_NAME_LEN {
                bail!("BTF string at offset {off} is too long (over {MAX_NAME_LEN} bytes)");
            }
            bail!("BTF string at offset {off} is not NUL-terminated");
        };
        std::str::from_utf8(&bytes[..nul])
            .with_context(|| format!("BTF string at offset {off} is not UTF-8"))
    }

    fn get(&self, id: u32) -> Result<&Type> {
        match self.types.get(id as usize) {
            Some(t) => Ok(t),
            None => bail!(
                "BTF type id {id} is out of range ({} types)",
                self.types.len() - 1
            ),
        }
    }

    /// Follows typedef/const/volatile/restrict/type_tag to the underlying type id.
    fn resolve(&self, mut id: u32) -> Result<u32> {
        for _ in 0..MAX_DEPTH {
            let t = self.get(id)?;
            match t.kind() {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type;
                }
                _ => return Ok(id),
            }
        }
        bail!("BTF type chain from id {id} is too deep (cyclic?)")
    }

    /// Size in bytes of a type, after resolving modifiers.
    fn type_size(&self, id: u32, depth: usize) -> Result<u32> {
        if depth > MAX_DEPTH {
            bail!("BTF type {id} is nested too deeply (cyclic?)");
        }
        let id = self.resolve(id)?;
        let t = self.get(id)?;
        match t.kind() {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_FLOAT | KIND_ENUM64 => {
                Ok(t.size_or_type)
            }
            KIND_PTR => Ok(std::mem::size_of::<usize>() as u32),
            KIND_ARRAY => {
                let elem = read_u32(&self.data, t.extra)?;
                let nelems = read_u32(&self.data, t.extra + 8)?;
                let elem_size = self.type_size(elem, depth + 1)?;
                match elem_size.checked_mul(nelems) {
                    Some(s) => Ok(s),
                    None => bail!("BTF array type {id} size overflows"),
                }
            }
            0 => bail!("BTF type {id} is void, which has no size"),
            k => bail!("BTF type {id} (kind {k}) has no size"),
        }
    }

    /// The struct or union named `name`.
    fn composite(&self, name: &str) -> Result<&Type> {
        match self.by_name.get(name) {
            Some(&id) => self.get(id),
            None => bail!("kernel BTF has no struct or union named `{name}`"),
        }
    }

    /// Finds the member `name` of the struct/union `t`, looking inside anonymous
    /// struct/union members as if their members were direct. Returns the member's
    /// type id and its bit offset from the start of `t`, and whether it is a bitfield.
    /// `searched`: anonymous types already searched in vain, not searched again (corrupt
    /// data can share one among many members, many levels deep).
    fn find_in(
        &self,
        t: &Type,
        name: &str,
        depth: usize,
        searched: &mut HashSet<u32>,
    ) -> Result<Option<(u32, u64, bool)>> {
        if depth > MAX_DEPTH {
            bail!("BTF anonymous members are nested too deeply (cyclic?)");
        }
        for i in 0..t.vlen() {
            let at = t.extra + i * 12;
            let m_name = read_u32(&self.data, at)?;
            let m_type = read_u32(&self.data, at + 4)?;
            let m_off = read_u32(&self.data, at + 8)?;
            let (bit_off, bitfield_size) = if t.kind_flag() {
                (m_off & 0x00ff_ffff, m_off >> 24)
            } else {
                (m_off, 0)
            };
            let m_name = self.name(m_name)?;
            if m_name == name {
                return Ok(Some((m_type, bit_off as u64, bitfield_size != 0)));
            }
            if m_name.is_empty() {
                let inner_id = self.resolve(m_type)?;
                let inner = self.get(inner_id)?;
                if !inner.is_composite() || searched.contains(&inner_id) {
                    continue;
                }
                if let Some((ty, off, bf)) = self.find_in(inner, name, depth + 1, searched)? {
                    return Ok(Some((ty, off + bit_off as u64, bf)));
                }
                searched.insert(inner_id);
            }
        }
        Ok(None)
    }

    /// Resolves `path` (a member name, possibly nested with dots: `"sa.sa_flags"`)
    /// in the struct or union `strukt`. Members of anonymous struct/union members
    /// are found as if direct. Errors if the struct or member is missing, if a
    /// member is a bitfield, or if an intermediate member is not a struct/union.
    pub fn member(&self, strukt: &str, path: &str) -> Result<Member> {
        let mut t = self.composite(strukt)?;
        let mut bit_off: u64 = 0;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            if part.is_empty() {
                bail!("invalid member path `{path}` for kernel struct `{strukt}`");
            }
            let Some((ty, off, bitfield)) = self.find_in(t, part, 0, &mut HashSet::new())? else {
                bail!("kernel struct `{strukt}` has no member `{path}` (no `{part}`)");
            };
            if bitfield {
                bail!(
                    "member `{path}` of kernel struct `{strukt}` is a bitfield, which is not supported"
                );
            }
            bit_off += off;
            let ty = self.resolve(ty)?;
            let resolved = self.get(ty)?;
            if resolved.kind() == KIND_INT {
                // Old-style bitfields are encoded in the int itself.
                let enc = read_u32(&self.data, resolved.extra)?;
                let (int_bit_off, bits) = ((enc >> 16) & 0xff, enc & 0xff);
                if int_bit_off != 0 || bits != resolved.size_or_type.saturating_mul(8) {
                    bail!(
                        "member `{path}` of kernel struct `{strukt}` is a bitfield, which is not supported"
                    );
                }
            }
            if parts.peek().is_some() {
                if !resolved.is_composite() {
                    bail!(
                        "member `{part}` of kernel struct `{strukt}` (in `{path}`) is not a struct or union"
                    );
                }
                t = resolved;
                continue;
            }
            if !bit_off.is_multiple_of(8) {
                bail!(
                    "member `{path}` of kernel struct `{strukt}` is not byte-aligned (bit offset {bit_off})"
                );
            }
            let offset = u32::try_from(bit_off / 8)
                .with_context(|| format!("offset of `{strukt}.{path}` overflows"))?;
            let size = self
                .type_size(ty, 0)
                .with_context(|| format!("size of member `{path}` of kernel struct `{strukt}`"))?;
            return Ok(Member { offset, size });
        }
        bail!("empty member path for kernel struct `{strukt}`")
    }

    /// Whether [`Btf::member`] would succeed.
    pub fn has_member(&self, strukt: &str, path: &str) -> bool {
        self.member(strukt, path).is_ok()
    }

    /// Size in bytes of the struct or union `strukt`.
    pub fn struct_size(&self, strukt: &str) -> Result<u32> {
        Ok(self.composite(strukt)?.size_or_type)
    }

    /// Whether a struct or union named `kind_struct_name` exists.
    pub fn has_type(&self, kind_struct_name: &str) -> bool {
        self.by_name.contains_key(kind_struct_name)
    }
}

#[cfg(test)]
#[path = "btf_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "btf_props_tests.rs"]
mod props_tests;
