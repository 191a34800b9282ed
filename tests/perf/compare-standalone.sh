#!/usr/bin/env bash
# Side-by-side write throughput of ONE standalone member: Rookery vs Apache ZooKeeper 3.8
# (Debian package `zookeeper`), same machine, same run, same load generator (write_bench.py:
# N kazoo sessions in N processes, one outstanding request each).
#
#   tests/perf/compare-standalone.sh [--zk-only|--rookery-only] [--runs N] [--duration S]
#                                    [--warmup S] [--clients N] [--value-size B] [--no-save]
#
# Both servers fsync every write before acking (ZooKeeper: forceSync default = yes; Rookery always).
# Both run at the same time on free 127.0.0.1 ports with data dirs in one temp dir (same disk).
# Sequence: one full untimed run per server and op (warm-up, JVM JIT), then for op in create, set:
# R Z R Z R Z (alternating, --runs each). Prints a markdown table of medians and writes it to
# tests/perf/standalone-results.md (unless --no-save, or only one side ran).
#
# Env: ROOKERY_BIN (default <repo>/target/debug/rookery), PYTHON (default tests/compat/.venv python),
#      ZK_HEAP (default 1g), ROOKERY_LOG (passed through; default warn), KEEP_TMP=1 keeps the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROOKERY_BIN=${ROOKERY_BIN:-$REPO/target/debug/rookery}
PYTHON=${PYTHON:-$REPO/tests/compat/.venv/bin/python}
BENCH=$HERE/write_bench.py
JARS=/usr/share/java
CMDLINE="tests/perf/compare-standalone.sh $*"

runs=3 duration=10 warmup=3 clients=16 value_size=100 sides="rookery zk" save=yes
while [ $# -gt 0 ]; do
  case $1 in
    --zk-only) sides="zk" ;;
    --rookery-only) sides="rookery" ;;
    --runs) runs=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --clients) clients=$2; shift ;;
    --value-size) value_size=$2; shift ;;
    --no-save) save=no ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

die() { echo "compare-standalone: $*" >&2; exit 1; }
[ -x "$PYTHON" ] || die "no python at $PYTHON"
[[ $sides == *rookery* ]] && { [ -x "$ROOKERY_BIN" ] || die "no Rookery binary at $ROOKERY_BIN (or use --zk-only)"; }
[[ $sides == *zk* ]] && { [ -f "$JARS/zookeeper.jar" ] || die "no $JARS/zookeeper.jar (apt-get install zookeeper)"; }

TMP=$(mktemp -d /tmp/rookery-perf.XXXXXX)
declare -A PID=()
cleanup() {
  local rc=$?
  for side in "${!PID[@]}"; do
    local pid=${PID[$side]}
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "$rc" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "compare-standalone: exit $rc; logs and raw results kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_ruok SIDE PORT: until the server answers `imok` to `ruok` (60 s), or its process dies.
wait_ruok() {
  local side=$1 port=$2
  for _ in $(seq 1 120); do
    kill -0 "${PID[$side]}" 2>/dev/null || die "$side exited during startup; see $TMP/$side/"
    if "$PYTHON" - "$port" <<'PY' 2>/dev/null; then return 0; fi
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.settimeout(2)
s.sendall(b"ruok")
buf = b""
while True:
    d = s.recv(64)
    if not d:
        break
    buf += d
sys.exit(0 if buf.startswith(b"imok") else 1)
PY
    sleep 0.5
  done
  die "$side did not answer ruok on 127.0.0.1:$port within 60 s; see $TMP/$side/"
}

declare -A PORT=()

# four_letter PORT WORD: print the server's answer to a four-letter word.
four_letter() {
  "$PYTHON" - "$1" "$2" <<'PY' 2>/dev/null || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.settimeout(3)
s.sendall(sys.argv[2].encode())
buf = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    buf += d
print(buf.decode(errors="replace"))
PY
}

start_rookery() {
  local d=$TMP/rookery port; port=$(free_port)
  mkdir -p "$d/data"
  cat > "$d/zoo.cfg" <<EOF
tickTime=2000
dataDir=$d/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
EOF
  ROOKERY_LOG=${ROOKERY_LOG:-warn} "$ROOKERY_BIN" server --config "$d/zoo.cfg" \
    >"$d/stdout.log" 2>"$d/stderr.log" </dev/null &
  PID[rookery]=$!; PORT[rookery]=$port
}

start_zk() {
  local d=$TMP/zk port; port=$(free_port)
  mkdir -p "$d/data" "$d/log" "$d/conf"
  cat > "$d/conf/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=${zookeeper.log.dir}/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %m%n
L4J
  cat > "$d/zoo.cfg" <<EOF
tickTime=2000
dataDir=$d/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
EOF
  java -Xmx"${ZK_HEAP:-1g}" -Djava.awt.headless=true -Dzookeeper.log.dir="$d/log" \
    -Dlog4j.configuration="file:$d/conf/log4j.properties" \
    -cp "$d/conf:$JARS/zookeeper.jar:$JARS/slf4j-log4j12.jar:$JARS/log4j-1.2.jar" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$d/zoo.cfg" \
    >"$d/log/stdout.log" 2>&1 </dev/null &
  PID[zk]=$!; PORT[zk]=$port
}

# bench SIDE OP KIND: one write_bench.py run; appends its JSON line to $TMP/results.jsonl.
bench() {
  local side=$1 op=$2 kind=$3 line
  kill -0 "${PID[$side]}" 2>/dev/null || die "$side is no longer running; see $TMP/$side/"
  line=$("$PYTHON" "$BENCH" --hosts "127.0.0.1:${PORT[$side]}" --clients "$clients" \
           --duration "$duration" --warmup "$warmup" --value-size "$value_size" --op "$op" \
           --label "$side/$kind") || { echo "$line" >&2; die "write_bench failed ($side $op $kind)"; }
  echo "$line" >> "$TMP/results.jsonl"
  "$PYTHON" -c 'import json,sys; r=json.loads(sys.argv[1]); print("  %-16s %-6s %9s ops/s  p50 %s ms  p99 %s ms  max %s ms  errors %s  client-cpu %s cores" % (r["label"], r["op"], r["ops_per_s"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["errors"], r["client_cpu_cores"]))' "$line" >&2
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for side in $sides; do "start_$side"; done
for side in $sides; do wait_ruok "$side" "${PORT[$side]}"; echo "$side up on 127.0.0.1:${PORT[$side]} (pid ${PID[$side]})" >&2; done

declare -A VERSION=()
for side in $sides; do
  VERSION[$side]=$(four_letter "${PORT[$side]}" srvr | sed -n 's/^Zookeeper version: //p' | head -1)
  echo "$side reports: ${VERSION[$side]:-?}" >&2
done
echo "warm-up (untimed, one full run per server and op)" >&2
for op in create set; do for side in $sides; do bench "$side" "$op" warmup; done; done

echo "measured runs ($runs per server and op, alternating)" >&2
for op in create set; do
  for i in $(seq 1 "$runs"); do
    for side in $sides; do bench "$side" "$op" "run$i"; done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

rk_version=$([[ $sides == *rookery* ]] && "$ROOKERY_BIN" --version 2>/dev/null | head -1 || echo "-")
[ -n "${VERSION[rookery]:-}" ] && rk_version+="; srvr: ${VERSION[rookery]}"
table=$("$PYTHON" - "$TMP/results.jsonl" "$sides" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sides = sys.argv[2].split()
name = {"rookery": "Rookery", "zk": "ZooKeeper 3.8"}
def med(side, op, key):
    v = [r[key] for r in rows if r["label"].startswith(side + "/") and not r["label"].endswith("/warmup")
         and r["op"] == op and r[key] is not None]
    return statistics.median(v) if v else None
def f(x, nd=1):
    return "-" if x is None else f"{x:,.{nd}f}"
both = len(sides) == 2
hdr = "| op | server | ops/s (median) | p50 ms | p99 ms | max ms | errors (sum) | runs (ops/s) |"
print(hdr); print("|" + "---|" * (hdr.count("|") - 1))
for op in ("create", "set"):
    for s in sides:
        runs = [r for r in rows if r["label"].startswith(s + "/") and not r["label"].endswith("/warmup") and r["op"] == op]
        print(f"| {op} | {name[s]} | {f(med(s, op, 'ops_per_s'))} | {f(med(s, op, 'p50_ms'), 2)} | "
              f"{f(med(s, op, 'p99_ms'), 2)} | {f(med(s, op, 'max_ms'), 1)} | {sum(r['errors'] for r in runs)} | "
              f"{', '.join(f(r['ops_per_s'], 0) for r in runs)} |")
if both:
    print()
    print("| op | Rookery/ZooKeeper ops/s | Rookery/ZooKeeper p50 | Rookery/ZooKeeper p99 |")
    print("|---|---|---|---|")
    for op in ("create", "set"):
        def ratio(key):
            a, b = med("rookery", op, key), med("zk", op, key)
            return "-" if not a or not b else f"{a / b:.2f}x"
        print(f"| {op} | {ratio('ops_per_s')} | {ratio('p50_ms')} | {ratio('p99_ms')} |")
PY
)
echo
echo "$table"

if [ "$save" = yes ] && [ "$sides" = "rookery zk" ]; then
  out=$HERE/standalone-results.md
  {
    echo "# Standalone write throughput: Rookery vs Apache ZooKeeper 3.8"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- machine: nproc=$(nproc), $(uname -sr); load average before/after: $load_before / $load_after"
    echo "- command: \`$CMDLINE\`"
    echo "- Rookery: \`$ROOKERY_BIN\` ($rk_version); ZooKeeper: ${VERSION[zk]:-?} (srvr), $(java -version 2>&1 | head -1)"
    echo "- load: $clients kazoo sessions in $clients processes, one outstanding request each, ${value_size}-byte values;"
    echo "  ${warmup} s unmeasured warm-up + ${duration} s measured per run; one untimed full run per server and op first;"
    echo "  then $runs runs per server and op, alternating Rookery/ZooKeeper. Both fsync before acking; data dirs on the same disk."
    echo "- create: unique persistent znodes under a per-run parent; set: setData on each session's own znode."
    echo
    echo "$table"
    echo
    echo "<details><summary>raw JSON lines</summary>"
    echo
    echo '```'
    cat "$TMP/results.jsonl"
    echo '```'
    echo "</details>"
  } > "$out"
  echo "saved to $out" >&2
fi
