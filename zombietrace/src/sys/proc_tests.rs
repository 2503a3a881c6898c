use super::*;

const STATUS_SLEEP: &str = "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4121\n\
    Ngid:\t0\nPid:\t4121\nPPid:\t4100\nTracerPid:\t0\nUid:\t1000\t1000\t1000\t1000\n\
    Gid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nGroups:\t \nNStgid:\t4121\nNSpid:\t4121\n\
    Threads:\t1\nSigQ:\t0/96365\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
    SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n\
    CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n";

const STATUS_CONTAINER_INIT: &str = "Name:\tsleep\nState:\tt (tracing stop)\nTgid:\t9001\n\
    Pid:\t9001\nPPid:\t9000\nTracerPid:\t9100\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n\
    NStgid:\t9001\t1\nNSpid:\t9001\t1\nThreads:\t3\nSigBlk:\t0000000000010000\n\
    SigIgn:\t0000000000000004\nSigCgt:\t0000000000014a02\nCapEff:\t000001ffffffffff\n";

#[test]
fn parses_status() {
    let st = parse_status(STATUS_SLEEP.as_bytes()).unwrap();
    assert_eq!((st.state, st.state_text.as_str()), ('S', "sleeping"));
    assert_eq!((st.tgid, st.ppid, st.tracer_pid), (4121, 4100, 0));
    assert_eq!(st.uids, [1000; 4]);
    assert_eq!(st.nspid, vec![4121]);
    assert_eq!((st.threads, st.sigblk, st.sigign, st.sigcgt), (1, 0, 0, 0));

    let st = parse_status(STATUS_CONTAINER_INIT.as_bytes()).unwrap();
    assert_eq!((st.state, st.state_text.as_str()), ('t', "tracing stop"));
    assert_eq!(st.tracer_pid, 9100);
    assert_eq!(st.nspid, vec![9001, 1]);
    assert_eq!(st.threads, 3);
    assert_eq!((st.sigblk, st.sigign, st.sigcgt), (0x10000, 0x4, 0x14a02));
    assert_eq!(st.cap_eff, 0x1ffffffffff);
}

#[test]
fn a_name_that_is_not_utf8_does_not_hide_the_status() {
    let mut raw = b"Name:\t\xff\xfe\x1b[2J\n".to_vec();
    raw.extend_from_slice(STATUS_SLEEP.split_once('\n').unwrap().1.as_bytes());
    let st = parse_status(&raw).unwrap();
    assert_eq!(st.tgid, 4121);
}

#[test]
fn rejects_incomplete_status() {
    assert!(parse_status(b"Name:\tx\nState:\tS (sleeping)\n").is_err());
    assert!(parse_status(b"").is_err());
    let bad = STATUS_SLEEP.replace("SigCgt:\t0000000000000000", "SigCgt:\tnope");
    assert!(parse_status(bad.as_bytes()).is_err());
}

fn stat_line(comm: &[u8]) -> Vec<u8> {
    let mut text = b"4122 (".to_vec();
    text.extend_from_slice(comm);
    text.extend_from_slice(b") Z 4121 4121 4100 34816 4121 4194636");
    for n in 10..=52 {
        text.extend_from_slice(match n {
            22 => b" 394847".as_slice(),
            39 => b" 1",
            52 => b" 768",
            _ => b" 0",
        });
    }
    text
}

#[test]
fn parses_stat() {
    // A comm with a space and a parenthesis; 52 fields in all.
    let st = parse_stat(&stat_line(b"my (odd) cmd")).unwrap();
    assert_eq!(st.pid, 4122);
    assert_eq!(st.comm, "my (odd) cmd");
    assert_eq!((st.state, st.ppid, st.start_ticks), ('Z', 4121, 394847));
    assert_eq!((st.processor, st.exit_code), (Some(1), Some(768)));
    assert!(parse_stat(b"12 (x) S").is_err());
    assert!(parse_stat(b"(x) S").is_err());
    assert!(parse_stat(b") x (").is_err());
}

#[test]
fn a_stat_name_keeps_every_byte() {
    let st = parse_stat(&stat_line(b"\xff\xfe\n)(")).unwrap();
    assert_eq!(st.comm, "\\xff\\xfe\n)(");
    assert_eq!(st.ppid, 4121);
}

#[test]
fn parses_small_files() {
    assert_eq!(
        parse_cmdline(b"python3\0-m\0http.server\0", false),
        "python3 -m http.server"
    );
    assert_eq!(parse_cmdline(b"", false), "");
    assert_eq!(parse_cmdline(b"a\0b", true), "a b…");
    assert_eq!(parse_cmdline(b"\xff\0x", false), "\\xff x");
    assert_eq!(parse_wchan(b"0"), None);
    assert_eq!(parse_wchan(b""), None);
    assert_eq!(
        parse_wchan(b"hrtimer_nanosleep"),
        Some("hrtimer_nanosleep".into())
    );
    assert_eq!(
        parse_syscall(b"61 0xffffffff 0x7ffd 0x0 0x0 0x0 0x0 0x7ffd 0x7f12\n"),
        Some(61)
    );
    assert_eq!(parse_syscall(b"running\n"), None);
    assert_eq!(parse_syscall(b"-1 0x7ffd 0x7f12\n"), None);
    assert_eq!(parse_syscall(b""), None);
    let hybrid = b"9:name=systemd:/\n1:cpu:/\n0::/user.slice/session-3.scope\n";
    assert_eq!(
        parse_cgroup(hybrid),
        Some("/user.slice/session-3.scope".into())
    );
    assert_eq!(
        parse_cgroup(b"4:memory:/docker/abc\n"),
        Some("4:memory:/docker/abc".into())
    );
    assert_eq!(parse_cgroup(b""), None);
    assert_eq!(parse_loginuid(b"4294967295"), None);
    assert_eq!(parse_loginuid(b"1000\n"), Some(1000));
}

#[test]
fn parses_masks() {
    assert_eq!(parse_mask("0000000000010000").unwrap(), 0x10000);
    assert_eq!(parse_mask(" 0000000001001000\n").unwrap(), 0x1001000);
    // 128-bit sets: the low word is last.
    assert_eq!(
        parse_mask("00000000000000000000000000010000").unwrap(),
        0x10000
    );
    assert!(parse_mask("zz").is_err());
    assert!(parse_mask("").is_err());
    assert!(
        parse_mask("0é000000000000000").is_err(),
        "cut inside a character"
    );
}

#[test]
fn reads_itself_and_knows_the_gone() {
    let me = std::process::id();
    let st = stat(me).unwrap();
    assert_eq!(st.pid, me);
    assert!(status(me, None).unwrap().threads >= 1);
    assert!(tasks(me).contains(&me));
    assert!(pids().contains(&me));
    assert!(stat(u32::MAX - 1).unwrap_err().is_gone());
    assert!(pid_max().is_some_and(|m| m > me));
}

#[test]
fn ages_are_upper_bounds() {
    let hz = procfs::ticks_per_second();
    assert_eq!(age_ns(hz * 10, 12_000_000_000), 2_000_000_000);
    assert_eq!(age_ns(hz * 10, 5), 0);
}

#[test]
fn lists_every_cgroup_path_v2_first() {
    let hybrid = b"12:pids:/docker/abc\n1:name=systemd:/system.slice/docker-abc.scope\n0::/\n";
    assert_eq!(
        parse_cgroup_paths(hybrid),
        vec!["/", "/docker/abc", "/system.slice/docker-abc.scope"]
    );
    assert!(parse_cgroup_paths(b"").is_empty());
}

/// Found by fuzzing (procfs, minimized): a stat whose state is a NUL (or any non-letter) read
/// as that state, which `ps` prints raw. procfs always writes a letter there.
#[test]
fn a_state_that_is_not_a_letter_is_malformed() {
    for state in [0, 0x1b, b'7'] {
        let mut raw = stat_line(b"x");
        let at = raw.iter().position(|&b| b == b'Z').unwrap();
        raw[at] = state;
        assert!(parse_stat(&raw).is_err(), "{state}");
    }
    let bad = STATUS_SLEEP.replace("State:\tS", "State:\t\u{1b}");
    assert!(parse_status(bad.as_bytes()).is_err());
}
