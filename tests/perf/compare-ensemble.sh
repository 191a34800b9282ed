#!/usr/bin/env bash
# Side-by-side 3-member ENSEMBLES: Rookery vs Apache ZooKeeper 3.8 (Debian package `zookeeper`), same
# machine, same run, same load generators, same tickTime=2000/initLimit=10/syncLimit=5, both fsyncing.
#
#   tests/perf/compare-ensemble.sh [--zk-only|--rookery-only] [--skip-throughput] [--skip-failover]
#       [--runs N] [--duration S] [--warmup S] [--clients N] [--value-size B]
#       [--trials N] [--fo-clients N] [--fo-op create|set] [--fo-pre S] [--fo-post S] [--no-save]
#
# 1. Write throughput (write_bench.py --balance): --clients (32) kazoo sessions in as many processes,
#    one outstanding request each, connect string with all 3 members, worker i starting at member
#    i % 3 (even spread). One untimed full run per ensemble and op first (JVM JIT), then for op in
#    create, set: R Z R Z R Z (--runs each). Medians, Rookery/ZooKeeper ratios, p50/p99.
# 2. Leader kill (failover_bench.py): --fo-clients (16) sessions on the full connect string writing
#    sequentially (--fo-op, default create); the leader (found with `srvr`) gets kill -9 after
#    --fo-pre s, writing goes on --fo-post s; reported: the longest interval with no acknowledged
#    write from any session (the unavailability window), and more. --trials (3) per ensemble,
#    alternating R Z R Z R Z; after each trial the killed member is restarted on its data dir and the
#    next trial waits until all 3 members serve again (srvr shows a Mode on each, one leader).
# Results: a markdown table on stdout, saved to tests/perf/ensemble-results.md (unless --no-save or only
# one side or one part ran).
#
# Members run on free 127.0.0.1 ports with data dirs in one temp dir (same disk). ZooKeeper members
# are configured exactly like /work/shared/tools/zk-reference-ensemble.sh does (same keys, java
# flags and classpath), but started here as children of this script, with a Python `srvr` probe
# (that tool needs `nc` and only restarts members of its own pid files). Rookery members get the
# same tickTime/initLimit/syncLimit and admin.enableServer=false (3 members, one host).
# Every process started here is stopped on exit (trap), also on failure or Ctrl-C.
#
# Env: ROOKERY_BIN (default <repo>/target/debug/rookery; copied into the temp dir at start, so a
#      rebuild during the run does not matter), PYTHON (default tests/compat/.venv python),
#      ZK_HEAP (default 1g per member), ROOKERY_LOG (default warn), KEEP_TMP=1 keeps the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROOKERY_BIN=${ROOKERY_BIN:-$REPO/target/debug/rookery}
PYTHON=${PYTHON:-$REPO/tests/compat/.venv/bin/python}
BENCH=$HERE/write_bench.py
FOBENCH=$HERE/failover_bench.py
JARS=/usr/share/java
CMDLINE="tests/perf/compare-ensemble.sh $*"
TICK=2000 INIT_LIMIT=10 SYNC_LIMIT=5 N=3

runs=3 duration=10 warmup=3 clients=32 value_size=100 sides="rookery zk" save=yes
trials=3 fo_clients=16 fo_op=create fo_pre=3 fo_post=10 do_tp=yes do_fo=yes
while [ $# -gt 0 ]; do
  case $1 in
    --zk-only) sides="zk" ;;
    --rookery-only) sides="rookery" ;;
    --skip-throughput) do_tp=no ;;
    --skip-failover) do_fo=no ;;
    --runs) runs=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --clients) clients=$2; shift ;;
    --value-size) value_size=$2; shift ;;
    --trials) trials=$2; shift ;;
    --fo-clients) fo_clients=$2; shift ;;
    --fo-op) fo_op=$2; shift ;;
    --fo-pre) fo_pre=$2; shift ;;
    --fo-post) fo_post=$2; shift ;;
    --no-save) save=no ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

die() { echo "compare-ensemble: $*" >&2; exit 1; }
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }
[ -x "$PYTHON" ] || die "no python at $PYTHON"
[[ $sides == *rookery* ]] && { [ -x "$ROOKERY_BIN" ] || die "no Rookery binary at $ROOKERY_BIN (or use --zk-only)"; }
[[ $sides == *zk* ]] && { [ -f "$JARS/zookeeper.jar" ] || die "no $JARS/zookeeper.jar (apt-get install zookeeper)"; }

TMP=$(mktemp -d /tmp/rookery-ens-perf.XXXXXX)
declare -A PID=()   # "<side>.<i>" -> pid of member i (1..N)
stop_pid() {
  local pid=$1
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do alive "$pid" || break; sleep 0.25; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for key in "${!PID[@]}"; do kill -TERM "${PID[$key]}" 2>/dev/null || true; done
  for key in "${!PID[@]}"; do stop_pid "${PID[$key]}"; done
  if [ "$rc" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "compare-ensemble: exit $rc; logs and raw results kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# alive PID: the process exists and is not a zombie (a killed child stays a zombie until reaped).
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat" 2>/dev/null; }

cp "$ROOKERY_BIN" "$TMP/rookery-bin" 2>/dev/null || [[ $sides != *rookery* ]] || die "cannot copy $ROOKERY_BIN"
RK=$TMP/rookery-bin

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
if cmd == "free":  # N distinct free ports (all bound at once)
    socks = []
    for _ in range(int(args[0])):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
elif cmd == "modes":  # one word per port: leader / follower / standalone / down
    out = []
    for p in args:
        m = [l[6:].strip() for l in four(p, "srvr").splitlines() if l.startswith("Mode: ")]
        out.append(m[0] if m else "down")
    print(" ".join(out))
elif cmd == "version":
    v = [l.split(": ", 1)[1] for l in four(args[0], "srvr").splitlines() if l.startswith("Zookeeper version: ")]
    print(v[0] if v else "?")
PY
probe() { "$PYTHON" "$TMP/probe.py" "$@"; }

declare -A CPORT=() QPORT=() EPORT=() APORT=()
read -r -a ports <<<"$(probe free $((8 * N)))"   # all distinct: bound at the same time
k=0
for side in $sides; do
  for i in $(seq 1 $N); do
    CPORT[$side.$i]=${ports[k]}; QPORT[$side.$i]=${ports[k + 1]}; EPORT[$side.$i]=${ports[k + 2]}; APORT[$side.$i]=${ports[k + 3]}
    k=$((k + 4))
  done
done
client_ports() { local s=$1 i out=""; for i in $(seq 1 $N); do out+="${out:+ }${CPORT[$s.$i]}"; done; echo "$out"; }
connect_string() { local s=$1 i out=""; for i in $(seq 1 $N); do out+="${out:+,}127.0.0.1:${CPORT[$s.$i]}"; done; echo "$out"; }

write_configs() {
  local side=$1 i j d
  for i in $(seq 1 $N); do
    d=$TMP/$side/m$i; mkdir -p "$d/data" "$d/log"; echo "$i" > "$d/data/myid"
    {
      echo "tickTime=$TICK"; echo "initLimit=$INIT_LIMIT"; echo "syncLimit=$SYNC_LIMIT"
      echo "dataDir=$d/data"; echo "clientPort=${CPORT[$side.$i]}"; echo "clientPortAddress=127.0.0.1"
      echo "maxClientCnxns=0"; echo "4lw.commands.whitelist=*"
      if [ "$side" = zk ]; then
        echo "admin.enableServer=true"; echo "admin.serverAddress=127.0.0.1"; echo "admin.serverPort=${APORT[$side.$i]}"
      else
        echo "admin.enableServer=false"
      fi
      for j in $(seq 1 $N); do echo "server.$j=127.0.0.1:${QPORT[$side.$j]}:${EPORT[$side.$j]}"; done
    } > "$d/zoo.cfg"
  done
  if [ "$side" = zk ]; then
    mkdir -p "$TMP/zk/conf"
    cat > "$TMP/zk/conf/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=${zookeeper.log.dir}/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] %-5p [%t] %m%n
L4J
  fi
}

ZK_CP="$TMP/zk/conf:$JARS/zookeeper.jar:$JARS/slf4j-log4j12.jar:$JARS/log4j-1.2.jar"
for j in "$JARS"/zookeeper-prometheus*.jar; do [ -f "$j" ] && ZK_CP+=":$j"; done

# start_member SIDE I: start member I (on its existing data dir), appending to its logs.
start_member() {
  local side=$1 i=$2 d=$TMP/$1/m$2
  if [ "$side" = rookery ]; then
    ROOKERY_LOG=${ROOKERY_LOG:-warn} "$RK" server --config "$d/zoo.cfg" \
      >>"$d/log/stdout.log" 2>>"$d/log/stderr.log" </dev/null &
  else
    java -Xmx"${ZK_HEAP:-1g}" -Djava.awt.headless=true -Dzookeeper.log.dir="$d/log" \
      -Dlog4j.configuration="file:$TMP/zk/conf/log4j.properties" \
      -cp "$ZK_CP" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" \
      >>"$d/log/stdout.log" 2>&1 </dev/null &
  fi
  PID[$side.$i]=$!
}

# wait_serving SIDE [TIMEOUT]: until every member answers srvr with a Mode and one is leader.
# Returns 1 (does not exit) on timeout or if a member process died.
wait_serving() {
  local side=$1 timeout=${2:-90} modes i t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$timeout" ]; do
    for i in $(seq 1 $N); do
      alive "${PID[$side.$i]}" || { say "$side member $i is not running (see $TMP/$side/m$i/log)"; return 1; }
    done
    modes=$(probe modes $(client_ports "$side"))
    if [[ " $modes " == *" leader "* && " $modes " != *" down "* ]]; then
      say "$side serving: $modes"; return 0
    fi
    sleep 0.5
  done
  say "$side: not all members serving after ${timeout}s: $modes"
  return 1
}

# leader SIDE: print the member index whose srvr says leader (empty if none).
leader() {
  local side=$1 i=1 m
  for m in $(probe modes $(client_ports "$side")); do
    [ "$m" = leader ] && { echo "$i"; return 0; }
    i=$((i + 1))
  done
  return 0
}

# bench SIDE OP KIND: one write_bench.py run; appends its JSON line to $TMP/throughput.jsonl.
bench() {
  local side=$1 op=$2 kind=$3 line
  line=$("$PYTHON" "$BENCH" --hosts "$(connect_string "$side")" --balance --setup-retries 3 --clients "$clients" \
           --duration "$duration" --warmup "$warmup" --value-size "$value_size" --op "$op" \
           --label "$side/$kind") || { echo "$line" >&2; die "write_bench failed ($side $op $kind)"; }
  echo "$line" >> "$TMP/throughput.jsonl"
  "$PYTHON" -c 'import json,sys; r=json.loads(sys.argv[1]); print("  %-12s %-6s %9s ops/s  p50 %s ms  p99 %s ms  max %s ms  errors %s %s  setup retries %s %s  client-cpu %s  sessions/port %s" % (r["label"], r["op"], r["ops_per_s"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["errors"], r["error_samples"][:1], r.get("setup_retries"), r.get("setup_samples", [])[:1], r["client_cpu_cores"], r.get("servers")))' "$line" >&2
}

declare -A BROKEN=()
# failover SIDE TRIAL: kill -9 the leader under load, restart it, wait for all members.
failover() {
  local side=$1 trial=$2 l pid line rc=0
  if [ -n "${BROKEN[$side]:-}" ]; then say "$side: skipping trial $trial (${BROKEN[$side]})"; return 0; fi
  l=$(leader "$side")
  [ -n "$l" ] || { BROKEN[$side]="no leader before trial $trial"; say "$side: ${BROKEN[$side]}"; return 0; }
  pid=${PID[$side.$l]}
  say "$side trial $trial: leader is member $l (pid $pid, port ${CPORT[$side.$l]}); kill -9 after ${fo_pre}s"
  line=$("$PYTHON" "$FOBENCH" --hosts "$(connect_string "$side")" --balance --clients "$fo_clients" \
           --op "$fo_op" --value-size "$value_size" --pre "$fo_pre" --post "$fo_post" --kill-pid "$pid" \
           --srvr-ports "$(client_ports "$side" | tr ' ' ,)" --label "$side/trial$trial") || rc=$?
  [ -n "$line" ] || line="{\"label\": \"$side/trial$trial\", \"fatal\": [\"failover_bench printed nothing (rc $rc)\"]}"
  wait "$pid" 2>/dev/null || true   # reap the killed member
  local t_restart=$SECONDS
  start_member "$side" "$l"
  local back=yes
  wait_serving "$side" 120 || back=no
  line=$("$PYTHON" -c 'import json,sys; r=json.loads(sys.argv[1]); r.update(killed_member=int(sys.argv[2]), rc=int(sys.argv[3]), restarted_all_serving_s=(int(sys.argv[4]) if sys.argv[5]=="yes" else None)); print(json.dumps(r))' \
           "$line" "$l" "$rc" "$((SECONDS - t_restart))" "$back")
  echo "$line" >> "$TMP/failover.jsonl"
  "$PYTHON" -c 'import json,sys; r=json.loads(sys.argv[1]); g=r.get; print("  %-14s max gap %s ms (starts %s ms after kill)  first ack %s ms  all sessions %s ms  new leader %s ms  errors %s %s  lost sessions %s  setup retries %s  ops/s before/after %s/%s  fatal %s" % (g("label"), g("max_gap_ms"), g("gap_start_ms"), g("first_ack_after_kill_ms"), g("all_resumed_ms"), g("new_leader_ms"), g("errors"), g("error_types"), g("sessions_lost"), g("setup_retries"), g("ops_per_s_before"), g("ops_per_s_after_5s"), g("fatal")))' "$line" >&2
  if [ "$back" = no ]; then BROKEN[$side]="killed member $l did not come back (all serving) within 120 s after trial $trial"; fi
  [ "$rc" -eq 0 ] || say "$side trial $trial: failover_bench exit $rc"
  sleep 1
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_begin=$SECONDS
for side in $sides; do
  write_configs "$side"
  for i in $(seq 1 $N); do start_member "$side" "$i"; done
done
for side in $sides; do
  wait_serving "$side" 90 || die "$side ensemble did not come up; see $TMP/$side/"
  say "$side up: $(connect_string "$side") (pids $(for i in $(seq 1 $N); do printf '%s ' "${PID[$side.$i]}"; done))"
done
declare -A VERSION=()
for side in $sides; do VERSION[$side]=$(probe version "${CPORT[$side.1]}"); say "$side reports: ${VERSION[$side]}"; done

touch "$TMP/throughput.jsonl" "$TMP/failover.jsonl"
if [ $do_tp = yes ]; then
  say "throughput warm-up (untimed, one full run per ensemble and op)"
  for op in create set; do for side in $sides; do bench "$side" "$op" warmup; done; done
  say "throughput: $runs runs per ensemble and op, alternating"
  for op in create set; do
    for i in $(seq 1 "$runs"); do for side in $sides; do bench "$side" "$op" "run$i"; done; done
  done
fi
if [ $do_fo = yes ]; then
  say "leader kill: $trials trials per ensemble, alternating"
  for t in $(seq 1 "$trials"); do for side in $sides; do failover "$side" "$t"; done; done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$((SECONDS - t_begin))

rk_version=$([[ $sides == *rookery* ]] && "$RK" --version 2>/dev/null | head -1 || echo "-")
[ -n "${VERSION[rookery]:-}" ] && rk_version+="; srvr: ${VERSION[rookery]}"
broken=""; for side in "${!BROKEN[@]}"; do broken+="$side: ${BROKEN[$side]}; "; done
table=$("$PYTHON" - "$TMP/throughput.jsonl" "$TMP/failover.jsonl" "$sides" <<'PY'
import json, statistics, sys
tp = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
fo = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
sides = sys.argv[3].split()
name = {"rookery": "Rookery", "zk": "ZooKeeper 3.8"}
def f(x, nd=1):
    return "-" if x is None else f"{x:,.{nd}f}"
def measured(side, op):
    return [r for r in tp if r["label"].startswith(side + "/") and not r["label"].endswith("/warmup") and r["op"] == op]
def med(side, op, key):
    v = [r[key] for r in measured(side, op) if r.get(key) is not None]
    return statistics.median(v) if v else None
both = len(sides) == 2
if tp:
    print("### Write throughput (3-member ensembles)")
    print()
    hdr = "| op | ensemble | ops/s (median) | p50 ms | p99 ms | max ms | errors (sum) | session setup retries (sum) | client CPU (cores) | runs (ops/s) |"
    print(hdr); print("|" + "---|" * (hdr.count("|") - 1))
    for op in ("create", "set"):
        for s in sides:
            runs = measured(s, op)
            print(f"| {op} | {name[s]} | {f(med(s, op, 'ops_per_s'))} | {f(med(s, op, 'p50_ms'), 2)} | "
                  f"{f(med(s, op, 'p99_ms'), 2)} | {f(med(s, op, 'max_ms'), 1)} | {sum(r['errors'] for r in runs)} | {sum(r.get('setup_retries', 0) for r in runs)} | "
                  f"{f(med(s, op, 'client_cpu_cores'), 2)} | {', '.join(f(r['ops_per_s'], 0) for r in runs)} |")
    if both:
        print()
        print("| op | Rookery/ZooKeeper ops/s | Rookery/ZooKeeper p50 | Rookery/ZooKeeper p99 |")
        print("|---|---|---|---|")
        for op in ("create", "set"):
            def ratio(key):
                a, b = med("rookery", op, key), med("zk", op, key)
                return "-" if not a or not b else f"{a / b:.2f}x"
            print(f"| {op} | {ratio('ops_per_s')} | {ratio('p50_ms')} | {ratio('p99_ms')} |")
    print()
if fo:
    print("### Leader kill -9 under write load")
    print()
    hdr = ("| ensemble | trial | killed | max gap ms | gap starts (ms after kill) | first ack after kill ms | "
           "all sessions resumed ms | new leader (srvr) ms | failed attempts (retried) | sessions expired | session setup retries | "
           "ops/s before / after | all 3 serving again after restart (s) |")
    print(hdr); print("|" + "---|" * (hdr.count("|") - 1))
    for r in fo:
        s, t = r["label"].split("/")
        errs = r.get("errors")
        et = ", ".join(f"{k} {v}" for k, v in sorted((r.get("error_types") or {}).items()))
        fatal = r.get("fatal") or []
        print(f"| {name[s]} | {t} | member {r.get('killed_member')} | {f(r.get('max_gap_ms'), 0)} | {f(r.get('gap_start_ms'), 0)} | "
              f"{f(r.get('first_ack_after_kill_ms'), 0)} | {f(r.get('all_resumed_ms'), 0)}"
              f"{' (' + str(r.get('sessions_not_resumed')) + ' never)' if r.get('sessions_not_resumed') else ''} | "
              f"{f(r.get('new_leader_ms'), 0)} | {errs if errs is not None else '-'}{' (' + et + ')' if et else ''} | "
              f"{r.get('sessions_lost', '-')} | {r.get('setup_retries', '-')} | {f(r.get('ops_per_s_before'), 0)} / {f(r.get('ops_per_s_after_5s'), 0)} | "
              f"{r.get('restarted_all_serving_s') if r.get('restarted_all_serving_s') is not None else 'NO'}"
              f"{' ; FATAL: ' + '; '.join(fatal) if fatal else ''} |")
    print()
    print("| ensemble | max gap ms: median | max gap ms: max | first ack after kill ms: median | all sessions resumed ms: median | trials |")
    print("|---|---|---|---|---|---|")
    mg = {}
    for s in sides:
        rs = [r for r in fo if r["label"].startswith(s + "/") and r.get("max_gap_ms") is not None]
        def m(key, agg=statistics.median):
            v = [r[key] for r in rs if r.get(key) is not None]
            return agg(v) if v else None
        mg[s] = m("max_gap_ms")
        print(f"| {name[s]} | {f(mg[s], 0)} | {f(m('max_gap_ms', max), 0)} | {f(m('first_ack_after_kill_ms'), 0)} | "
              f"{f(m('all_resumed_ms'), 0)} | {len(rs)} |")
    if both and mg.get("rookery") and mg.get("zk"):
        print()
        print(f"Rookery/ZooKeeper median max gap: {mg['rookery'] / mg['zk']:.2f}x")
PY
)
echo
echo "$table"
[ -n "$broken" ] && echo && echo "NOTE: $broken"

if [ "$save" = yes ] && [ "$sides" = "rookery zk" ] && [ $do_tp = yes ] && [ $do_fo = yes ]; then
  out=$HERE/ensemble-results.md
  {
    echo "# 3-member ensembles: Rookery vs Apache ZooKeeper 3.8"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); total run time ${elapsed} s"
    echo "- machine: nproc=$(nproc), $(uname -sr); load average before/after: $load_before / $load_after"
    echo "- command: \`$CMDLINE\`"
    echo "- Rookery: \`$ROOKERY_BIN\` ($rk_version); ZooKeeper: ${VERSION[zk]:-?} (srvr), $(java -version 2>&1 | head -1), -Xmx${ZK_HEAP:-1g} per member"
    echo "- both: 3 members on 127.0.0.1, tickTime=$TICK initLimit=$INIT_LIMIT syncLimit=$SYNC_LIMIT, fsync before ack"
    echo "  (ZooKeeper forceSync default yes; Rookery always), data dirs on the same disk; both ensembles up during the whole run."
    echo "- throughput: $clients kazoo sessions in $clients processes, one outstanding request each, ${value_size}-byte values,"
    echo "  connect string with all 3 members, session i starting at member i % 3 (even spread; 'servers' in the raw JSON);"
    echo "  ${warmup} s unmeasured + ${duration} s measured per run; one untimed full run per ensemble and op first; then"
    echo "  $runs runs per ensemble and op, alternating Rookery/ZooKeeper. create: unique persistent znodes; set: setData on own znode."
    echo "- leader kill: $fo_clients sessions (full connect string, session i starting at member i % 3), sequential ${fo_op}s of"
    echo "  ${value_size} bytes, each ack time recorded; leader found with srvr and sent SIGKILL after ${fo_pre} s; writing goes on"
    echo "  ${fo_post} s. Failed writes (ConnectionLoss etc.) are retried as the same op (create answered NodeExists after a lost"
    echo "  reply = acked); kazoo reconnects by itself with its back-off capped at 0.25 s. max gap = longest interval with no"
    echo "  acknowledged write from any session. The killed member is restarted after each trial and all 3 must serve before the"
    echo "  next one. $trials trials per ensemble, alternating Rookery/ZooKeeper."
    [ -n "$broken" ] && echo "- NOTE: $broken"
    echo
    echo "$table"
    echo
    echo "<details><summary>raw JSON lines</summary>"
    echo
    echo '```'
    cat "$TMP/throughput.jsonl" "$TMP/failover.jsonl"
    echo '```'
    echo "</details>"
  } > "$out"
  say "saved to $out"
fi
