//! Ctrl-C in the middle of a fork storm: the tracer stops promptly, prints its summary, and
//! leaves no program attached. The tracer's programs are told apart by their kernel ids (the
//! ids with our names that appeared while it started), so other tracers loading or unloading
//! programs meanwhile do not disturb the count. The kernel releases a detached program after
//! the tracer has exited (link and perf-event teardown are deferred to a workqueue and an RCU
//! grace period), so the test waits a bounded time for the ids to go.

mod support;

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use support::{Tracer, bin, bpf::loaded_programs};

/// The tracer's program names as the kernel keeps them (cut to 15 bytes).
const OUR_PROGRAMS: [&str; 10] = [
    "sched_process_f", // sched_process_fork and sched_process_free
    "sched_process_e",
    "sched_process_w",
    "signal_generate",
    "signal_deliver",
    "io_uring_submit", // attached from Linux 6.7
    "io_uring_comple",
    "sys_exit_wait4",
    "sys_enter_waiti",
    "sys_exit_waitid",
];

/// How long the kernel may take to release a program after its last holder exited.
const RELEASE_DEADLINE: Duration = Duration::from_secs(10);

/// Ids of the loaded programs that carry one of our names.
fn ours() -> BTreeSet<u32> {
    loaded_programs()
        .into_iter()
        .filter(|(_, n)| {
            OUR_PROGRAMS
                .iter()
                .any(|o| o.starts_with(n.as_str()) || n.starts_with(o))
        })
        .map(|(id, _)| id)
        .collect()
}

#[test]
fn ctrl_c_during_a_fork_storm_detaches_everything() {
    let before = ours();
    let tracer = Tracer::start(&[]);
    let loaded: BTreeSet<u32> = ours().difference(&before).copied().collect();
    assert!(
        loaded.len() >= 9,
        "the tracer's programs (9, 11 from Linux 6.7) are loaded: {loaded:?}"
    );
    let mut storm = Command::new(bin())
        .args(["spawn", "storm", "--parents", "2", "--duration", "20s"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_secs(2));
    let pid = tracer.pid();
    let started = Instant::now();
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let (events, summary) = tracer.stop_after_signal();
    let took = started.elapsed();
    unsafe { libc::kill(storm.id() as i32, libc::SIGTERM) };
    let _ = storm.wait();
    // Prompt on hardware; an emulated CPU on a busy host runs the detach several times slower.
    let limit = Duration::from_secs(if support::late_wakeups() { 20 } else { 5 });
    assert!(took < limit, "stopping took {took:?}");
    // Under an emulated CPU on a busy host a storm makes only some tens of children a second.
    assert!(
        summary["zombies"].as_u64().unwrap() > 20,
        "the storm was traced: {summary}"
    );
    assert!(events.len() > 20);
    let exited = Instant::now();
    let left = loop {
        let left: BTreeSet<u32> = ours().intersection(&loaded).copied().collect();
        if left.is_empty() || exited.elapsed() > RELEASE_DEADLINE {
            break left;
        }
        thread::sleep(Duration::from_millis(5));
    };
    assert!(
        left.is_empty(),
        "programs {left:?} of {loaded:?} still loaded {RELEASE_DEADLINE:?} after the tracer exited"
    );
    eprintln!(
        "all {} programs released {:?} after the tracer exited",
        loaded.len(),
        exited.elapsed()
    );
}
