#!/usr/bin/env python3
"""Checks the Grafana dashboards and Prometheus alert rules of dashboards/ (Python stdlib only).

    tests/dashboards/check.py [--static] [--keep]

1. Static: the dashboards JSON are what dashboards/generate.py makes; each is valid JSON with a
   unique uid, unique panel ids, a title and a description on every panel, every `$variable` it
   uses defined, every panel and query on the `datasource` variable; every metric a query names is
   one Rookery exports (metrics/README.md), and the ZooKeeper dashboard uses ZooKeeper's names only.
2. promtool: `check config` of prometheus.yml, `check rules` and `test rules` of the alerts.
3. Live (skipped with --static): a 3-member Rookery ensemble on free 127.0.0.1 ports and a real
   Prometheus scraping it every second with alerts.yml loaded; a mixed workload (creates, sets,
   reads, the four watch types, deletes, multi, NoNode/NodeExists/BadVersion errors, slow and
   oversize requests, a session that expires, connection rejects), kill -9 of the leader and its
   restart (it comes back by SNAP, commitLogCount=10) and a follower's restart (DIFF). Then every
   query of every dashboard panel and every variable is run through Prometheus' HTTP API as
   Grafana would run it (`$job`/`$instance`/`$op` = All, `$__rate_interval` = 15s, `$__interval` =
   2s, `$__range` = the run): range queries over the run for graphs, instant queries at its end for
   stats and tables. A query "returns data" if it yields at least one finite sample. Every alert
   rule must evaluate without error and its signal (the expression left of its threshold) must
   return data, and RookeryMemberDown and RookeryQuorumAtRisk must go pending while the leader is
   down. Fails listing every query that returned nothing.

Server misbehaviour the workload runs into without it being the dashboards' fault (a read after
`sync` that misses another session's acknowledged write; an expired session whose ephemeral node
stays) is printed as a WARNING and listed under "warnings" in the summary; it does not fail the
check.

Every process started here is stopped on exit, also on failure. Env: ROOKERY_BIN (default
<repo>/target/debug/rookery), PROMETHEUS (default prometheus on PATH), PROMTOOL.
"""
import argparse
import glob
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DASH = os.path.join(REPO, "dashboards")
DASHBOARDS_DIR = os.path.join(DASH, "grafana", "dashboards")
PROM_DIR = os.path.join(DASH, "prometheus")
BIN = os.environ.get("ROOKERY_BIN", os.path.join(REPO, "target", "debug", "rookery"))
PROMETHEUS = os.environ.get("PROMETHEUS") or shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = os.environ.get("PROMTOOL") or shutil.which("promtool") or "/usr/bin/promtool"

sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import zkclient  # noqa: E402
from free_ports import below_ephemeral  # noqa: E402

RATE_INTERVAL = "15s"
INTERVAL = "2s"
STEP = 2
BUILTINS = {"__interval", "__interval_ms", "__rate_interval", "__range", "__range_s",
            "__range_ms", "__dashboard", "__from", "__to", "__name", "__org", "__user", "__all",
            "timeFilter", "__timeFilter", "__auto"}

problems = []


def fail(msg):
    problems.append(msg)
    print(f"  FAIL {msg}", flush=True)


def log(msg):
    print(f"check: {msg}", flush=True)


# ================================================================================== static
def known_metrics():
    """Families from metrics/README.md: {name: (layer, type)} expanded to sample names."""
    layer = None
    names = {}
    with open(os.path.join(REPO, "metrics", "README.md")) as f:
        for line in f:
            if line.startswith("## "):
                layer = "zookeeper" if "ZooKeeper" in line else "rookery"
            m = re.match(r"^\| `([a-z_:][a-z0-9_:]*)` \| (\w+)", line)
            if not m or layer is None:
                continue
            name, kind = m.groups()
            samples = [name]
            if kind == "histogram":
                samples = [name + "_bucket", name + "_sum", name + "_count"]
            elif kind == "summary":
                samples = [name, name + "_sum", name + "_count"]
            for s in samples:
                names[s] = layer
    return names


KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2"}


def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", e)
    out = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word = m.group(0)
        if word.lower() in KEYWORDS:
            continue
        if re.match(r"\s*\(", e[m.end():]):
            continue  # a function or an aggregation
        out.add(word)
    return out


def check_metric_names(where, expr, known, zookeeper_only):
    for name in sorted(metric_names(expr)):
        if name == "up":
            continue
        if name.startswith("process_") and not zookeeper_only:
            continue
        layer = known.get(name)
        if layer is None:
            fail(f"{where}: unknown metric {name!r} (not in metrics/README.md)")
        elif zookeeper_only and layer != "zookeeper":
            fail(f"{where}: {name!r} is not a ZooKeeper metric name")


VAR_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


def used_vars(text):
    return {a or b or c for a, b, c in VAR_RE.findall(text or "")}


def load_dashboards():
    out = []
    for path in sorted(glob.glob(os.path.join(DASHBOARDS_DIR, "*.json"))):
        try:
            with open(path) as f:
                out.append((os.path.basename(path), json.load(f)))
        except (OSError, ValueError) as e:
            fail(f"{os.path.basename(path)}: not valid JSON: {e}")
    return out


def static_checks():
    log("static checks of the dashboards")
    r = subprocess.run([sys.executable, os.path.join(DASH, "generate.py"), "--check"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"dashboards/generate.py --check: {r.stderr.strip() or r.stdout.strip()}")
    known = known_metrics()
    if len(known) < 50:
        fail(f"metrics/README.md: only {len(known)} metric names parsed")
    dashboards = load_dashboards()
    if len(dashboards) < 6:
        fail(f"expected 6 dashboards in {DASHBOARDS_DIR}, found {len(dashboards)}")
    uids = {}
    n_targets = 0
    for name, d in dashboards:
        uid = d.get("uid")
        if not uid or not re.match(r"^[a-zA-Z0-9_-]{1,40}$", uid):
            fail(f"{name}: missing or invalid uid {uid!r}")
        elif uid in uids:
            fail(f"{name}: uid {uid!r} also used by {uids[uid]}")
        else:
            uids[uid] = name
        for key in ("title", "description"):
            if not d.get(key):
                fail(f"{name}: no {key}")
        if int(d.get("schemaVersion", 0)) < 36:
            fail(f"{name}: schemaVersion {d.get('schemaVersion')} is older than Grafana 10's")
        variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
        ds_vars = {n for n, v in variables.items() if v.get("type") == "datasource"}
        if "datasource" not in ds_vars or variables["datasource"].get("query") != "prometheus":
            fail(f"{name}: no Prometheus `datasource` variable")
        for needed in ("job", "instance"):
            if needed not in variables:
                fail(f"{name}: no `{needed}` variable")
        defined = set(variables) | BUILTINS

        def check_ds(where, ds):
            if not isinstance(ds, dict) or ds.get("type") != "prometheus":
                fail(f"{where}: datasource {ds!r} is not a Prometheus data source")
                return
            refs = used_vars(ds.get("uid", ""))
            if not refs or not refs <= ds_vars:
                fail(f"{where}: datasource uid {ds.get('uid')!r} is not a datasource variable")

        for vname, v in variables.items():
            if v.get("type") == "query":
                check_ds(f"{name} variable {vname}", v.get("datasource"))
                q = v.get("query")
                q = q.get("query", "") if isinstance(q, dict) else (q or "")
                for ref in used_vars(q):
                    if ref not in defined:
                        fail(f"{name} variable {vname}: uses undefined ${ref}")
        ids = set()
        for p in d.get("panels", []):
            pid = p.get("id")
            where = f"{name} panel {pid} {p.get('title')!r}"
            if pid in ids or not isinstance(pid, int):
                fail(f"{where}: duplicate or missing id")
            ids.add(pid)
            if not p.get("title"):
                fail(f"{where}: no title")
            if not p.get("description"):
                fail(f"{where}: no description")
            if not all(k in p.get("gridPos", {}) for k in ("h", "w", "x", "y")):
                fail(f"{where}: no gridPos")
            if p.get("type") == "row":
                continue
            check_ds(where, p.get("datasource"))
            targets = p.get("targets") or []
            if not targets:
                fail(f"{where}: no queries")
            refids = set()
            for t in targets:
                n_targets += 1
                tw = f"{where} query {t.get('refId')}"
                if not t.get("refId") or t["refId"] in refids:
                    fail(f"{tw}: missing or duplicate refId")
                refids.add(t.get("refId"))
                check_ds(tw, t.get("datasource"))
                expr = t.get("expr", "")
                if not expr.strip():
                    fail(f"{tw}: empty expr")
                for ref in used_vars(expr) | used_vars(t.get("legendFormat", "")):
                    if ref not in defined:
                        fail(f"{tw}: uses undefined ${ref}")
                if 'job=~"$job"' not in expr or 'instance=~"$instance"' not in expr:
                    fail(f"{tw}: a selector without job=~\"$job\" and instance=~\"$instance\"")
                check_metric_names(tw, expr, known, d.get("uid") == "zookeeper-compat")
    log(f"{len(dashboards)} dashboards, {n_targets} queries checked statically")
    return dashboards


def promtool_checks():
    log("promtool")
    for args in (["check", "config", os.path.join(PROM_DIR, "prometheus.yml")],
                 ["check", "rules", os.path.join(PROM_DIR, "alerts.yml")],
                 ["test", "rules", os.path.join(PROM_DIR, "alerts_test.yml")]):
        r = subprocess.run([PROMTOOL] + args, capture_output=True, text=True, cwd=PROM_DIR)
        out = (r.stdout + r.stderr).strip()
        print("    " + out.replace("\n", "\n    "))
        if r.returncode != 0:
            fail(f"promtool {' '.join(args[:2])} failed")


# ================================================================================== live
class Live:
    def __init__(self, keep):
        self.keep = keep
        self.tmp = tempfile.mkdtemp(prefix="rookery-dashboards-")
        self.members = {}  # id -> Popen
        self.prom = None
        self.clients = []
        self.alerts_seen = {}
        self.warnings = []
        self.verbose = False
        self.phase = "start"
        self.stale_reads = 0

    # ------------------------------------------------------------------ processes
    def setup(self):
        ports = below_ephemeral(13)
        self.client_ports = ports[0:3]
        self.quorum_ports = ports[3:6]
        self.election_ports = ports[6:9]
        self.metrics_ports = ports[9:12]
        self.prom_port = ports[12]
        self.hosts = [("127.0.0.1", p) for p in self.client_ports]
        self.instances = [f"127.0.0.1:{p}" for p in self.metrics_ports]
        for i in range(3):
            d = os.path.join(self.tmp, f"m{i + 1}")
            os.makedirs(d)
            with open(os.path.join(d, "myid"), "w") as f:
                f.write(f"{i + 1}\n")
            lines = [
                "tickTime=500", "initLimit=10", "syncLimit=5", f"dataDir={d}",
                f"clientPort={self.client_ports[i]}", "clientPortAddress=127.0.0.1",
                # Low enough that the workload's burst of raw connections is refused.
                "maxClientCnxns=20",
                # A member more than 10 transactions behind comes back by SNAP.
                "commitLogCount=10",
                # The workload's 1 MB writes take longer than this; its small ones do not.
                "slowRequestThresholdMs=5",
                "4lw.commands.whitelist=*", "admin.enableServer=false",
                "metricsProvider.httpHost=127.0.0.1",
                f"metricsProvider.httpPort={self.metrics_ports[i]}",
            ] + [f"server.{j + 1}=127.0.0.1:{self.quorum_ports[j]}:{self.election_ports[j]}"
                 for j in range(3)]
            with open(os.path.join(d, "zoo.cfg"), "w") as f:
                f.write("\n".join(lines) + "\n")

    def start_member(self, i):
        d = os.path.join(self.tmp, f"m{i}")
        logf = open(os.path.join(d, "log"), "a")
        self.members[i] = subprocess.Popen(
            [BIN, "server", "--config", os.path.join(d, "zoo.cfg")],
            stdout=subprocess.DEVNULL, stderr=logf, stdin=subprocess.DEVNULL,
            env=dict(os.environ, ROOKERY_LOG=os.environ.get("ROOKERY_LOG", "info")))
        logf.close()

    def kill_member(self, i):
        p = self.members.pop(i)
        p.kill()
        p.wait()

    def four(self, i, word):
        try:
            with socket.create_connection(("127.0.0.1", self.client_ports[i - 1]), timeout=2) as s:
                s.sendall(word.encode())
                buf = b""
                while True:
                    d = s.recv(4096)
                    if not d:
                        return buf.decode(errors="replace")
                    buf += d
        except OSError:
            return ""

    def mode(self, i):
        for line in self.four(i, "srvr").splitlines():
            if line.startswith("Mode: "):
                return line[6:].strip()
        return None

    def wait_serving(self, ids, timeout=60):
        """Waits until every member in `ids` serves and one of them leads."""
        deadline = time.monotonic() + timeout
        while True:
            modes = {i: self.mode(i) for i in ids}
            if all(modes.values()) and "leader" in modes.values():
                return modes
            if time.monotonic() > deadline:
                raise RuntimeError(f"members not serving after {timeout}s: {modes}")
            time.sleep(0.2)

    def leader(self):
        for i in self.members:
            if self.mode(i) == "leader":
                return i
        return None

    def start_prometheus(self):
        cfg = os.path.join(self.tmp, "prometheus.yml")
        targets = ", ".join(f"'{x}'" for x in self.instances)
        with open(cfg, "w") as f:
            f.write(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                f"rule_files:\n  - '{os.path.join(PROM_DIR, 'alerts.yml')}'\n"
                "scrape_configs:\n  - job_name: rookery\n"
                f"    static_configs:\n      - targets: [{targets}]\n")
        logf = open(os.path.join(self.tmp, "prometheus.log"), "w")
        self.prom = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}",
             f"--storage.tsdb.path={os.path.join(self.tmp, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.prom_port}", "--log.level=warn"],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()
        self.prom_url = f"http://127.0.0.1:{self.prom_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                targets = self.api("/api/v1/targets")["activeTargets"]
                if len(targets) == 3 and all(t["health"] == "up" for t in targets):
                    return
            except (OSError, ValueError, KeyError, RuntimeError):
                pass
            if self.prom.poll() is not None:
                raise RuntimeError("prometheus exited; see prometheus.log")
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus does not scrape the three members")
            time.sleep(0.5)

    def api(self, path, params=None):
        url = self.prom_url + path
        data = urllib.parse.urlencode(params).encode() if params else None
        try:
            with urllib.request.urlopen(url, data=data, timeout=30) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.load(e)
        if body.get("status") != "success":
            raise RuntimeError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def stop(self):
        for c in self.clients:
            try:
                c.abandon()
            except Exception:  # noqa: BLE001
                pass
        procs = list(self.members.values()) + ([self.prom] if self.prom else [])
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.members.clear()
        self.prom = None

    def dump_logs(self):
        for path in sorted(glob.glob(os.path.join(self.tmp, "*", "log"))) + [
                os.path.join(self.tmp, "prometheus.log")]:
            try:
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-15:]
            except OSError:
                continue
            print(f"---- {path} (last lines)")
            sys.stdout.write("".join(tail))

    # ------------------------------------------------------------------ workload
    def client(self, first, timeout_ms=10000):
        hosts = self.hosts[first:] + self.hosts[:first]
        c = zkclient.Client(hosts, timeout_ms=timeout_ms)
        self.clients.append(c)
        return c

    def retrying(self, fn, *args, **kw):
        """Runs a write, tolerating the answer of a retry after a connection loss."""
        for attempt in range(20):
            try:
                return fn(*args, **kw)
            except zkclient.ZkError as e:
                if e.code in (zkclient.NODE_EXISTS, zkclient.NO_NODE) and attempt > 0:
                    return None
                raise
            except (OSError, ConnectionError):
                time.sleep(0.25)
        raise RuntimeError(f"{fn.__name__}{args[:1]} kept failing")

    def read(self, fn, *args, **kw):
        """A read of a node another session created: it must be there after a sync. A member
        that misses it is counted (a server bug, reported as a warning) and asked again."""
        for _ in range(40):
            try:
                return self.retrying(fn, *args, **kw)
            except zkclient.ZkError as e:
                if e.code != zkclient.NO_NODE:
                    raise
                self.stale_reads += 1
                time.sleep(0.05)
        raise RuntimeError(f"{fn.__name__}{args[:1]}: NoNode for 2s after a sync")

    def expect_error(self, code, fn, *args):
        for _ in range(20):
            try:
                fn(*args)
            except zkclient.ZkError as e:
                if e.code == code:
                    return
                raise
            except (OSError, ConnectionError):
                time.sleep(0.25)
                continue
            raise RuntimeError(f"{fn.__name__}{args[:1]}: expected error {code}")
        raise RuntimeError(f"{fn.__name__}{args[:1]} kept failing")

    def mixed_round(self, writer, watcher, n):
        """One round of every kind of request, with each watch type fired once."""
        w = f"/dash/w{n}"
        # Watches on `watcher`'s member, fired by writes on `writer`'s member.
        self.retrying(watcher.exists, f"{w}-created", watch=True)
        self.retrying(writer.create, f"{w}-data", b"0")
        self.retrying(writer.create, f"{w}-deleted", b"")
        # A member may serve a read before it applied another session's write: sync first.
        self.retrying(watcher.sync, "/dash")
        self.read(watcher.get, f"{w}-data", watch=True)
        self.retrying(watcher.exists, f"{w}-deleted", watch=True)
        self.retrying(watcher.children, "/dash/items", watch=True)
        self.retrying(writer.create, f"{w}-created", b"x")                 # NodeCreated
        self.retrying(writer.set, f"{w}-data", b"1")                      # NodeDataChanged
        self.retrying(writer.create, "/dash/items/i-", b"v", zkclient.SEQUENTIAL)  # NodeChildrenChanged
        self.retrying(writer.delete, f"{w}-deleted")                      # NodeDeleted
        # Reads of every kind, on both members.
        for c in (writer, watcher):
            self.retrying(c.sync, "/dash")
            self.read(c.get, f"{w}-data")
            self.retrying(c.exists, f"{w}-created")
            self.retrying(c.children, "/dash/items", with_stat=True)
        # Writes of every kind.
        path = self.retrying(writer.create, f"{w}-c2", b"payload" * 10, with_stat=True)
        st = self.retrying(writer.set, f"{w}-data", b"2" * 100)
        self.retrying(writer.set, f"{w}-data", b"3", version=st["version"])
        self.retrying(writer.multi_create_set, f"{w}-multi", f"{w}-data", b"4")
        # Errors: NoNode, NodeExists, BadVersion, NotEmpty.
        self.expect_error(zkclient.NO_NODE, writer.get, f"{w}-missing")
        self.expect_error(zkclient.NO_NODE, writer.delete, f"{w}-missing")
        self.expect_error(zkclient.NODE_EXISTS, writer.create, f"{w}-data", b"")
        self.expect_error(zkclient.BAD_VERSION, writer.set, f"{w}-data", b"5", 999)
        self.expect_error(zkclient.NOT_EMPTY, writer.delete, "/dash/items")
        for p in (f"{w}-created", path or f"{w}-c2", f"{w}-multi", f"{w}-data"):
            self.retrying(writer.delete, p)

    def load(self, seconds, pairs, counter):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for writer, watcher in pairs:
                counter[0] += 1
                self.mixed_round(writer, watcher, counter[0])

    def metric(self, member, name):
        """The sum of a family's samples on one member's /metrics."""
        url = f"http://127.0.0.1:{self.metrics_ports[member - 1]}/metrics"
        total = None
        with urllib.request.urlopen(url, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    total = (total or 0) + float(line.rsplit(" ", 1)[1])
        return total

    def connection_burst(self, member, n):
        """Opens n sessions from this address at once; past maxClientCnxns the member refuses
        them (connection_rejected). The accepted ones are closed again."""
        socks, accepted = [], []
        for _ in range(n):
            try:
                s = socket.create_connection(("127.0.0.1", self.client_ports[member - 1]),
                                             timeout=3)
                req = (zkclient._int(0) + zkclient._long(0) + zkclient._int(4000)
                       + zkclient._long(0) + zkclient._buf(b"\x00" * 16) + zkclient._bool(False))
                s.sendall(zkclient._int(len(req)) + req)
                socks.append(s)
            except OSError:
                pass
        for s in socks:
            try:
                if s.recv(4):
                    accepted.append(s)
            except OSError:
                pass
        for s in accepted:
            try:
                body = zkclient._int(1) + zkclient._int(zkclient.CLOSE_SESSION)
                s.sendall(zkclient._int(len(body)) + body)
                s.recv(64)
            except OSError:
                pass
        for s in socks:
            s.close()
        return len(socks) - len(accepted)

    def total(self, name):
        """A family's samples summed over the running members."""
        total = 0
        for i in self.members:
            try:
                total += self.metric(i, name) or 0
            except OSError:
                pass
        return total

    def expired_count(self):
        return self.total('rookery_session_events_total{event="expired"}')

    def bad_packet(self, member):
        with socket.create_connection(("127.0.0.1", self.client_ports[member - 1]), timeout=2) as s:
            s.sendall(b"\x7f\xff\xff\xff" + b"\x00" * 64)  # a frame far over jute.maxbuffer
            try:
                s.recv(16)
            except OSError:
                pass

    def watch_alerts(self, stop, seen):
        while not stop.is_set():
            try:
                for a in self.api("/api/v1/alerts")["alerts"]:
                    seen.setdefault(a["labels"]["alertname"], set()).add(a["state"])
            except Exception:  # noqa: BLE001
                pass
            stop.wait(0.5)

    def step(self, msg):
        self.phase = msg
        log(msg)

    def run_workload(self):
        counter = [0]
        self.step("workload: sessions on every member, every request kind, watches, errors")
        c = [self.client(i) for i in range(3)]
        self.retrying(c[0].create, "/dash", b"")
        self.retrying(c[0].create, "/dash/items", b"")
        self.retrying(c[0].create, "/dash/big", b"")
        pairs = [(c[0], c[1]), (c[1], c[2]), (c[2], c[0])]
        self.load(4, pairs, counter)

        self.step("workload: 1 MB writes (slow requests), an oversize packet, a burst of connections")
        slow_before = self.total("rookery_slow_requests_total")
        for i in range(30):
            self.retrying(c[i % 3].set, "/dash/big", os.urandom(1000000))
            if i >= 5 and self.total("rookery_slow_requests_total") > slow_before:
                break
        else:
            raise RuntimeError("no 1 MB write took longer than slowRequestThresholdMs=5")
        self.bad_packet(3)
        refused = self.connection_burst(2, 24)
        log(f"  {refused} of 24 connections refused (maxClientCnxns=20)")

        self.step("workload: a session closed, and one that expires (ephemeral node goes with it)")
        closing = self.client(1)
        closing.create("/dash/closing", b"", zkclient.EPHEMERAL)
        closing.close()
        expired_before = self.expired_count()
        expiring = self.client(2, timeout_ms=1000)
        expiring.create("/dash/eph", b"", zkclient.EPHEMERAL)
        expiring.abandon()
        deadline = time.monotonic() + 20
        while self.expired_count() <= expired_before:
            if time.monotonic() > deadline:
                raise RuntimeError("the leader did not expire the abandoned session")
            time.sleep(0.2)
        deadline = time.monotonic() + 5
        while c[0].exists("/dash/eph") is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if c[0].exists("/dash/eph") is not None:
            self.warnings.append(
                "server: the leader counted the session expired, but its ephemeral node "
                "/dash/eph is still there 5s later (the session is never closed)")
            log(f"  WARNING {self.warnings[-1]}")
        self.load(3, pairs, counter)

        leader = self.leader()
        self.step(f"kill -9 of the leader (member {leader}); writes go on without it")
        seen = {}
        stop = threading.Event()
        watcher = threading.Thread(target=self.watch_alerts, args=(stop, seen), daemon=True)
        watcher.start()
        self.kill_member(leader)
        survivors = [c[i - 1] for i in (1, 2, 3) if i != leader]
        # More than commitLogCount (10) writes, so the old leader needs a SNAP.
        for i in range(40):
            self.retrying(survivors[i % 2].create, f"/dash/items/while-down-{i}", b"x" * 200)
        self.load(3, [(survivors[0], survivors[1]), (survivors[1], survivors[0])], counter)
        deadline = time.monotonic() + 30
        while not ({"RookeryMemberDown", "RookeryQuorumAtRisk"} <= set(seen)):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        stop.set()
        watcher.join()
        self.alerts_seen = seen
        log(f"alerts while member {leader} was down: "
            + ", ".join(f"{k} ({'/'.join(sorted(v))})" for k, v in sorted(seen.items())))

        self.step(f"restart of member {leader} (SNAP: it missed more than commitLogCount writes)")
        snaps_before = self.total('rookery_syncs_total{kind="snap"}')
        self.start_member(leader)
        self.wait_serving(list(self.members))
        snaps_after = self.total('rookery_syncs_total{kind="snap"}')
        log(f"  SNAP syncs served: {snaps_before:.0f} -> {snaps_after:.0f}")
        if snaps_after <= snaps_before:
            raise RuntimeError("the restarted member did not come back by SNAP")

        follower = next(i for i in sorted(self.members) if self.mode(i) == "follower")
        self.step(f"restart of follower {follower} after 3 writes (DIFF)")
        diffs_before = self.total('rookery_syncs_total{kind="diff"}')
        self.kill_member(follower)
        writer = next(c[i - 1] for i in sorted(self.members))
        for i in range(3):
            self.retrying(writer.create, f"/dash/items/diff-{i}", b"d")
        self.start_member(follower)
        self.wait_serving(list(self.members))
        diffs_after = self.total('rookery_syncs_total{kind="diff"}')
        log(f"  DIFF syncs served: {diffs_before:.0f} -> {diffs_after:.0f}")
        if diffs_after <= diffs_before:
            raise RuntimeError("the restarted follower did not come back by DIFF")

        self.step("workload: every member again")
        fresh = [self.client(i) for i in range(3)]
        self.load(6, [(fresh[0], fresh[1]), (fresh[1], fresh[2]), (fresh[2], fresh[0])], counter)
        for i in range(3):
            self.retrying(fresh[i].set, "/dash/big", os.urandom(1000000))
        self.step(f"workload done: {counter[0]} rounds")
        if self.stale_reads:
            self.warnings.append(
                f"server: {self.stale_reads} read(s) after a sync returned NoNode for a node "
                "whose create another session had been answered (stale read after sync)")
            log(f"  WARNING {self.warnings[-1]}")

    # ------------------------------------------------------------------ evaluation
    def substitute(self, expr, range_s):
        subs = {"job": ".*", "instance": ".*", "op": ".*",
                "__rate_interval": RATE_INTERVAL, "__interval": INTERVAL,
                "__interval_ms": str(int(INTERVAL[:-1]) * 1000),
                "__range": f"{range_s}s", "__range_s": str(range_s),
                "__range_ms": str(range_s * 1000)}

        def rep(m):
            name = m.group(1) or m.group(2) or m.group(3)
            return subs.get(name, m.group(0))
        return VAR_RE.sub(rep, expr)

    @staticmethod
    def finite(v):
        try:
            return math.isfinite(float(v))
        except (TypeError, ValueError):
            return False

    def has_data(self, expr, instant, start, end):
        if instant:
            data = self.api("/api/v1/query", {"query": expr, "time": f"{end:.3f}"})
            if data["resultType"] == "scalar":
                return self.finite(data["result"][1]), 1
            series = data["result"]
            if self.verbose:
                print(f"      instant: {[(s['metric'], s['value'][1]) for s in series][:4]}: "
                      f"{expr[:120]}")
            return any(self.finite(s["value"][1]) for s in series), len(series)
        data = self.api("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}",
                                                 "end": f"{end:.3f}", "step": str(STEP)})
        series = data["result"]
        finite = [float(v[1]) for s in series for v in s["values"] if self.finite(v[1])]
        if self.verbose:
            print(f"      {len(series)} series, {len(finite)} finite, max "
                  f"{max(finite) if finite else None}: {expr[:150]}")
        return bool(finite), len(series)

    def evaluate(self, dashboards, start, end):
        range_s = int(end - start) + 1
        total = empty = 0
        log(f"evaluating every dashboard query over the run ({range_s}s, step {STEP}s)")
        for name, d in dashboards:
            n = bad = 0
            # Variables: their label_values() must list the live jobs, members and ops.
            for v in d["templating"]["list"]:
                if v.get("type") != "query":
                    continue
                q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
                m = re.match(r"label_values\((.*),\s*(\w+)\)$", q)
                if not m:
                    fail(f"{name} variable {v['name']}: cannot evaluate {q!r}")
                    continue
                selector = self.substitute(m.group(1), range_s)
                data = self.api("/api/v1/series", {"match[]": selector, "start": f"{start:.3f}",
                                                   "end": f"{end:.3f}"})
                values = sorted({s.get(m.group(2)) for s in data} - {None})
                total += 1
                if not values:
                    empty += 1
                    fail(f"{name} variable {v['name']}: {q} lists nothing")
                elif v["name"] == "instance" and set(values) != set(self.instances):
                    fail(f"{name} variable instance lists {values}, expected {self.instances}")
            for p in d["panels"]:
                for t in p.get("targets", []):
                    n += 1
                    expr = self.substitute(t["expr"], range_s)
                    instant = bool(t.get("instant")) and not t.get("range")
                    try:
                        ok, nseries = self.has_data(expr, instant, start, end)
                    except RuntimeError as e:
                        ok, nseries = False, 0
                        fail(f"{name} / {p['title']} / {t['refId']}: query error {e}: {expr}")
                    if not ok:
                        bad += 1
                        kind = "instant" if instant else "range"
                        fail(f"{name} / {p['title']} / {t['refId']}: no data ({kind}, "
                             f"{nseries} series, none finite): {expr}")
            total += n
            empty += bad
            log(f"  {name}: {n - bad}/{n} queries return data")
        return total, empty

    def evaluate_rules(self, start, end, known):
        log("alert rules as Prometheus loaded them")
        with open(os.path.join(DASH, "RUNBOOK.md")) as f:
            runbook = f.read()
        anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
                   for h in re.findall(r"^#+ (.*)$", runbook, re.M)}
        groups = self.api("/api/v1/rules")["groups"]
        alerts = [r for g in groups for r in g["rules"] if r["type"] == "alerting"]
        if len(alerts) < 12:
            fail(f"only {len(alerts)} alert rules loaded")
        ok = 0
        for r in alerts:
            name = r["name"]
            if r.get("health") != "ok":
                fail(f"alert {name}: health {r.get('health')}: {r.get('lastError')}")
            ann = r.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    fail(f"alert {name}: no {key} annotation")
            anchor = ann.get("runbook_url", "").rpartition("#")[2]
            if anchor not in anchors or anchor != name.lower():
                fail(f"alert {name}: runbook_url {ann.get('runbook_url')!r} is not a section "
                     f"of dashboards/RUNBOOK.md named after the alert")
            check_metric_names(f"alert {name}", r["query"], known, False)
            signal_expr = split_threshold(r["query"])
            if signal_expr is None:
                fail(f"alert {name}: not of the form SIGNAL <comparison> THRESHOLD: {r['query']}")
                continue
            try:
                has, _ = self.has_data(signal_expr, False, start, end)
            except RuntimeError as e:
                has = False
                fail(f"alert {name}: signal query error {e}")
            if has:
                ok += 1
            else:
                fail(f"alert {name}: its signal returns no data: {signal_expr}")
        log(f"  {ok}/{len(alerts)} alert signals return data")
        for name in ("RookeryMemberDown", "RookeryQuorumAtRisk"):
            states = self.alerts_seen.get(name, set())
            if not states & {"pending", "firing"}:
                fail(f"alert {name} did not go pending while the leader was down")
        return len(alerts), len(alerts) - ok


def split_threshold(expr):
    """`SIGNAL <cmp> NUMBER` -> SIGNAL (the last comparison outside brackets and strings)."""
    depth, quote, last = 0, None, None
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            two = expr[i:i + 2]
            if two in ("==", "!=", ">=", "<="):
                last = (i, 2)
                i += 1
            elif ch in "<>":
                last = (i, 1)
        i += 1
    if last is None:
        return None
    rest = expr[last[0] + last[1]:].strip()
    rest = re.sub(r"^bool\s+", "", rest)
    if not re.match(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$", rest):
        return None
    return expr[:last[0]].strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--static", action="store_true", help="skip the live ensemble")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--verbose", action="store_true", help="print what every query returned")
    args = ap.parse_args()
    t0 = time.monotonic()
    dashboards = static_checks()
    promtool_checks()
    summary = {"static_problems": len(problems)}
    if not args.static:
        for path in (BIN, PROMETHEUS):
            if not os.access(path, os.X_OK):
                fail(f"{path} not found (build with `cargo build -p rookery`; "
                     f"apt-get install prometheus)")
                return report(summary, t0)
        live = Live(args.keep)
        live.verbose = args.verbose

        def on_signal(signum, _frame):
            raise SystemExit(128 + signum)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        ok = False
        try:
            log(f"live: 3 members and Prometheus under {live.tmp}")
            live.setup()
            for i in (1, 2, 3):
                live.start_member(i)
            live.wait_serving([1, 2, 3])
            live.start_prometheus()
            start = time.time()
            live.run_workload()
            time.sleep(4)  # the last scrapes
            end = time.time()
            total, empty = live.evaluate(dashboards, start, end)
            rules, silent = live.evaluate_rules(start, end, known_metrics())
            summary.update({"queries": total, "queries_without_data": empty,
                            "alert_rules": rules, "alert_signals_without_data": silent,
                            "alerts_seen_while_leader_down": {
                                k: sorted(v) for k, v in sorted(live.alerts_seen.items())},
                            "warnings": live.warnings})
            ok = True
        except Exception as e:  # noqa: BLE001 - reported, logs dumped
            import traceback
            traceback.print_exc()
            fail(f"live run ({live.phase}): {type(e).__name__}: {e}")
        finally:
            live.stop()
            if not ok or problems:
                live.dump_logs()
            if args.keep or not ok:
                log(f"kept {live.tmp}")
            else:
                shutil.rmtree(live.tmp, ignore_errors=True)
    return report(summary, t0)


def report(summary, t0):
    summary["problems"] = len(problems)
    summary["seconds"] = round(time.monotonic() - t0, 1)
    print("\n==== dashboards check summary ====")
    print(json.dumps(summary, indent=2))
    if problems:
        print(f"FAILED: {len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
