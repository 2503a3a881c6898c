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

#[cfg(test)]
mod tests {
    use super::*;

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
