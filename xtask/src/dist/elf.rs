//! Whether an ELF executable is static: no program interpreter (PT_INTERP) and no shared library
//! it needs (DT_NEEDED). Read from the file itself, not from what `file` or `ldd` make of it.

use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: i64 = 0;
const DT_NEEDED: i64 = 1;

#[derive(Debug, PartialEq, Eq)]
pub enum Linking {
    /// No interpreter, no needed library; `pie` for a static-pie (type DYN, relocates itself).
    Static { pie: bool },
    Dynamic {
        interpreter: Option<String>,
        needed: usize,
    },
}

pub fn linking(path: &Path) -> Result<Linking> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&data).with_context(|| format!("{} is not an x86_64 ELF executable", path.display()))
}

fn parse(data: &[u8]) -> Result<Linking> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        bail!("not a 64-bit little-endian ELF file");
    }
    let e_type = u16_at(data, 0x10)?;
    let phoff = u64_at(data, 0x20)? as usize;
    let phentsize = u16_at(data, 0x36)? as usize;
    let phnum = u16_at(data, 0x38)? as usize;
    let (mut interpreter, mut needed) = (None, 0);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let (p_type, offset, size) = (
            u32_at(data, ph)?,
            u64_at(data, ph + 8)? as usize,
            u64_at(data, ph + 32)? as usize,
        );
        let bytes = data
            .get(offset..offset + size)
            .context("segment past the end")?;
        match p_type {
            PT_INTERP => {
                let path = bytes.split(|&b| b == 0).next().unwrap_or_default();
                interpreter = Some(String::from_utf8_lossy(path).into_owned());
            }
            PT_DYNAMIC => {
                for entry in bytes.chunks_exact(16) {
                    match i64::from_le_bytes(entry[..8].try_into()?) {
                        DT_NULL => break,
                        DT_NEEDED => needed += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(if interpreter.is_none() && needed == 0 {
        Linking::Static { pie: e_type == 3 }
    } else {
        Linking::Dynamic {
            interpreter,
            needed,
        }
    })
}

fn u16_at(d: &[u8], at: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(
        d.get(at..at + 2).context("truncated")?.try_into()?,
    ))
}
fn u32_at(d: &[u8], at: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(
        d.get(at..at + 4).context("truncated")?.try_into()?,
    ))
}
fn u64_at(d: &[u8], at: usize) -> Result<u64> {
    Ok(u64::from_le_bytes(
        d.get(at..at + 8).context("truncated")?.try_into()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_dynamic() {
        let exe = std::env::current_exe().unwrap();
        match linking(&exe).unwrap() {
            Linking::Dynamic {
                interpreter: Some(interp),
                needed,
            } => {
                assert!(interp.contains("ld-linux"), "{interp}");
                assert!(needed >= 1);
            }
            other => panic!("{other:?}"),
        }
    }

    /// A hand-made static-pie: ELF header, one PT_DYNAMIC segment with no DT_NEEDED.
    #[test]
    fn static_pie_without_needed_libraries() {
        let mut elf = vec![0u8; 64 + 56 + 32];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // 64-bit
        elf[5] = 1; // little-endian
        elf[0x10..0x12].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let ph = 64;
        elf[ph..ph + 4].copy_from_slice(&PT_DYNAMIC.to_le_bytes());
        elf[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        elf[ph + 32..ph + 40].copy_from_slice(&32u64.to_le_bytes()); // p_filesz
        elf[120..128].copy_from_slice(&0x6fff_fffbi64.to_le_bytes()); // DT_FLAGS_1, then DT_NULL
        assert_eq!(parse(&elf).unwrap(), Linking::Static { pie: true });
        elf[120..128].copy_from_slice(&DT_NEEDED.to_le_bytes());
        assert_eq!(
            parse(&elf).unwrap(),
            Linking::Dynamic {
                interpreter: None,
                needed: 1
            }
        );
        assert!(parse(b"#!/bin/sh\n").is_err());
    }
}
