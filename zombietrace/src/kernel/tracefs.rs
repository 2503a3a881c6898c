//! Finding tracefs and reading tracepoint format files from it.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

fn has_events(dir: &Path) -> bool {
    dir.join("events").is_dir()
}

/// Finds the mounted tracefs (checks /sys/kernel/tracing then
/// /sys/kernel/debug/tracing for an `events` dir); if none, tries to mount
/// tracefs at /sys/kernel/tracing; on failure a clear error saying what to run.
pub fn ensure_mounted() -> Result<PathBuf> {
    for dir in [TRACEFS, DEBUGFS_TRACING] {
        let dir = Path::new(dir);
        if has_events(dir) {
            return Ok(dir.to_path_buf());
        }
    }
    let hint = format!("mount it with `mount -t tracefs tracefs {TRACEFS}`");
    let target = CString::new(TRACEFS).expect("no NUL in path");
    let fstype = CString::new("tracefs").expect("no NUL in name");
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call;
    // tracefs takes no mount data, so a null data pointer is allowed.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        bail!("tracefs is not mounted and mounting it at {TRACEFS} failed ({err}): {hint}");
    }
    let dir = Path::new(TRACEFS);
    if !has_events(dir) {
        bail!("mounted tracefs at {TRACEFS} but it has no `events` directory: {hint}");
    }
    Ok(dir.to_path_buf())
}

/// One field of a tracepoint record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
}

/// A parsed tracepoint `format` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub name: String,
    pub id: u32,
    pub fields: Vec<Field>,
}

impl Format {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Result<&Field> {
        match self.fields.iter().find(|f| f.name == name) {
            Some(f) => Ok(f),
            None => {
                let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
                bail!(
                    "tracepoint {} has no field `{name}` (it has: {})",
                    self.name,
                    names.join(", ")
                )
            }
        }
    }
}

/// The field name in a declaration: the last identifier before `;` or a
/// trailing `[...]` (`struct siginfo * infop` → `infop`, `char comm[16]` →
/// `comm`, `__data_loc char[] comm` → `comm`).
fn decl_name(decl: &str) -> Option<&str> {
    let mut decl = decl.trim();
    if decl.ends_with(']') {
        decl = decl[..decl.rfind('[')?].trim_end();
    }
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let start = decl
        .char_indices()
        .rfind(|&(_, c)| !is_ident(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let name = &decl[start..];
    let first = name.chars().next()?;
    (!first.is_ascii_digit()).then_some(name)
}

fn parse_field(line: &str) -> Result<Field> {
    let mut parts = line.split(';').map(str::trim).filter(|p| !p.is_empty());
    let decl = parts
        .next()
        .and_then(|p| p.strip_prefix("field:"))
        .context("no `field:`")?;
    let name = decl_name(decl).with_context(|| format!("no field name in `{decl}`"))?;
    let (mut offset, mut size, mut signed) = (None, None, false);
    for part in parts {
        let Some((key, value)) = part.split_once(':') else {
            bail!("`{part}` is not `key:value`");
        };
        let num = || -> Result<u32> {
            value
                .trim()
                .parse()
                .with_context(|| format!("bad {key} `{value}`"))
        };
        match key.trim() {
            "offset" => offset = Some(num()?),
            "size" => size = Some(num()?),
            "signed" => signed = num()? != 0,
            _ => {}
        }
    }
    Ok(Field {
        name: name.to_owned(),
        offset: offset.context("no offset")?,
        size: size.context("no size")?,
        signed,
    })
}

/// Parses the text of a tracepoint `format` file.
pub fn parse_format(text: &str) -> Result<Format> {
    let (mut name, mut id, mut fields) = (None, None, Vec::new());
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("name:") {
            name = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("ID:") {
            id = Some(
                v.trim()
                    .parse()
                    .with_context(|| format!("bad tracepoint ID `{v}`"))?,
            );
        } else if line.starts_with("field:") {
            let field =
                parse_field(line).with_context(|| format!("bad tracepoint field line `{line}`"))?;
            fields.push(field);
        } else if line.starts_with("print fmt:") {
            break;
        }
    }
    Ok(Format {
        name: name.context("tracepoint format has no `name:` line")?,
        id: id.context("tracepoint format has no `ID:` line")?,
        fields,
    })
}

/// Reads and parses `<root>/events/<category>/<event>/format`.
pub fn read_format(root: &Path, category: &str, event: &str) -> Result<Format> {
    let path = root
        .join("events")
        .join(category)
        .join(event)
        .join("format");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let hint = if root.join("events").join(category).is_dir() {
                "this kernel has no such tracepoint"
            } else if category == "syscalls" {
                "syscall tracepoints need a kernel built with CONFIG_FTRACE_SYSCALLS=y"
            } else {
                "this kernel has no tracepoints in that category"
            };
            bail!(
                "tracepoint {category}/{event} does not exist ({} is missing): {hint}",
                path.display()
            );
        }
        Err(e) => {
            return Err(e).with_context(|| format!("reading tracepoint format {}", path.display()));
        }
    };
    parse_format(&text).with_context(|| format!("parsing tracepoint format {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAITID: &str = "name: sys_enter_waitid
ID: 214
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int which;\toffset:16;\tsize:8;\tsigned:0;
\tfield:pid_t upid;\toffset:24;\tsize:8;\tsigned:0;
\tfield:struct siginfo * infop;\toffset:32;\tsize:8;\tsigned:0;
\tfield:int options;\toffset:40;\tsize:8;\tsigned:0;
\tfield:struct rusage * ru;\toffset:48;\tsize:8;\tsigned:0;

print fmt: \"which: 0x%08lx, upid: 0x%08lx, infop: 0x%08lx, options: 0x%08lx, ru: 0x%08lx\", ((unsigned long)(REC->which)), ((unsigned long)(REC->upid)), ((unsigned long)(REC->infop)), ((unsigned long)(REC->options)), ((unsigned long)(REC->ru))
";

    const EXIT_WAIT4: &str = "name: sys_exit_wait4
ID: 211
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;

print fmt: \"0x%lx\", REC->ret
";

    // Kernel 6.18 (comm is a __data_loc string).
    const PROCESS_FREE: &str = "name: sched_process_free
ID: 370
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] comm;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:int prio;\toffset:16;\tsize:4;\tsigned:1;

print fmt: \"comm=%s pid=%d prio=%d\", __get_str(comm), REC->pid, REC->prio
";

    fn f(name: &str, offset: u32, size: u32, signed: bool) -> Field {
        Field {
            name: name.to_owned(),
            offset,
            size,
            signed,
        }
    }

    #[test]
    fn sys_enter_waitid() {
        let fmt = parse_format(WAITID).unwrap();
        assert_eq!(
            (fmt.name.as_str(), fmt.id, fmt.fields.len()),
            ("sys_enter_waitid", 214, 10)
        );
        assert_eq!(fmt.fields[0], f("common_type", 0, 2, false));
        assert_eq!(fmt.fields[3], f("common_pid", 4, 4, true));
        assert_eq!(
            *fmt.field("__syscall_nr").unwrap(),
            f("__syscall_nr", 8, 4, true)
        );
        assert_eq!(*fmt.field("upid").unwrap(), f("upid", 24, 8, false));
        assert_eq!(*fmt.field("infop").unwrap(), f("infop", 32, 8, false));
        assert_eq!(*fmt.field("ru").unwrap(), f("ru", 48, 8, false));
        let err = fmt.field("nope").unwrap_err().to_string();
        assert!(err.contains("sys_enter_waitid") && err.contains("nope") && err.contains("infop"));
    }

    #[test]
    fn sys_exit_wait4() {
        let fmt = parse_format(EXIT_WAIT4).unwrap();
        assert_eq!((fmt.name.as_str(), fmt.id), ("sys_exit_wait4", 211));
        assert_eq!(*fmt.field("ret").unwrap(), f("ret", 16, 8, true));
    }

    #[test]
    fn sched_process_free() {
        let fmt = parse_format(PROCESS_FREE).unwrap();
        assert_eq!(*fmt.field("comm").unwrap(), f("comm", 8, 4, false));
        assert_eq!(*fmt.field("pid").unwrap(), f("pid", 12, 4, true));
        // Older kernels: a fixed-size array.
        let old = PROCESS_FREE.replace(
            "__data_loc char[] comm;\toffset:8;\tsize:4",
            "char comm[16];\toffset:8;\tsize:16",
        );
        let fmt = parse_format(&old).unwrap();
        assert_eq!(*fmt.field("comm").unwrap(), f("comm", 8, 16, false));
    }

    #[test]
    fn decl_names() {
        assert_eq!(decl_name("struct siginfo * infop"), Some("infop"));
        assert_eq!(decl_name("struct siginfo *infop"), Some("infop"));
        assert_eq!(decl_name("char comm[16]"), Some("comm"));
        assert_eq!(decl_name("__data_loc char[] comm"), Some("comm"));
        assert_eq!(decl_name("unsigned long args[6]"), Some("args"));
        assert_eq!(decl_name("int *"), None);
        assert_eq!(decl_name(""), None);
    }

    /// Found by fuzzing (procfs, minimized to `field:\xa0`): a declaration ending in a
    /// character of more than one byte cut the text inside it, and panicked.
    #[test]
    fn declarations_with_other_characters_are_errors() {
        assert_eq!(decl_name("\u{fffd}"), None);
        assert_eq!(decl_name("int é"), None);
        assert_eq!(decl_name("int é_x"), Some("_x"));
        let text = String::from_utf8_lossy(b"name: x\nID: 1\nfield:\xa0;offset:0;size:1;\n");
        assert!(parse_format(&text).is_err());
    }

    #[test]
    fn malformed_formats_are_errors() {
        assert!(
            parse_format("ID: 1\n")
                .unwrap_err()
                .to_string()
                .contains("name")
        );
        assert!(
            parse_format("name: x\n")
                .unwrap_err()
                .to_string()
                .contains("ID")
        );
        assert!(parse_format("name: x\nID: y\n").is_err());
        assert!(parse_format("name: x\nID: 1\n\tfield:int a;\toffset:0;\n").is_err());
        assert!(parse_format("name: x\nID: 1\n\tfield:int a;\toffset:z;\tsize:4;\n").is_err());
    }

    #[test]
    fn missing_syscall_tracepoints_name_the_config() {
        let root = std::env::temp_dir().join(format!("zombietrace-tracefs-{}", std::process::id()));
        std::fs::create_dir_all(root.join("events")).unwrap();
        let err = read_format(&root, "syscalls", "sys_exit_wait4")
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&root).unwrap();
        assert!(
            err.contains("syscalls/sys_exit_wait4") && err.contains("CONFIG_FTRACE_SYSCALLS=y"),
            "{err}"
        );
    }
}
