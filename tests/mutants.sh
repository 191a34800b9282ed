#!/usr/bin/env bash
# Shows that the checks can fail: each deliberate bug (the `mutants` features) must be
# caught.
#   1. The ZAB simulator catches ack-before-fsync, a skipped TRUNC and NEWLEADER acked
#      before the history is durable (server/tests/zab_mutants.rs).
#   2. The history checker, on real processes, catches a skipped TRUNC, a dropped
#      closeSession and watches lost on reconnect (setWatches ignored), and finds nothing lost after crashes at the failpoints
#      (tests/tests/history_mutants.rs), in a rookery built with
#      `--features mutants,failpoints`, copied aside so target/debug/rookery stays the
#      real one. The tests set the environment the members inherit: one at a time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=${CARGO_TARGET_DIR:-target}
cargo test -p rookery-server --features mutants --test zab_mutants
cargo build --bin rookery --features mutants,failpoints
cp "$target/debug/rookery" "$target/debug/rookery-mutants"
cargo build --bin rookery
ROOKERY_MUTANT_BIN="$(cd "$target/debug" && pwd)/rookery-mutants" \
  cargo test -p rookery-tests --features mutants --test history_mutants -- --test-threads=1
