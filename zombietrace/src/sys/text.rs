//! Bytes a process controls (its command name, arguments, cgroup path) as text, losing nothing.
//!
//! Valid UTF-8 is kept as it is; a byte that is not part of valid UTF-8 becomes `\xNN`, and a
//! backslash becomes `\\`, so that `\xNN` always means such a byte and no two names read the
//! same. Control characters stay as they are here: every text output escapes them on the way
//! out (`output::escape`), and JSON escapes them by its own rules.

/// The text form of process-controlled bytes (see the module docs).
pub fn lossless(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `lossless` of a NUL-terminated kernel buffer (a `comm`): the bytes up to the first NUL.
pub fn lossless_cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    lossless(&bytes[..end])
}

/// Bytes from their escaped text form, as the outputs show them and as a person types them
/// (`zombietrace spawn … --child-name '\e[2J\xff'`): `\xNN`, `\u{NNNN}`, `\n`, `\t`, `\r`,
/// `\e` (ESC), `\a` (BEL) and `\\`; everything else stands for itself.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('r') => out.push(b'\r'),
            Some('e') => out.push(0x1b),
            Some('a') => out.push(0x07),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let byte = u8::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)
                    .ok_or_else(|| format!("`\\x{hex}` is not two hex digits"))?;
                out.push(byte);
            }
            Some('u') => {
                let rest: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let code = rest
                    .strip_prefix('{')
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("`\\u{rest}}}` is not a character"))?;
                let mut buf = [0; 4];
                out.extend_from_slice(code.encode_utf8(&mut buf).as_bytes());
            }
            Some(other) => return Err(format!("unknown escape `\\{other}`")),
            None => return Err("a lone `\\` at the end".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// What the outputs show reads back as the very bytes: the form is lossless and no two
        /// names look alike.
        #[test]
        fn shown_names_read_back_as_their_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let shown = crate::output::escape::escape(&lossless(&bytes)).into_owned();
            prop_assert_eq!(unescape(&shown).unwrap(), bytes);
        }
    }

    #[test]
    fn unescapes_what_people_type() {
        assert_eq!(unescape("\\e[2J\\x07a\\n").unwrap(), b"\x1b[2J\x07a\n");
        assert_eq!(unescape("\\u{9b}").unwrap(), "\u{9b}".as_bytes());
        assert!(unescape("\\q").is_err());
        assert!(unescape("\\x1").is_err());
        assert!(unescape("a\\").is_err());
    }

    #[test]
    fn keeps_utf8_and_marks_the_rest() {
        assert_eq!(lossless(b"python3"), "python3");
        assert_eq!(lossless("zombié".as_bytes()), "zombié");
        assert_eq!(lossless(b"\xff\xfeab"), "\\xff\\xfeab");
        assert_eq!(
            lossless(b"a\\xff"),
            "a\\\\xff",
            "a real backslash is doubled"
        );
        assert_eq!(
            lossless(b"a\nb\x1b"),
            "a\nb\x1b",
            "controls are the outputs' job"
        );
        assert_eq!(lossless_cstr(b"sleep\0\0junk"), "sleep");
        assert_eq!(lossless_cstr(b"0123456789abcdef"), "0123456789abcdef");
    }
}
