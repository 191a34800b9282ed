#!/usr/bin/env bash
# Rookery vs Apache ZooKeeper 3.8, side by side: two 3-member ensembles on this machine at the same
# time (disjoint 127.0.0.1 ports, data dirs on the same disk, the same tickTime/initLimit/syncLimit,
# both fsyncing before they acknowledge), driven by the same load generator (`rookery bench`, a
# real client from another project). Writes tests/perf/RESULTS.md (and latency plots beside it).
#
#   tests/perf/compare.sh [--runs N] [--duration S] [--warmup S] [--znodes N] [--watchers N]
#                         [--trials N] [--quick] [--only PARTS] [--no-save]
#
# Parts (all by default; --only takes a comma-separated list):
#   throughput  create, set, get, mixed (90 % gets), multi (4 setData), churn (open+close a session):
#               32 sessions, closed loop, --runs runs each, alternating Rookery / ZooKeeper.
#   openloop    set in open loop at half of ZooKeeper's peak set rate (measured in throughput, or
#               measured here first): latency from when each request was due.
#   watch       --watchers (10,000) sessions watch one node; each round sets it: time until every
#               event has arrived.
#   failover    32 sessions set in closed loop; the leader gets kill -9 3 s into the measured 10 s:
#               the longest time with no acknowledged write. --trials per ensemble; the killed member
#               is restarted and all must serve again before the next trial.
#   bigtree     --znodes (1,000,000) znodes of 100 bytes (rookery bench --workload populate); resident
#               memory of each member; then all members stopped and started: time until every member
#               serves (srvr has a Mode, one is leader) and resident memory after the restart.
#
# --quick: 1 run of 4 s, 1 trial, 2,000 watchers, 100,000 znodes (a check that the script works).
# Env: ROOKERY_BIN (default: a release build made here), ZK_HEAP (default 1g, ZooKeeper's packaged
#      default), KEEP_TMP=1 keeps the temp dir with every member's log and the raw JSON.
# Every process started here is stopped on exit (trap), also on failure or Ctrl-C.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
JARS=/usr/share/java
CMDLINE="tests/perf/compare.sh $*"
TICK=2000 INIT_LIMIT=10 SYNC_LIMIT=5 N=3 SESSIONS=32 VALUE=100

runs=3 duration=10 warmup=3 znodes=1000000 watchers=10000 trials=3 save=yes
parts="throughput openloop watch failover bigtree"
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --znodes) znodes=$2; shift ;;
    --watchers) watchers=$2; shift ;;
    --trials) trials=$2; shift ;;
    --quick) runs=1 duration=4 warmup=2 trials=1 watchers=2000 znodes=100000 ;;
    --only) parts=${2//,/ }; shift ;;
    --no-save) save=no ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
has() { [[ " $parts " == *" $1 "* ]]; }

die() { echo "compare.sh: $*" >&2; exit 1; }
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# What the comparison needs: Apache ZooKeeper (Debian), a JVM, python3 for the four-letter-word probe.
need=()
[ -f "$JARS/zookeeper.jar" ] || need+=(zookeeper)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null
fi
if [ -z "${ROOKERY_BIN:-}" ]; then
  dpkg -s libclang-dev >/dev/null 2>&1 || (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >/dev/null)
  say "building Rookery (release)"
  command -v sccache >/dev/null && export RUSTC_WRAPPER=${RUSTC_WRAPPER:-sccache}
  (cd "$REPO" && cargo build --release --bin rookery) >&2
  ROOKERY_BIN=$REPO/target/release/rookery
fi

TMP=$(mktemp -d /tmp/rookery-compare.XXXXXX)
declare -A PID=()   # "<side>.<i>" -> pid of member i (1..N)
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat" 2>/dev/null; }
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do alive "$pid" || break; sleep 0.25; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for key in "${!PID[@]}"; do kill -TERM "${PID[$key]}" 2>/dev/null || true; done
  for key in "${!PID[@]}"; do stop_pid "${PID[$key]}"; done
  if [ "$rc" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "compare.sh: exit $rc; logs and raw results kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The binary runs from a copy, so a rebuild during the run changes nothing.
mkdir -p "$TMP/bin"
cp "$ROOKERY_BIN" "$TMP/bin/rookery" || die "no Rookery binary at $ROOKERY_BIN"
RK=$TMP/bin/rookery

cat > "$TMP/probe.py" <<'PY'
import socket, sys
def four(port, word):
    try:
        s = socket.create_connection(("127.0.0.1", int(port)), timeout=1)
        s.settimeout(2)
        s.sendall(word.encode())
        buf = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        return buf.decode(errors="replace")
    except OSError:
        return ""
cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "modes":  # one word per port: leader / follower / down
    out = []
    for p in args:
        m = [l[6:].strip() for l in four(p, "srvr").splitlines() if l.startswith("Mode: ")]
        out.append(m[0] if m else "down")
    print(" ".join(out))
elif cmd == "version":
    v = [l.split(": ", 1)[1] for l in four(args[0], "srvr").splitlines() if l.startswith("Zookeeper version: ")]
    print(v[0] if v else "?")
PY
probe() { python3 "$TMP/probe.py" "$@"; }

declare -A CPORT=() QPORT=() EPORT=() MPORT=()
read -r -a ports <<<"$(python3 "$REPO/tests/free_ports.py" $((8 * N)))"
k=0
for side in rookery zk; do
  for i in $(seq 1 $N); do
    CPORT[$side.$i]=${ports[k]} QPORT[$side.$i]=${ports[k + 1]} EPORT[$side.$i]=${ports[k + 2]} MPORT[$side.$i]=${ports[k + 3]}
    k=$((k + 4))
  done
done
client_ports() { local i out=""; for i in $(seq 1 $N); do out+="${out:+ }${CPORT[$1.$i]}"; done; echo "$out"; }
connect_string() { local i out=""; for i in $(seq 1 $N); do out+="${out:+,}127.0.0.1:${CPORT[$1.$i]}"; done; echo "$out"; }

ZK_CP="$TMP/zk/conf:$JARS/zookeeper.jar:$JARS/slf4j-log4j12.jar:$JARS/log4j-1.2.jar"
write_configs() {
  local side=$1 i j d
  for i in $(seq 1 $N); do
    d=$TMP/$side/m$i; mkdir -p "$d/data" "$d/log"; echo "$i" > "$d/data/myid"
    {
      echo "tickTime=$TICK"; echo "initLimit=$INIT_LIMIT"; echo "syncLimit=$SYNC_LIMIT"
      echo "dataDir=$d/data"; echo "clientPort=${CPORT[$side.$i]}"; echo "clientPortAddress=127.0.0.1"
      echo "maxClientCnxns=0"; echo "4lw.commands.whitelist=*"; echo "admin.enableServer=false"
      [ "$side" = rookery ] && { echo "metricsProvider.httpHost=127.0.0.1"; echo "metricsProvider.httpPort=${MPORT[$side.$i]}"; }
      for j in $(seq 1 $N); do echo "server.$j=127.0.0.1:${QPORT[$side.$j]}:${EPORT[$side.$j]}"; done
    } > "$d/zoo.cfg"
  done
  if [ "$side" = zk ]; then
    mkdir -p "$TMP/zk/conf"
    printf '%s\n' 'log4j.rootLogger=INFO, FILE' 'log4j.appender.FILE=org.apache.log4j.FileAppender' \
      'log4j.appender.FILE.File=${zookeeper.log.dir}/zookeeper.log' \
      'log4j.appender.FILE.layout=org.apache.log4j.PatternLayout' \
      'log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] %-5p [%t] %m%n' \
      > "$TMP/zk/conf/log4j.properties"
  fi
}

# start_member SIDE I: start member I on its data dir, appending to its logs.
start_member() {
  local side=$1 i=$2 d=$TMP/$1/m$2
  if [ "$side" = rookery ]; then
    # info: a handful of lines per member (roles, elections, recovery times), none per request.
    ROOKERY_LOG=info "$RK" server --config "$d/zoo.cfg" >>"$d/log/stdout.log" 2>>"$d/log/stderr.log" </dev/null &
  else
    java -Xmx"${ZK_HEAP:-1g}" -Djava.awt.headless=true -Dzookeeper.log.dir="$d/log" \
      -Dlog4j.configuration="file:$TMP/zk/conf/log4j.properties" -cp "$ZK_CP" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" >>"$d/log/stdout.log" 2>&1 </dev/null &
  fi
  PID[$side.$i]=$!
}

# wait_serving SIDE [TIMEOUT]: until every member's srvr has a Mode and one is leader (1 on timeout).
wait_serving() {
  local side=$1 timeout=${2:-120} modes="" i t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$timeout" ]; do
    for i in $(seq 1 $N); do
      alive "${PID[$side.$i]}" || { say "$side member $i is not running (see $TMP/$side/m$i/log)"; return 1; }
    done
    modes=$(probe modes $(client_ports "$side"))
    [[ " $modes " == *" leader "* && " $modes " != *" down "* ]] && return 0
    sleep 0.1
  done
  say "$side: not every member serving after ${timeout}s: $modes"
  return 1
}

leader() {
  local i=1 m
  for m in $(probe modes $(client_ports "$1")); do
    [ "$m" = leader ] && { echo "$i"; return 0; }
    i=$((i + 1))
  done
}

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

touch "$TMP/results.jsonl"
# record PART SIDE LABEL JSON: one line of raw results.
record() {
  python3 -c 'import json,sys; r=json.loads(sys.argv[4]); r.update(part=sys.argv[1], side=sys.argv[2], label=sys.argv[3]); print(json.dumps(r))' \
    "$1" "$2" "$3" "$4" >> "$TMP/results.jsonl"
}

# bench PART SIDE LABEL ARGS...: one `rookery bench --json` run, recorded.
bench() {
  local part=$1 side=$2 label=$3 out
  shift 3
  out=$("$RK" bench --connect "$(connect_string "$side")" --json --sessions $SESSIONS --value-size $VALUE \
          --duration "$duration" --warmup "$warmup" "$@" 2>"$TMP/bench.err") \
    || { cat "$TMP/bench.err" >&2; die "rookery bench $* against $side failed"; }
  record "$part" "$side" "$label" "$out"
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); l=r["latency_ms"]; print("  %-8s %-8s %-6s %10.0f/s  p50 %.2f  p99 %.2f  max %.1f ms  errors %d  gap %s" % (sys.argv[2], r["workload"], r["mode"], r["ops_per_s"], l["p50"], l["p99"], l["max"], r["errors"], r.get("max_gap_ms")))' "$out" "$side" >&2
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_begin=$SECONDS
for side in rookery zk; do
  write_configs "$side"
  for i in $(seq 1 $N); do start_member "$side" "$i"; done
done
for side in rookery zk; do
  wait_serving "$side" 120 || die "the $side ensemble did not come up; see $TMP/$side/"
  say "$side serving on $(connect_string "$side")"
done
ZK_VERSION=$(probe version "${CPORT[zk.1]}")

if has throughput || has openloop; then
  say "warm-up: one unmeasured run per ensemble (JIT, caches)"
  for side in rookery zk; do bench warmup "$side" warmup --workload set; bench warmup "$side" warmup --workload get; done
fi
if has throughput; then
  for wl in create set get mixed multi churn; do
    say "throughput: $wl, $runs runs each, alternating"
    for r in $(seq 1 "$runs"); do for side in rookery zk; do bench throughput "$side" "$wl-$r" --workload "$wl"; done; done
  done
fi
if has openloop; then
  peak=$(python3 -c 'import json,statistics,sys
v=[r["ops_per_s"] for r in map(json.loads,open(sys.argv[1])) if r["side"]=="zk" and r["workload"]=="set" and r["part"] in ("throughput","peak")]
print(int(statistics.median(v)) if v else 0)' "$TMP/results.jsonl")
  if [ "$peak" = 0 ]; then
    bench peak zk peak --workload set
    peak=$(python3 -c 'import json,sys; print(int([json.loads(l) for l in open(sys.argv[1])][-1]["ops_per_s"]))' "$TMP/results.jsonl")
  fi
  rate=$((peak / 2))
  say "open loop: set at $rate/s (half of ZooKeeper's peak $peak/s), $runs runs each, alternating"
  for r in $(seq 1 "$runs"); do
    for side in rookery zk; do bench openloop "$side" "open-$r" --workload set --rate "$rate" --plot "$TMP/open-$side-$r.svg"; done
  done
fi
if has watch; then
  say "watch fan-out: $watchers watchers, $runs runs each, alternating"
  for r in $(seq 1 "$runs"); do
    for side in rookery zk; do bench watch "$side" "watch-$r" --workload watch --watchers "$watchers"; done
  done
fi
if has failover; then
  for t in $(seq 1 "$trials"); do
    for side in rookery zk; do
      l=$(leader "$side"); [ -n "$l" ] || die "$side has no leader before trial $t"
      pid=${PID[$side.$l]}
      say "failover $side trial $t: kill -9 of the leader (member $l, pid $pid) 3 s into the run"
      (duration=10 warmup=2 bench failover "$side" "kill-$t" --workload set --kill-pid "$pid" --kill-after 3)
      wait "$pid" 2>/dev/null || true
      start_member "$side" "$l"
      wait_serving "$side" 120 || die "$side did not serve again after member $l was restarted"
    done
  done
fi
if has bigtree; then
  for side in rookery zk; do
    say "big tree: $znodes znodes into $side"
    out=$("$RK" bench --connect "$(connect_string "$side")" --json --workload populate --keys "$znodes" \
            --sessions $SESSIONS --value-size $VALUE 2>"$TMP/bench.err") || { cat "$TMP/bench.err" >&2; die "populate $side failed"; }
    sleep 5   # let followers apply the tail and the JVM settle
    rss=""; for i in $(seq 1 $N); do rss+="${rss:+,}$(rss_kb "${PID[$side.$i]}")"; done
    record bigtree "$side" populate "$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["rss_kb"]=[int(x) for x in sys.argv[2].split(",")]; print(json.dumps(r))' "$out" "$rss")"
    say "  $side: populated at $(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["ops_per_s"]))' "$out")/s; RSS per member (kB): $rss"
    for i in $(seq 1 $N); do stop_pid "${PID[$side.$i]}"; done
    t0=$(date +%s.%N)
    for i in $(seq 1 $N); do start_member "$side" "$i"; done
    wait_serving "$side" 600 || die "$side did not serve again with $znodes znodes"
    t1=$(date +%s.%N)
    sleep 2
    rss=""; for i in $(seq 1 $N); do rss+="${rss:+,}$(rss_kb "${PID[$side.$i]}")"; done
    record bigtree "$side" restart "{\"start_to_serving_s\": $(python3 -c "print(round($t1 - $t0, 2))"), \"rss_kb\": [$rss], \"znodes\": $znodes}"
    say "  $side: start to serving $(python3 -c "print(round($t1 - $t0, 2))") s; RSS per member after restart (kB): $rss"
    if [ "$side" = rookery ]; then
      # What each member's start spent: opening RocksDB, loading the tree, replaying the log.
      for i in $(seq 1 $N); do
        say "    member $i: $(grep -h 'recovered state' "$TMP/rookery/m$i/log/stderr.log" | tail -1 | grep -o 'open_ms=[0-9]* load_ms=[0-9]* .*logged_past_it=[0-9]*')"
      done
    fi
  done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$((SECONDS - t_begin))

report=$(python3 "$HERE/results.py" "$TMP/results.jsonl" \
  --machine "nproc=$(nproc), $(awk '/MemTotal/{printf "%.0f GB RAM", $2/1048576}' /proc/meminfo), $(uname -sr); load average before/after: $load_before / $load_after" \
  --commit "$(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- . 2>/dev/null || echo ' (with local changes)')" \
  --zookeeper "$ZK_VERSION, $(java -version 2>&1 | head -1), -Xmx${ZK_HEAP:-1g} per member" \
  --command "$CMDLINE" --elapsed "$elapsed" \
  --settings "3 members each on 127.0.0.1, tickTime=$TICK initLimit=$INIT_LIMIT syncLimit=$SYNC_LIMIT, fsync before every acknowledgement (ZooKeeper's forceSync=yes default; Rookery always), data dirs on the same disk, both ensembles up during the whole run; $SESSIONS sessions spread over the members, $VALUE-byte values, ${warmup} s warm-up + ${duration} s measured per run, $runs runs per ensemble alternating Rookery / ZooKeeper")
echo "$report"
if [ "$save" = yes ]; then
  echo "$report" > "$HERE/RESULTS.md"
  for side in rookery zk; do [ -f "$TMP/open-$side-1.svg" ] && cp "$TMP/open-$side-1.svg" "$HERE/open-loop-$side.svg"; done
  say "wrote tests/perf/RESULTS.md"
fi
