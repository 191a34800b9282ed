#!/usr/bin/env bash
# The one test command for Rookery (README and CI call it):
#
#   bash tests/run.sh
#
# On a Debian 12 machine with a Rust toolchain it installs what is missing (Debian packages
# libclang-dev for RocksDB's bindgen, zookeeper for zkCli.sh and the reference server,
# sccache), then runs, in order:
#   fmt      cargo fmt --all -- --check
#   clippy   cargo clippy --workspace --all-targets -- -D warnings
#   build    cargo build --workspace --all-targets
#   test     cargo test --workspace            (process tests start target/debug/rookery;
#                                              includes the ZAB simulator over 10000 seeds)
#   dashboards tests/dashboards/check.sh       (dashboards and alert rules: promtool, and every
#                                              query against a live ensemble and Prometheus)
#   mutants  tests/mutants.sh                  (the simulator and the history checker catch
#                                              each deliberate bug)
#   kazoo    tests/compat/run-kazoo.sh         (kazoo's own suite against one Rookery member)
#   kazoo3   the same against a 3-member ensemble (tests/compat/expected-failures-3.txt)
#   zkcli    tests/zkcli/zkcli-session.sh      (a scripted zkCli session against Rookery)
#   fuzz     tests/fuzz.sh                     (each cargo-fuzz target for FUZZ_SECONDS=20 from the
#                                              committed corpus; installs cargo-fuzz; stable Rust)
# Everything uses the dev profile only: RocksDB's C++ build takes ~10 minutes per profile.
# Every step runs even if an earlier one failed, except that steps needing the binaries are
# skipped when the build failed. Exits non-zero if any step failed; prints a summary.
#
# Env knobs: SKIP_APT=1 (install nothing), RUN_STEPS="fmt clippy build test dashboards mutants kazoo kazoo3 zkcli fuzz"
# (a subset, in that order), CARGO_TARGET_DIR (respected).
set -u -o pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
steps=${RUN_STEPS:-fmt clippy build test dashboards mutants kazoo kazoo3 zkcli fuzz}

log() { printf '\n==== run.sh: %s ====\n' "$*"; }
want() { [[ " $steps " == *" $1 "* ]]; }

# ------------------------------------------------------------------ Debian packages
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do installed "$pkg" || missing+=("$pkg"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "${SKIP_APT:-0}" = 1 ]; then
    echo "run.sh: SKIP_APT=1 but missing Debian packages: ${missing[*]}" >&2
    return 0
  fi
  command -v apt-get >/dev/null || { echo "run.sh: no apt-get; install ${missing[*]} yourself" >&2; return 1; }
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
if command -v dpkg-query >/dev/null; then
  ensure_packages libclang-dev zookeeper sccache prometheus tmux || echo "run.sh: package installation failed; continuing" >&2
fi

# ------------------------------------------------------------------ compiler cache
if [ -z "${RUSTC_WRAPPER:-}" ] && command -v sccache >/dev/null; then
  if sccache --start-server >/dev/null 2>&1 || sccache --show-stats >/dev/null 2>&1; then
    export RUSTC_WRAPPER=sccache
  else
    echo "run.sh: sccache present but its server does not start; building without it" >&2
  fi
fi
# Incremental state is never reused by a fresh clone, takes gigabytes, and makes sccache
# skip the workspace's own crates: off unless the caller asks for it.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
target_dir=${CARGO_TARGET_DIR:-$repo/target}
export ROOKERY_BIN=${ROOKERY_BIN:-$target_dir/debug/rookery}

log "environment"
echo "repo:          $repo"
echo "rustc:         $(rustc --version 2>&1)"
echo "cargo:         $(cargo --version 2>&1)"
echo "RUSTC_WRAPPER: ${RUSTC_WRAPPER:-<none>}"
echo "ROOKERY_BIN:   $ROOKERY_BIN"
echo "CI:            ${CI:-<unset>}"
# A full run writes about 5 GB (build, mutants binary, fuzz targets); say so up front
# rather than fail half-way with "No space left on device".
mkdir -p "$target_dir"
free_mb=$(df -Pm "$target_dir" | awk 'NR == 2 { print $4 }')
echo "disk free:     ${free_mb:-?} MB at $target_dir"
if [ -n "$free_mb" ] && [ "$free_mb" -lt 8000 ]; then
  echo "run.sh: warning: only ${free_mb} MB free where the build goes; a full run needs about 8000 MB" >&2
fi

# ------------------------------------------------------------------ steps
current=""
on_signal() {
  if [ -n "$current" ]; then
    kill -TERM "$current" 2>/dev/null
    wait "$current" 2>/dev/null
  fi
  echo "run.sh: interrupted" >&2
  exit 130
}
trap on_signal INT TERM

names=()
results=()
durations=()
failures=0

# step NAME TIMEOUT COMMAND...: runs COMMAND under a guard timeout and records the result.
step() {
  local name=$1 limit=$2; shift 2
  want "$name" || return 0
  log "$name: $*"
  local start=$SECONDS rc
  # `timeout` puts the step in its own process group and, on expiry, signals that whole
  # group, so servers a step started go too. Run it in the background so that an
  # interrupt of run.sh reaches it (see the trap below).
  timeout --kill-after=30s "$limit" "$@" &
  current=$!
  wait "$current"
  rc=$?
  current=""
  local took=$((SECONDS - start))
  names+=("$name"); durations+=("$took")
  if [ "$rc" -eq 0 ]; then
    results+=("PASS")
  else
    [ "$rc" -eq 124 ] && echo "run.sh: $name timed out after $limit" >&2
    results+=("FAIL (exit $rc)")
    failures=$((failures + 1))
  fi
  return "$rc"
}
skip() {
  want "$1" || return 0
  names+=("$1"); durations+=(0); results+=("SKIP ($2)")
}

step fmt 10m cargo fmt --all -- --check
step clippy 40m cargo clippy --workspace --all-targets -- -D warnings
built=yes
step build 40m cargo build --workspace --all-targets || built=no
if want build && [ "$built" = no ]; then
  skip test "build failed"
  skip dashboards "build failed"
  skip mutants "build failed"
  skip kazoo "build failed"
  skip kazoo3 "build failed"
  skip zkcli "build failed"
else
  step test 30m cargo test --workspace
  step dashboards 10m bash tests/dashboards/check.sh
  step mutants 30m bash tests/mutants.sh
  if [ -f tests/compat/run-kazoo.sh ]; then
    step kazoo 40m bash tests/compat/run-kazoo.sh
    step kazoo3 40m env ZOOKEEPER_CLUSTER_SIZE=3 EXPECTED_FAILURES="$repo/tests/compat/expected-failures-3.txt" \
      OUT="$repo/tests/compat/out3" bash tests/compat/run-kazoo.sh
  else
    skip kazoo "tests/compat/run-kazoo.sh not present"
  fi
  step zkcli 10m bash tests/zkcli/zkcli-session.sh
fi
# Builds its own targets (fuzz/ is a workspace of its own).
step fuzz 30m bash tests/fuzz.sh

# ------------------------------------------------------------------ summary
log "summary"
passed=0
for i in "${!names[@]}"; do
  printf '  %-8s %-40s %5ss\n' "${names[$i]}" "${results[$i]}" "${durations[$i]}"
  [ "${results[$i]}" = PASS ] && passed=$((passed + 1))
done
if [ -n "${RUSTC_WRAPPER:-}" ]; then sccache --show-stats 2>/dev/null | grep -E '^(Compile requests|Cache hits|Cache misses)  ' | sed 's/^/  sccache: /'; fi
echo "steps: $passed passed, $failures failed"
[ "$failures" -eq 0 ]
