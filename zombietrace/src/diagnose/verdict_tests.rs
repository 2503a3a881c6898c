use super::*;

fn parent() -> Diagnosis {
    Diagnosis {
        pid: 4121,
        comm: "python3".into(),
        cmdline: "python3 server.py".into(),
        user: "alice".into(),
        state: 'S',
        state_text: "sleeping".into(),
        wchan: Some("hrtimer_nanosleep".into()),
        wchan_hidden: false,
        threads: 1,
        age_ns: 60_000_000_000,
        sigchld: Sigchld::Default,
        sigchld_blocked: false,
        traced: false,
        cgroup: None,
        workload: None,
        ns_init: false,
        nspid: None,
    }
}

#[test]
fn never_waits() {
    let v = verdict(&parent(), 12, 41_000_000_000);
    assert_eq!(
        v,
        "python3 (pid 4121) sleeps in hrtimer_nanosleep with SIGCHLD at default and 12 \
         zombies, oldest 41.00s: it starts children and never waits for them; fix the parent \
         (wait/join them, or ignore SIGCHLD), or kill it and init (or a subreaper) will reap \
         them. Killing the zombies does nothing."
    );
    let v = verdict(
        &Diagnosis {
            wchan: None,
            ..parent()
        },
        1,
        0,
    );
    assert!(
        v.starts_with("python3 (pid 4121) sleeps with SIGCHLD at default and 1 zombie:"),
        "{v}"
    );
    let v = verdict(
        &Diagnosis {
            wchan: None,
            wchan_hidden: true,
            ..parent()
        },
        1,
        0,
    );
    assert!(
        v.starts_with("python3 (pid 4121) sleeps (where is hidden from this user) with"),
        "{v}"
    );
}

#[test]
fn handler_is_the_bug() {
    let d = Diagnosis {
        sigchld: Sigchld::Caught,
        ..parent()
    };
    let v = verdict(&d, 3, 2_000_000_000);
    assert!(
        v.contains("with a SIGCHLD handler and 3 zombies, oldest 2.00s:"),
        "{v}"
    );
    assert!(v.contains("the handler is the bug"), "{v}");
}

#[test]
fn blocked() {
    let d = Diagnosis {
        sigchld_blocked: true,
        ..parent()
    };
    let v = verdict(&d, 1, 1_000_000_000);
    assert!(
        v.contains("with SIGCHLD blocked (at default) and 1 zombie of 1.00s:"),
        "{v}"
    );
    assert!(
        v.contains("SIGCHLD is blocked, so it is never notified"),
        "{v}"
    );
    let d = Diagnosis {
        sigchld: Sigchld::Caught,
        ..d
    };
    let v = verdict(&d, 1, 0);
    assert!(
        v.contains("SIGCHLD is blocked, so its handler never runs"),
        "{v}"
    );
}

#[test]
fn ignored_should_have_none() {
    let d = Diagnosis {
        sigchld: Sigchld::Ignored,
        ..parent()
    };
    let v = verdict(&d, 2, 0);
    assert!(v.contains("it should have no zombies"), "{v}");
    assert!(v.contains("exited before it ignored SIGCHLD"), "{v}");
}

#[test]
fn stopped_and_traced() {
    let d = Diagnosis {
        state: 'T',
        state_text: "stopped".into(),
        wchan: None,
        ..parent()
    };
    let v = verdict(&d, 1, 0);
    assert!(v.contains("is stopped (T)"), "{v}");
    assert!(v.contains("resume it (kill -CONT 4121)"), "{v}");
    let d = Diagnosis {
        state: 't',
        traced: true,
        ..d
    };
    let v = verdict(&d, 1, 0);
    assert!(v.contains("is stopped by its tracer (t)"), "{v}");
    assert!(v.contains("detach the tracer"), "{v}");
    // Traced but running: the tracer is mentioned, the cause is elsewhere.
    let d = Diagnosis {
        traced: true,
        ..parent()
    };
    let v = verdict(&d, 1, 0);
    assert!(
        v.starts_with("python3 (pid 4121), traced, sleeps in"),
        "{v}"
    );
    assert!(v.contains("never waits"), "{v}");
}

#[test]
fn stuck_in_the_kernel() {
    let d = Diagnosis {
        state: 'D',
        state_text: "disk sleep".into(),
        wchan: Some("nfs_wait_bit_killable".into()),
        ..parent()
    };
    let v = verdict(&d, 4, 0);
    assert!(
        v.contains("is in uninterruptible sleep (D) in nfs_wait_bit_killable"),
        "{v}"
    );
    assert!(v.contains("stuck in the kernel"), "{v}");
    assert!(
        v.contains("see what nfs_wait_bit_killable waits for"),
        "{v}"
    );
}

#[test]
fn container_init() {
    let d = Diagnosis {
        comm: "sleep".into(),
        wchan: Some("do_nanosleep".into()),
        sigchld: Sigchld::Caught,
        ns_init: true,
        nspid: Some(1),
        ..parent()
    };
    let v = verdict(&d, 1, 0);
    assert!(v.contains("a container init"), "{v}");
    assert!(v.contains("tini"), "{v}");
    // Named by its container when its cgroup says which.
    let named = Diagnosis {
        workload: crate::sys::workload::classify(&format!(
            "/libpod_parent/libpod-{}",
            "8c3af0a9b2c1".repeat(5) + "d3e4"
        )),
        ..d.clone()
    };
    let v = verdict(&named, 1, 0);
    assert!(
        v.contains("it is PID 1 of container podman:8c3af0a9b2c1 and"),
        "{v}"
    );
    assert!(!v.contains("handler is the bug"), "{v}");
    // Not an init, but inside a container: its zombies go to the container's PID 1.
    let d = Diagnosis {
        ns_init: false,
        nspid: Some(7),
        sigchld: Sigchld::Default,
        ..d
    };
    assert!(verdict(&d, 1, 0).contains("its container's PID 1"));
}

#[test]
fn init_reaps() {
    let d = Diagnosis {
        pid: 1,
        comm: "systemd".into(),
        wchan: Some("do_epoll_wait".into()),
        ..parent()
    };
    let v = verdict(&d, 1, 0);
    assert!(v.contains("it is init, which reaps orphans"), "{v}");
    let v = verdict(&d, 1, 60_000_000_000);
    assert!(v.contains("init is not reaping"), "{v}");
}

#[test]
fn exec_hint_only_on_a_clear_mismatch() {
    let h = exec_hint("sleep", &["zombietrace"]).unwrap();
    assert!(
        h.starts_with("Its zombie is named zombietrace, not sleep: either it exec'd"),
        "{h}"
    );
    assert!(h.contains("has since exec'd sleep"), "{h}");
    assert!(
        exec_hint("sleep", &["sh", "sh"])
            .unwrap()
            .contains("either they exec'd")
    );
    assert_eq!(exec_hint("zombietrace", &["zombietrace"]), None);
    assert_eq!(exec_hint("sh", &["ls", "cat"]), None);
    assert_eq!(exec_hint("sh", &[]), None);
}

/// Each label goes with its cause: the case that picks a cause picks its label.
#[test]
fn labels_follow_the_causes() {
    let cases = [
        (parent(), "never waits", "never waits for them"),
        (
            Diagnosis {
                sigchld: Sigchld::Caught,
                ..parent()
            },
            "bad handler",
            "the handler is the bug",
        ),
        (
            Diagnosis {
                sigchld_blocked: true,
                ..parent()
            },
            "SIGCHLD blkd",
            "SIGCHLD is blocked",
        ),
        (
            Diagnosis {
                sigchld: Sigchld::Ignored,
                sigchld_blocked: true,
                ..parent()
            },
            "ignored late",
            "exited before it ignored SIGCHLD",
        ),
        (
            Diagnosis {
                state: 'T',
                ..parent()
            },
            "stopped",
            "kill -CONT",
        ),
        (
            Diagnosis {
                state: 't',
                traced: true,
                ..parent()
            },
            "traced",
            "under a tracer",
        ),
        (
            Diagnosis {
                state: 'D',
                ..parent()
            },
            "stuck (D)",
            "stuck in the kernel",
        ),
        (
            Diagnosis {
                state: 'Z',
                ..parent()
            },
            "main exited",
            "its other threads",
        ),
        (
            Diagnosis {
                ns_init: true,
                pid: 1,
                ..parent()
            },
            "ctr PID 1",
            "does not reap, so every orphan",
        ),
        (Diagnosis { pid: 1, ..parent() }, "init", "it is init"),
    ];
    for (d, label_, words) in cases {
        let v = verdict(&d, 2, 1_000_000_000);
        assert!(v.contains(words), "{label_}: {v}");
        assert_eq!(label(&d), label_, "{v}");
        assert!(label_.len() <= 12);
    }
}
