//! Replays the committed corpus through the target bodies on a plain `cargo
//! test` (stable, no libFuzzer): every input the fuzzer ever kept, and every
//! crash it found and we fixed, keeps passing.
//!
//! `ROOKERY_FUZZ_WRITE_SEEDS=1 cargo test --manifest-path fuzz/Cargo.toml`
//! (re)writes the seed files `corpus/<target>/seed-*` from `seeds::all()`.

use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// Stack of the replay thread: ample for the targets, far below what deep
/// recursion needs.
const REPLAY_STACK: usize = 512 * 1024;

fn writing_seeds() -> bool {
    std::env::var("ROOKERY_FUZZ_WRITE_SEEDS").is_ok_and(|v| v == "1")
}

/// Runs the target's seeds and every file of its corpus directory; returns how many.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut inputs: Vec<(String, Vec<u8>)> = rookery_fuzz::seeds::all()
        .into_iter()
        .filter(|(t, _, _)| *t == target)
        .map(|(_, name, bytes)| (format!("seed {name}"), bytes))
        .collect();
    let dir = corpus_dir(target);
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            let mut files: Vec<PathBuf> = entries
                .map(|e| e.expect("directory entry").path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for f in files {
                let bytes = std::fs::read(&f).expect("corpus file");
                inputs.push((f.display().to_string(), bytes));
            }
        }
        Err(e) => assert!(writing_seeds(), "{}: {e}", dir.display()),
    }
    // On a thread with a small stack: decoding that recurses once per level of
    // hostile input shows up here, where libFuzzer's 8 MiB main stack hides it.
    let count = inputs.len();
    let worker = std::thread::Builder::new()
        .stack_size(REPLAY_STACK)
        .spawn(move || {
            for (name, bytes) in &inputs {
                let outcome = std::panic::catch_unwind(|| run(bytes));
                assert!(outcome.is_ok(), "{name} fails");
            }
        })
        .expect("spawn the replay thread");
    if let Err(e) = worker.join() {
        std::panic::resume_unwind(e);
    }
    count
}

#[test]
fn seeds_pass_and_are_in_the_corpus() {
    let write = writing_seeds();
    for (target, name, bytes) in rookery_fuzz::seeds::all() {
        let path = corpus_dir(target).join(format!("seed-{name}"));
        if write {
            std::fs::create_dir_all(path.parent().expect("a corpus directory"))
                .expect("create the corpus directory");
            std::fs::write(&path, &bytes).expect("write a seed");
        } else {
            let stored = std::fs::read(&path).unwrap_or_default();
            assert!(
                stored == bytes,
                "{} is stale: rerun with ROOKERY_FUZZ_WRITE_SEEDS=1",
                path.display()
            );
        }
    }
}

#[test]
fn client_request_corpus() {
    assert!(replay("client_request", rookery_fuzz::client::run) > 0);
}

#[test]
fn quorum_message_corpus() {
    assert!(replay("quorum_message", rookery_fuzz::quorum::run) > 0);
}

#[test]
fn election_message_corpus() {
    assert!(replay("election_message", rookery_fuzz::election::run) > 0);
}

#[test]
fn tree_differential_corpus() {
    assert!(replay("tree_differential", rookery_fuzz::tree_diff::run) > 0);
}
