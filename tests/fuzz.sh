#!/usr/bin/env bash
# Fuzzing (issue 8): runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS seconds
# (default 20) from the committed corpus fuzz/corpus/<target>, and fails if any target
# crashes (a panic, a failed check, a timeout or running out of memory), printing the
# input that did it.
#
#   bash tests/fuzz.sh                          # the short run (CI)
#   FUZZ_SECONDS=3600 bash tests/fuzz.sh        # a long run, an hour per target
#   bash tests/fuzz.sh tree_differential        # only the targets named
#
# Targets: client_request, quorum_message, election_message, tree_differential
# (fuzz/src/*.rs say what each feeds and checks).
#
# Stable Rust is enough: cargo fuzz's default sanitizer (ASan, -Zsanitizer) needs nightly,
# so the targets are built with `-s none`, which passes only stable flags
# (-Cpasses=sancov-module, -Cllvm-args=-sanitizer-coverage-*, --cfg fuzzing, -Cdebug-assertions):
# libFuzzer with coverage feedback, no sanitizer. Safe Rust needs no ASan; the findings
# are panics and failed checks.
# The build uses the dev profile (--dev), set in fuzz/Cargo.toml like the main workspace's:
# RocksDB's C++ objects then come from sccache instead of a ~10-minute compile, and debug
# assertions make integer overflow a finding.
#
# New inputs libFuzzer finds go to fuzz/target/corpus-new/<target>, not to the committed
# corpus (merge them by hand: cargo fuzz cmin, see the README). Crashes go to
# fuzz/artifacts/<target>/.
#
# Env knobs: FUZZ_SECONDS (default 20), FUZZ_TIMEOUT (seconds one input may take before it
# counts as a hang, default 10), CARGO_FUZZ_VERSION (installed if cargo fuzz is missing).
# Exits non-zero if any target failed; the last line reads "fuzz: N passed, N failed".
set -u -o pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
seconds=${FUZZ_SECONDS:-20}
per_input=${FUZZ_TIMEOUT:-10}
cargo_fuzz_version=${CARGO_FUZZ_VERSION:-0.13.2}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

log() { printf '\n==== fuzz.sh: %s ====\n' "$*"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz $cargo_fuzz_version"
  cargo install --locked cargo-fuzz --version "$cargo_fuzz_version" || exit 1
fi

if [ -z "${RUSTC_WRAPPER:-}" ] && command -v sccache >/dev/null; then
  if sccache --start-server >/dev/null 2>&1 || sccache --show-stats >/dev/null 2>&1; then
    export RUSTC_WRAPPER=sccache
  fi
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz.sh: no fuzz targets found" >&2; exit 1; }

log "building ${targets[*]} ($(cargo fuzz --version), $(rustc --version), RUSTC_WRAPPER=${RUSTC_WRAPPER:-none})"
start=$(date +%s)
cargo fuzz build -s none --dev || { echo "fuzz.sh: the fuzz build failed" >&2; exit 1; }
echo "fuzz.sh: built in $(( $(date +%s) - start ))s"

scratch="$repo/fuzz/target/corpus-new"
passed=0
failed=0
for t in "${targets[@]}"; do
  log "$t for ${seconds}s"
  mkdir -p "$scratch/$t"
  out="$scratch/$t.log"
  cargo fuzz run -s none --dev "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -timeout="$per_input" -print_final_stats=1 >"$out" 2>&1
  status=$?
  # libFuzzer names each input it saves for a crash, a hang or running out of memory.
  saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out")
  if [ "$status" -eq 0 ] && [ -z "$saved" ]; then
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' "$out"
    passed=$((passed + 1))
    continue
  fi
  failed=$((failed + 1))
  echo "fuzz.sh: $t FAILED (exit $status); the panic, then the end of its output ($out):"
  grep -m 1 -A 3 'panicked at' "$out"
  tail -n 40 "$out"
  for f in $saved; do
    echo "---- $f ($(wc -c <"$f") bytes); reproduce with: cargo fuzz run -s none --dev $t $f"
    od -A x -t x1z -v "$f" | head -n 64
    echo "base64: $(base64 -w0 "$f" | head -c 8192)"
  done
done

log "summary"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
