//! Record now, analyse later: `zombietrace report --for D --json --record FILE` on a machine,
//! then `zombietrace report --from FILE --json` (no root needed) prints the very same report,
//! byte for byte. Runs as root (CI does): the live half loads eBPF.

mod support;

use std::process::Command;

use support::bin;

#[test]
fn a_recording_gives_the_live_report() {
    let dir = std::env::temp_dir().join(format!("zt-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let recording = dir.join("run.jsonl");
    // A leaking parent, a slow reaper and quick ones while it records.
    let mut spawners: Vec<_> = [
        vec!["never", "--children", "2", "--hold", "2s"],
        vec!["delayed", "--children", "3", "--delay", "50ms"],
        vec!["delayed", "--children", "2", "--delay", "1ms"],
    ]
    .into_iter()
    .map(|args| {
        Command::new("sh")
            .arg("-c")
            .arg("sleep 1; exec \"$0\" spawn \"$@\"")
            .arg(bin())
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    })
    .collect();
    let live = Command::new(bin())
        .args(["report", "--for", "4s", "--json", "--leak-after", "500ms"])
        .arg("--record")
        .arg(&recording)
        .output()
        .unwrap();
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    for s in &mut spawners {
        s.wait().unwrap();
    }
    let text = std::fs::read_to_string(&recording).unwrap();
    assert!(
        text.contains("\"event\":\"leak\""),
        "the recording has the leak"
    );
    // Replayed as nobody: no privileges needed.
    let replayed = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin())
        .args(["report", "--json", "--from"])
        .arg(&recording)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert!(
        replayed.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&replayed.stdout),
        String::from_utf8_lossy(&live.stdout)
    );
}
