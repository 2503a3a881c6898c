//! `zombietrace top` in a real terminal: tmux runs it in an 80×24 pane (send-keys types,
//! capture-pane reads the screen) while the spawner holds a parent that never reaps. The view
//! must list that parent within 3 s, open it on Enter, and leave on `q`, Ctrl-C or SIGTERM with
//! the terminal as it was: the normal screen, the cursor shown, the tty's modes unchanged, the
//! shell's prompt usable. Runs as root (CI does): it loads eBPF.
//!
//! Each view watches only the processes this test makes: `--comm` with a copy of the binary
//! under a name of the test's own, which the spawner's processes then carry.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use support::{WAIT, bin, read_until_ready};

/// A tmux server of this test's own (its own socket), with one 80×24 pane running `sh`.
struct Tmux {
    socket: String,
    /// Where the shell writes what the test reads back (tty modes, pids).
    dir: PathBuf,
}

impl Tmux {
    fn start(name: &str) -> Tmux {
        let socket = format!("{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&socket);
        std::fs::create_dir_all(&dir).unwrap();
        let tmux = Tmux { socket, dir };
        // A plain shell with a prompt to find; TERM as tmux gives it inside a pane.
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "env PS1='ztp$ ' sh",
        ]);
        tmux.wait_screen("the prompt", Duration::from_secs(10), |s| {
            s.contains("ztp$")
        });
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux (apt-get install tmux)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` (literally), then Enter.
    fn line(&self, text: &str) {
        self.run(&["send-keys", "-t", "0", "-l", text]);
        self.run(&["send-keys", "-t", "0", "Enter"]);
    }

    /// Presses keys by their tmux names (`Enter`, `Escape`, `C-c`, `q`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// The pane as it shows now.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "0"])
    }

    /// The pane with what scrolled off it.
    fn history(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "0", "-S", "-1000"])
    }

    /// A tmux format of the pane (`#{alternate_on}`, `#{cursor_flag}`).
    fn format(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "0", format])
            .trim()
            .to_string()
    }

    /// Waits until the screen satisfies `pred` twice in a row, 50 ms apart (a frame may be
    /// caught while the terminal is still drawing it); returns it (or fails, showing it).
    fn wait_screen(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                thread::sleep(Duration::from_millis(50));
                let again = self.screen();
                if pred(&again) {
                    return again;
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The tty's modes as `stty -g` prints them in the pane (written to a file to read back).
    fn tty_modes(&self, file: &str) -> String {
        let path = self.dir.join(file);
        self.line(&format!("stty -g > {}", path.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(modes) = std::fs::read_to_string(&path)
                && modes.ends_with('\n')
            {
                return modes;
            }
            assert!(
                Instant::now() < deadline,
                "stty -g did not run:\n{}",
                self.screen()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts `zombietrace top` (the copy `copy`, filtered on its name) in the pane; waits for
    /// the view. Its pid is written to `top.pid`, its exit status to `top.status`.
    fn start_top(&self, copy: &Path) -> u32 {
        let name = copy.file_name().unwrap().to_str().unwrap();
        let pid_file = self.dir.join("top.pid");
        let status = self.dir.join("top.status");
        let _ = std::fs::remove_file(&status);
        self.line(&format!(
            "sh -c 'echo $$ > {pid}; exec \"$0\" \"$@\"' {bin} top --comm {name} --interval 500ms; \
             echo $? > {status}",
            pid = pid_file.display(),
            bin = bin(),
            status = status.display(),
        ));
        self.wait_screen("the view", Duration::from_secs(60), |s| {
            s.starts_with(" zombietrace top ") && s.contains("PID COMMAND")
        });
        assert_eq!(
            self.format("#{alternate_on}"),
            "1",
            "the view is on the alternate screen"
        );
        std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Waits for `top` to have ended; returns its exit status.
    fn top_status(&self) -> i32 {
        let path = self.dir.join("top.status");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(status) = std::fs::read_to_string(&path)
                && status.ends_with('\n')
            {
                return status.trim().parse().unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "top did not end:\n{}",
                self.screen()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The terminal as it was before `top`: the normal screen, the cursor shown, the tty's
    /// modes those of `before`, and the shell answering.
    fn assert_restored(&self, before: &str, how: &str) {
        assert_eq!(
            self.format("#{alternate_on}"),
            "0",
            "{how}: back on the normal screen"
        );
        assert_eq!(
            self.format("#{cursor_flag}"),
            "1",
            "{how}: the cursor is shown"
        );
        let after = self.tty_modes(&format!("after-{how}"));
        assert_eq!(after, before, "{how}: the tty's modes are as they were");
        self.line("echo restored-$((6*7))");
        self.wait_screen("the shell's answer", Duration::from_secs(10), |s| {
            s.contains("restored-42")
        });
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A copy of the binary under a name of this test's own (at most 15 bytes, as the kernel
/// keeps a command): what the spawner made from it is all the view shows.
struct Copy(PathBuf);

impl Copy {
    fn new(prefix: &str) -> Copy {
        let path = std::env::temp_dir().join(format!("{prefix}{}", std::process::id()));
        std::fs::copy(bin(), &path).expect("copy the binary");
        Copy(path)
    }

    fn name(&self) -> &str {
        self.0.file_name().unwrap().to_str().unwrap()
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A parent that never reaps its 3 children, held until it is dropped: (spawner, parent pid).
struct Leaker(Child, u32);

impl Leaker {
    fn start(copy: &Copy) -> Leaker {
        let mut child = Command::new(&copy.0)
            .args([
                "spawn",
                "never",
                "--children",
                "3",
                "--hold",
                "60s",
                "--json",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the spawner");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
        let ready = read_until_ready(&mut lines);
        let parent = ready["parent_pid"].as_u64().expect("parent_pid") as u32;
        // The rest of its output is not needed; reading it keeps the pipe from filling.
        thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        Leaker(child, parent)
    }
}

impl Drop for Leaker {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// The table's row of `pid` (`PID COMMAND …`), if shown.
fn row_of<'a>(screen: &'a str, pid: u32, name: &str) -> Option<&'a str> {
    let pid = pid.to_string();
    screen.lines().find(|l| {
        let mut words = l.split_whitespace();
        words.next() == Some(&pid) && words.next() == Some(name)
    })
}

#[test]
fn the_leaking_parent_is_listed_opened_and_the_terminal_restored_on_q() {
    let copy = Copy::new("zttop");
    let name = copy.name().to_string();
    let tmux = Tmux::start("zttop");
    let before = tmux.tty_modes("before");
    let top = tmux.start_top(&copy.0);

    let leaker = Leaker::start(&copy);
    let parent = leaker.1;
    let listed = Instant::now();
    let screen = tmux.wait_screen("the parent in the table", Duration::from_secs(3), |s| {
        row_of(s, parent, &name).is_some()
    });
    eprintln!("listed after {:?}:\n{screen}", listed.elapsed());
    // Its three zombies, out (the columns at 80: PID COMMAND WHERE OUT …).
    let row = row_of(&screen, parent, &name).unwrap();
    assert!(
        row.split_whitespace().any(|w| w == "3"),
        "3 outstanding: {row}"
    );
    // Once it is leaking (a zombie older than 1 s), the verdict says why.
    let screen = tmux.wait_screen("the verdict", WAIT, |s| {
        row_of(s, parent, &name).is_some_and(|r| r.contains("never waits"))
    });
    assert!(screen.contains("leaking 1 of"), "{screen}");

    // Filter on its pid, then open it.
    tmux.keys(&["/"]);
    tmux.run(&["send-keys", "-t", "0", "-l", &parent.to_string()]);
    tmux.keys(&["Enter"]);
    tmux.wait_screen("the filter", WAIT, |s| s.contains(": 1 shown"));
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_screen("the parent's view", WAIT, |s| {
        s.contains(&format!("{name} (pid {parent})")) && s.contains("zombies (3, oldest first)")
    });
    eprintln!("opened:\n{screen}");

    // The verdict, wrapped at spaces over the lines of the why.
    let words = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("it starts children and never waits for them"),
        "its verdict: {screen}"
    );
    assert!(screen.contains("zombie times"), "{screen}");
    assert!(
        screen.contains("outstanding, one sample per interval"),
        "{screen}"
    );
    let zombies = screen
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(name.as_str()))
        .count();
    assert_eq!(zombies, 3, "its zombies, listed with their ages: {screen}");

    tmux.keys(&["q"]);
    assert_eq!(tmux.top_status(), 0, "q exits 0");
    let history = tmux.history();
    assert!(
        !history.contains("Summary:"),
        "q leaves quietly, as top does: {history}"
    );
    tmux.assert_restored(&before, "q");
    assert!(
        unsafe { libc::kill(top as i32, 0) } != 0,
        "zombietrace top {top} is gone"
    );
    drop(leaker);
}

#[test]
fn ctrl_c_and_sigterm_restore_the_terminal_and_print_the_summary() {
    let copy = Copy::new("zttopsig");
    let name = copy.name().to_string();
    let tmux = Tmux::start("zttopsig");
    let before = tmux.tty_modes("before");
    let leaker = Leaker::start(&copy);

    for how in ["ctrl-c", "sigterm"] {
        tmux.line("clear");
        tmux.run(&["clear-history", "-t", "0"]);
        let top = tmux.start_top(&copy.0);
        tmux.wait_screen("the parent in the table", WAIT, |s| {
            row_of(s, leaker.1, &name).is_some()
        });
        match how {
            "ctrl-c" => tmux.keys(&["C-c"]),
            _ => unsafe {
                libc::kill(top as i32, libc::SIGTERM);
            },
        }
        assert_eq!(tmux.top_status(), 0, "{how}: exits 0");
        let history = tmux.history();
        assert!(
            history.contains("Summary:"),
            "{how}: the summary, as every run ends: {history}"
        );
        tmux.assert_restored(&before, how);
    }
}
