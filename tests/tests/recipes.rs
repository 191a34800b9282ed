//! The recipes in `tests/examples/` (leader election, config sync, distributed lock) run as
//! processes against a 3-member ensemble while one member is killed with SIGKILL and started
//! again. Each example checks its own invariants and exits 0 only if they held.
//!
//! The examples are built by `cargo build --workspace --all-targets` (tests/run.sh does it
//! before `cargo test`); this test runs the binaries in `<target>/debug/examples/`.

use rookery_tests::ensemble::Ensemble;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Bounds every wait, so that a hang fails the test; nothing asserts how fast anything is.
const GUARD: Duration = Duration::from_secs(240);
/// Passed to the examples, so that they give up (and say where they were) before `GUARD`.
const EXAMPLE_GUARD_SECS: &str = "200";

/// Which member to kill while the example runs.
#[derive(Clone, Copy, Debug)]
enum Victim {
    Leader,
    Follower,
}

/// The compiled example `name`: `<target>/<profile>/examples/<name>`, next to the `deps/`
/// directory this test runs from.
fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable in <target>/<profile>/deps");
    let bin = profile_dir.join("examples").join(name);
    assert!(
        bin.is_file(),
        "example binary {} not found: run `cargo build --workspace --all-targets` first \
         (tests/run.sh does)",
        bin.display()
    );
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.rs"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(bin_time), Some(source_time)) = (modified(&bin), modified(&source)) {
        assert!(
            bin_time >= source_time,
            "example binary {} is older than {}: run `cargo build --workspace --all-targets` first",
            bin.display(),
            source.display()
        );
    }
    bin
}

/// A running example; dropping it kills the process (also when the test fails).
struct Example {
    name: String,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Example {
    fn spawn(name: &str, args: &[String]) -> Example {
        let mut child = Command::new(example_bin(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn example {name}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let readers = vec![
            Self::collect(stdout, "", output.clone()),
            Self::collect(stderr, "stderr: ", output.clone()),
        ];
        Example {
            name: name.to_string(),
            child,
            output,
            readers,
        }
    }

    fn collect(
        from: impl Read + Send + 'static,
        tag: &'static str,
        into: Arc<Mutex<Vec<String>>>,
    ) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                into.lock().unwrap().push(format!("{tag}{line}"));
            }
        })
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn lines_matching(&self, pattern: &str) -> usize {
        let output = self.output.lock().unwrap();
        output.iter().filter(|l| l.contains(pattern)).count()
    }

    /// Waits until at least `count` output lines contain `pattern`, or the example exited.
    fn wait_for_lines(&mut self, pattern: &str, count: usize) {
        let deadline = Instant::now() + GUARD;
        while self.lines_matching(pattern) < count && self.running() {
            assert!(
                Instant::now() < deadline,
                "{}: no {count} lines with {pattern:?} within {GUARD:?}\n{}",
                self.name,
                self.output()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the example to exit; kills it (failing the test) if it runs past the guard.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GUARD;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                panic!(
                    "{} did not exit within {GUARD:?}\n{}",
                    self.name,
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_leader(ensemble: &Ensemble) -> usize {
    let deadline = Instant::now() + GUARD;
    loop {
        if let Some(leader) = ensemble.leader() {
            return leader;
        }
        assert!(Instant::now() < deadline, "no leader elected");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs example `name` against a fresh 3-member ensemble. Once `progress` appeared in its
/// output, kills `victim` with SIGKILL; once the example made more progress on the other
/// two members (or finished), starts the victim again. The example must exit 0.
fn run_recipe(name: &str, args: &[&str], progress: &str, victim: Victim) {
    example_bin(name); // Fails early if it is not built.
                       // initLimit and syncLimit: Apache ZooKeeper requires them (ROOKERY_TEST_TARGET=zk).
    let limits = vec![
        ("initLimit".to_string(), "10".to_string()),
        ("syncLimit".to_string(), "5".to_string()),
    ];
    let mut ensemble = Ensemble::start_with(3, limits);
    let leader = wait_leader(&ensemble);
    let victim = match victim {
        Victim::Leader => leader,
        Victim::Follower => (leader + 1) % 3,
    };
    let mut command_line = vec![ensemble.connect_string()];
    command_line.extend(args.iter().map(|a| a.to_string()));
    command_line.extend(["--guard-secs".to_string(), EXAMPLE_GUARD_SECS.to_string()]);
    let mut example = Example::spawn(name, &command_line);

    example.wait_for_lines(progress, 2);
    assert!(
        example.running(),
        "{name} finished before the fault was injected; give it more work\n{}",
        example.output()
    );
    let seen = example.lines_matching(progress);
    ensemble.members[victim].kill9();
    eprintln!(
        "{name}: killed member {victim} (leader was {leader}) after {seen} lines with {progress:?}"
    );
    example.wait_for_lines(progress, seen + 3);
    ensemble.members[victim].restart_unready();
    ensemble.members[victim].wait_serving();
    eprintln!("{name}: member {victim} serves again");

    let status = example.wait_exit();
    let output = example.output();
    assert!(status.success(), "{name} exited with {status}\n{output}");
    eprintln!("---- {name} output ----\n{output}\n---- end of {name} output ----");
}

#[test]
fn leader_election_survives_a_follower_kill() {
    run_recipe(
        "leader_election",
        &["--candidates", "3", "--terms", "12", "--hold-ms", "300"],
        " leads (",
        Victim::Follower,
    );
}

#[test]
fn config_sync_survives_a_follower_kill() {
    run_recipe(
        "config_sync",
        &["--watchers", "3", "--updates", "60", "--interval-ms", "100"],
        "writer: ",
        Victim::Follower,
    );
}

#[test]
fn distributed_lock_survives_the_leader_kill() {
    run_recipe(
        "distributed_lock",
        &["--workers", "4", "--rounds", "15", "--hold-ms", "50"],
        " holds the lock (",
        Victim::Leader,
    );
}
