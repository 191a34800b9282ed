#!/usr/bin/env bash
# A scripted zkCli session (Debian's `zookeeper` package, Apache ZooKeeper 3.8's own CLI)
# against a freshly started standalone member on a free 127.0.0.1 port.
#
#   tests/zkcli/zkcli-session.sh
#
# Env:
#   ROOKERY_BIN          server binary (default: <repo>/target/debug/rookery; build it first)
#   ROOKERY_TEST_TARGET  `zk` runs the same session against Apache ZooKeeper 3.8 instead,
#                        which is where the expected strings below come from
#   ZKCLI                zkCli.sh (default: /usr/share/zookeeper/bin/zkCli.sh)
#
# The member is stopped on exit (SIGTERM, then SIGKILL), also on failure. Exits non-zero
# when any step's output or exit code differs from what zkCli prints against ZooKeeper.
set -u -o pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${ROOKERY_BIN:-$repo/target/debug/rookery}
target=${ROOKERY_TEST_TARGET:-rookery}
zkcli=${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}

work=$(mktemp -d /tmp/zkcli-session.XXXXXX)
server_pid=""
passed=0
failed=0

log_tail() {
  echo "---- member log tail ($work/member.log) ----"
  tail -n 60 "$work/member.log" 2>/dev/null
  echo "---- end of member log ----"
}

cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if [ "$failed" -eq 0 ]; then rm -rf "$work"; else echo "zkcli: kept $work for inspection"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "zkcli: $*" >&2; failed=$((failed + 1)); exit 1; }

[ -x "$zkcli" ] || die "$zkcli not found (apt-get install zookeeper)"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}

# Send a four-letter word; print the reply.
four_letter() {
  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf %s "$2" >&3 && cat <&3' _ "$port" "$1" 2>/dev/null
}

port=$(free_port) || die "no free port"
admin_port=$(free_port) || die "no free port"
mkdir -p "$work/data" "$work/datalog"
echo 1 > "$work/data/myid"
{
  echo "tickTime=2000"
  echo "dataDir=$work/data"
  echo "dataLogDir=$work/datalog"
  echo "clientPort=$port"
  echo "clientPortAddress=127.0.0.1"
  echo "maxClientCnxns=0"
  echo "4lw.commands.whitelist=ruok,srvr,stat,conf,envi"
  if [ "$target" = zk ]; then
    echo "admin.enableServer=false"
  else
    echo "admin.serverAddress=127.0.0.1"
    echo "admin.serverPort=$admin_port"
  fi
} > "$work/zoo.cfg"

case "$target" in
  rookery)
    [ -x "$bin" ] || die "$bin not found: run cargo build first (or set ROOKERY_BIN)"
    "$bin" server --config "$work/zoo.cfg" </dev/null >"$work/member.log" 2>&1 &
    server_pid=$!
    ;;
  zk)
    mkdir -p "$work/conf"
    cat > "$work/conf/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, ERR
log4j.appender.ERR=org.apache.log4j.ConsoleAppender
log4j.appender.ERR.Target=System.err
log4j.appender.ERR.layout=org.apache.log4j.PatternLayout
log4j.appender.ERR.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %m%n
L4J
    j=/usr/share/java
    java -Xmx512m -Djava.awt.headless=true -Dlog4j.configuration="file:$work/conf/log4j.properties" \
      -cp "$work/conf:$j/zookeeper.jar:$j/slf4j-log4j12.jar:$j/log4j-1.2.jar" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$work/zoo.cfg" </dev/null >"$work/member.log" 2>&1 &
    server_pid=$!
    ;;
  *) die "ROOKERY_TEST_TARGET=$target: expected rookery or zk" ;;
esac

# Ready: ruok answers imok and srvr does not say "not currently serving requests".
ready=no
for _ in $(seq 1 600); do
  kill -0 "$server_pid" 2>/dev/null || { log_tail; die "member exited during startup"; }
  if [ "$(four_letter ruok)" = imok ] && ! four_letter srvr | grep -q "not currently serving"; then
    ready=yes; break
  fi
  sleep 0.1
done
[ "$ready" = yes ] || { log_tail; die "member did not answer ruok within 60 s"; }
echo "zkcli: $target member up on 127.0.0.1:$port"

# run EXPECTED_RC DESCRIPTION -- zkCli args...; leaves the output in $out.
out=""
run() {
  local want_rc=$1 what=$2; shift 3
  out=$(timeout 120 "$zkcli" -server "127.0.0.1:$port" "$@" 2>&1)
  local rc=$?
  # Drop the JVM/SLF4J/connection chatter for readable failure messages.
  out=$(printf '%s\n' "$out" | grep -v -E '^(SLF4J:|Connecting to |WATCHER::|WatchedEvent |$)')
  if [ "$rc" -ne "$want_rc" ]; then
    fail "$what: zkCli $* exited $rc, expected $want_rc"
    return 1
  fi
  return 0
}
pass() { passed=$((passed + 1)); echo "  ok    $1"; }
fail() {
  failed=$((failed + 1))
  echo "  FAIL  $1"
  printf '%s\n' "$out" | sed 's/^/        | /'
}
# check DESCRIPTION EXPECTED_RC GREP_ARGS... -- zkCli args...
check() {
  local what=$1 want_rc=$2; shift 2
  local pattern=()
  while [ "$1" != -- ]; do pattern+=("$1"); shift; done
  run "$want_rc" "$what" -- "${@:2}" || return
  if [ "${#pattern[@]}" -eq 0 ] || printf '%s\n' "$out" | grep -q "${pattern[@]}"; then
    pass "$what"
  else
    fail "$what: output does not match ${pattern[*]}"
  fi
}
# The children list `ls` prints, one name per line.
children() { printf '%s\n' "$out" | grep -E '^\[.*\]$' | tail -n 1 | tr -d '[]' | tr ',' '\n' | tr -d ' '; }

check "create /zkcli v1"          0 -x -F "Created /zkcli"                  -- create /zkcli v1
check "get /zkcli is v1"          0 -x -F "v1"                              -- get /zkcli
if run 0 "ls / lists zkcli and zookeeper" -- ls /; then
  kids=$(children | sort | tr '\n' ' ')
  if [ "$kids" = "zkcli zookeeper " ]; then pass "ls / lists zkcli and zookeeper"
  else fail "ls / lists zkcli and zookeeper: got [$kids]"; fi
fi
check "set /zkcli v2 -v 0"        0                                         -- set /zkcli v2 -v 0
check "get /zkcli is v2"          0 -x -F "v2"                              -- get /zkcli
check "set /zkcli v3 -v 0 fails"  1 -x -F "version No is not valid : /zkcli" -- set /zkcli v3 -v 0
check "stat /zkcli dataVersion 1" 0 -x -F "dataVersion = 1"                 -- stat /zkcli
check "stat /zkcli cversion 0"    0 -x -F "cversion = 0"                    -- stat /zkcli
check "stat /zkcli dataLength 2"  0 -x -F "dataLength = 2"                  -- stat /zkcli
check "delete /zkcli -v 1"        0                                         -- delete /zkcli -v 1
if run 0 "ls / no longer lists zkcli" -- ls /; then
  kids=$(children | sort | tr '\n' ' ')
  if [ "$kids" = "zookeeper " ]; then pass "ls / no longer lists zkcli"
  else fail "ls / no longer lists zkcli: got [$kids]"; fi
fi
check "get /zkcli is gone"        1 -x -F "Node does not exist: /zkcli"     -- get /zkcli

if [ "$failed" -ne 0 ]; then log_tail; fi
echo "zkcli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
