#!/usr/bin/env python3
"""Write gap while the ensemble leader is killed (kill -9): a ZooKeeper-protocol writer load that
survives the failover and measures how long writes stop (Rookery or Apache ZooKeeper).

N worker OS processes (multiprocessing, fork), each with its own KazooClient session on the FULL
connect string, each keeping ONE request outstanding (sequential writes):
  --op create : create <parent>/w<i>-<seq> (persistent, --value-size bytes)
  --op set    : setData on its own node <parent>/w<i>
Every acknowledged write's completion time (CLOCK_MONOTONIC, system-wide, so comparable across the
worker processes) is recorded. A failed write (ConnectionLoss, SessionExpired, timeout, ...) is
retried as the same operation; a create retried after a lost reply that answers NodeExists counts
as acknowledged at the retry (the first attempt had committed). Sessions are not recreated by hand:
kazoo reconnects on its own (to another member of the connect string); an expired session is
replaced by kazoo and counted ("sessions_lost").

Timeline: all workers connect, start together; after --pre seconds the parent sends SIGKILL to
--kill-pid (the leader, found by the caller); writing continues --post seconds after the kill.
With --srvr-ports the parent polls `srvr` on those client ports (every 0.1 s) after the kill and
notes when some member first reports `Mode: leader` again (new_leader_ms).

Client reconnect back-off: kazoo's default connection retry backs off exponentially (0.1 s doubling,
+ up to 0.4 s jitter) after each full pass over the hosts, which can add a second or more of pure
client-side delay to a ~1 s election. Here it is capped (--max-retry-delay, default 0.25 s; the same
for both servers), so the measured gap is the server's unavailability to within ~0.3 s.

Prints one JSON line on stdout; the key numbers (ms, relative to the kill):
  max_gap_ms              longest interval with no acknowledged write from ANY session, over the
                          whole run (the unavailability window; gap_start_ms says where it began)
  first_ack_after_kill_ms first write acknowledged (any session) after the kill
  all_resumed_ms          when the LAST session had a write acknowledged after the kill
  session_max_gap_ms      per session longest gap between its own acks: median and max
  new_leader_ms, errors (failed attempts, retried), error_types, sessions_lost, sessions_suspended
  ops_per_s_before / ops_per_s_after_5s  write rate before the kill / in the last 5 s
  setup_retries           sessions replaced because their first write (before the clock) failed
Exit status: 0 if every worker reported and writes were acknowledged after the kill, else 1.

Example: python failover_bench.py --hosts 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183 \\
           --clients 16 --kill-pid 12345 --pre 3 --post 10
"""
import argparse
import json
import logging
import multiprocessing as mp
import os
import signal
import socket
import statistics
import sys
import threading
import time
import uuid

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NodeExistsError
from kazoo.retry import KazooRetry

CONNECT_TIMEOUT = 20.0
BASE = "/failover-bench"


def make_client(hosts, idx, balance, max_retry_delay):
    if balance:  # worker i prefers member i % n first, but still knows every member
        hl = hosts.split(",")
        k = idx % len(hl)
        hosts = ",".join(hl[k:] + hl[:k])
    retry = KazooRetry(max_tries=-1, delay=min(0.05, max_retry_delay), backoff=2,
                       max_jitter=min(0.05, max_retry_delay), max_delay=max_retry_delay)
    return KazooClient(hosts=hosts, timeout=10.0, connection_retry=retry, randomize_hosts=not balance)


def worker(idx, args, parent, ready_q, go, t0_shared, result_q):
    hard_limit = int(CONNECT_TIMEOUT + args.pre + args.post + 60)
    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.alarm(hard_limit)
    res = {"idx": idx, "acks": [], "errors": 0, "error_types": {}, "error_samples": [], "dup_acks": 0,
           "lost": 0, "suspended": 0, "fatal": None, "first_server": None,
           "setup_retries": 0, "setup_samples": []}
    zk = None
    stopping = False
    # kazoo logs every dropped connection as a WARNING to stderr: expected here, and counted.
    logging.getLogger("kazoo").setLevel(logging.ERROR)
    try:
        def listener(state):
            if stopping:
                return
            if state == KazooState.LOST:
                res["lost"] += 1
            elif state == KazooState.SUSPENDED:
                res["suspended"] += 1

        value = os.urandom(args.value_size // 2 + 1).hex()[: args.value_size].encode()
        own = f"{parent}/w{idx}"
        for attempt in range(args.setup_retries + 1):
            zk = make_client(args.hosts, idx, args.balance, args.max_retry_delay)
            zk.start(timeout=CONNECT_TIMEOUT)
            try:
                res["first_server"] = zk._connection._socket.getpeername()[1]
            except Exception:  # noqa: BLE001 - informational only
                pass
            try:
                zk.create(own, value)  # a first write before the clock (set: the node to set)
                break
            except Exception as e:  # noqa: BLE001
                if attempt >= args.setup_retries:
                    raise
                res["setup_retries"] += 1
                if len(res["setup_samples"]) < 2:
                    res["setup_samples"].append(f"{type(e).__name__}: {e}"[:160])
                try:
                    zk.stop()
                    zk.close()
                except Exception:  # noqa: BLE001
                    pass
                zk = None
                own = f"{parent}/w{idx}.{attempt + 1}"  # the failed create might have committed
        zk.add_listener(listener)
        ready_q.put(("ready", idx))
        if not go.wait(CONNECT_TIMEOUT + 10):
            raise RuntimeError("start signal never came")
        t_start = t0_shared.value
        t_end = t_start + args.pre + args.post
        now = time.monotonic()
        if now < t_start:
            time.sleep(t_start - now)
        seq = 0
        retrying = False
        acks = res["acks"]
        while True:
            t1 = time.monotonic()
            if t1 >= t_end:
                break
            try:
                if args.op == "create":
                    a = zk.create_async(f"{own}-{seq}", value)
                else:
                    a = zk.set_async(own, value)
                a.get(timeout=max(0.5, min(args.op_timeout, t_end - t1 + 5)))
            except NodeExistsError:
                if not retrying:
                    raise
                res["dup_acks"] += 1  # the lost-reply attempt had committed
            except Exception as e:  # noqa: BLE001 - retry the same write after any failure
                res["errors"] += 1
                name = type(e).__name__
                res["error_types"][name] = res["error_types"].get(name, 0) + 1
                if len(res["error_samples"]) < 2:
                    res["error_samples"].append(f"{name}: {e}"[:160])
                retrying = True
                time.sleep(0.005)
                continue
            acks.append(time.monotonic())
            retrying = False
            seq += 1
    except Exception as e:  # noqa: BLE001
        res["fatal"] = f"{type(e).__name__}: {e}"[:300]
        try:
            ready_q.put(("failed", idx))
        except Exception:  # noqa: BLE001
            pass
    finally:
        signal.alarm(hard_limit)
        stopping = True  # closing the client reports LOST too; not an expiry
        if zk is not None:
            try:
                zk.stop()
                zk.close()
            except Exception:  # noqa: BLE001
                pass
    result_q.put(res)
    signal.alarm(0)


def srvr_mode(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
        s.settimeout(1.0)
        s.sendall(b"srvr")
        buf = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        s.close()
        for line in buf.decode(errors="replace").splitlines():
            if line.startswith("Mode: "):
                return line[6:].strip()
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", required=True, help="full connect string, e.g. 127.0.0.1:2181,127.0.0.1:2182")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--pre", type=float, default=3.0, help="seconds of writing before the kill")
    ap.add_argument("--post", type=float, default=10.0, help="seconds of writing after the kill")
    ap.add_argument("--kill-pid", type=int, default=0, help="pid to SIGKILL after --pre s (0: kill nothing)")
    ap.add_argument("--srvr-ports", default="", help="client ports to poll with srvr after the kill (comma-separated)")
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--op", choices=["create", "set"], default="create")
    ap.add_argument("--op-timeout", type=float, default=15.0, help="max wait for one reply before retrying")
    ap.add_argument("--max-retry-delay", type=float, default=0.25, help="cap of kazoo's reconnect back-off (s)")
    ap.add_argument("--setup-retries", type=int, default=3,
                    help="each session writes once before the clock starts; if that write fails, the "
                         "session is replaced, up to this many times (counted in setup_retries)")
    ap.add_argument("--balance", action="store_true",
                    help="worker i lists member i %% n first (no shuffling): sessions spread evenly")
    ap.add_argument("--label", default="", help="free text copied into the JSON line")
    args = ap.parse_args()

    overall = int(CONNECT_TIMEOUT * 2 + args.pre + args.post + 90)
    signal.signal(signal.SIGALRM, lambda *_: (print(json.dumps({"label": args.label, "fatal": ["parent timed out"]})), os._exit(4)))
    signal.alarm(overall)

    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    parent = f"{BASE}/{run_id}"
    setup = KazooClient(hosts=args.hosts, timeout=10.0)
    setup.start(timeout=CONNECT_TIMEOUT)
    setup.ensure_path(BASE)
    setup.create(parent)
    setup.stop()
    setup.close()  # no kazoo threads left in the parent before forking

    ctx = mp.get_context("fork")
    ready_q, result_q = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    t0 = ctx.Value("d", 0.0)
    procs = [ctx.Process(target=worker, args=(i, args, parent, ready_q, go, t0, result_q), daemon=True)
             for i in range(args.clients)]
    for p in procs:
        p.start()

    ready = failed = 0
    deadline = time.monotonic() + CONNECT_TIMEOUT + 10
    while ready + failed < args.clients and time.monotonic() < deadline:
        try:
            kind, _ = ready_q.get(timeout=max(0.1, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - queue.Empty
            break
        if kind == "ready":
            ready += 1
        else:
            failed += 1
    t_start = time.monotonic() + 0.2
    t0.value = t_start
    go.set()
    t_end = t_start + args.pre + args.post

    # Kill at t_start + pre.
    time.sleep(max(0.0, t_start + args.pre - time.monotonic()))
    t_kill = time.monotonic()
    kill_error = None
    if args.kill_pid:
        try:
            os.kill(args.kill_pid, signal.SIGKILL)
        except OSError as e:
            kill_error = str(e)

    # Poll srvr until a member reports leader again (or the run ends).
    new_leader = None
    ports = [int(p) for p in args.srvr_ports.split(",") if p.strip()]
    if ports and args.kill_pid:
        def poll():
            nonlocal new_leader
            while time.monotonic() < t_end:
                for port in ports:
                    if srvr_mode(port) == "leader":
                        new_leader = (time.monotonic() - t_kill, port)
                        return
                time.sleep(0.1)
        th = threading.Thread(target=poll, daemon=True)
        th.start()

    results = []
    collect_deadline = t_end + 40
    while len(results) < args.clients and time.monotonic() < collect_deadline:
        try:
            results.append(result_q.get(timeout=max(0.1, collect_deadline - time.monotonic())))
        except Exception:  # noqa: BLE001
            break
    for p in procs:
        p.join(timeout=max(0.1, collect_deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(1)

    def ms(x):
        return None if x is None else round(x * 1000.0, 1)

    # Longest interval without any ack, over [t_start, t_end] (edges count: a run that never
    # recovers shows a gap up to t_end).
    all_acks = sorted(t for r in results for t in r["acks"])
    points = [t_start] + all_acks + [t_end]
    max_gap, gap_start = 0.0, None
    for a, b in zip(points, points[1:]):
        if b - a > max_gap:
            max_gap, gap_start = b - a, a
    after = [t for t in all_acks if t > t_kill]
    first_after = (after[0] - t_kill) if after else None
    resumed, sess_gaps, never = [], [], 0
    for r in results:
        acks = r["acks"]
        pts = [t_start] + acks + [t_end]
        sess_gaps.append(max(b - a for a, b in zip(pts, pts[1:])))
        aft = [t for t in acks if t > t_kill]
        if aft:
            resumed.append(aft[0] - t_kill)
        else:
            never += 1
    before = [t for t in all_acks if t_start <= t <= t_kill]
    last5 = [t for t in all_acks if t > t_end - 5.0]
    err_types = {}
    for r in results:
        for k, v in r["error_types"].items():
            err_types[k] = err_types.get(k, 0) + v
    servers = {}
    for r in results:
        if r["first_server"] is not None:
            servers[str(r["first_server"])] = servers.get(str(r["first_server"]), 0) + 1
    fatals = [f"w{r['idx']}: {r['fatal']}" for r in results if r["fatal"]][:5]
    out = {
        "label": args.label,
        "op": args.op,
        "hosts": args.hosts,
        "clients": args.clients,
        "workers_ready": ready,
        "workers_reported": len(results),
        "kill_pid": args.kill_pid,
        "kill_error": kill_error,
        "pre_s": args.pre,
        "post_s": args.post,
        "max_gap_ms": ms(max_gap),
        "gap_start_ms": ms(gap_start - t_kill) if gap_start is not None else None,
        "first_ack_after_kill_ms": ms(first_after),
        "all_resumed_ms": ms(max(resumed)) if resumed and not never else None,
        "sessions_not_resumed": never + (args.clients - len(results)),
        "session_max_gap_ms": {"median": ms(statistics.median(sess_gaps)) if sess_gaps else None,
                               "max": ms(max(sess_gaps)) if sess_gaps else None},
        "new_leader_ms": ms(new_leader[0]) if new_leader else None,
        "new_leader_port": new_leader[1] if new_leader else None,
        "acks": len(all_acks),
        "ops_per_s_before": round(len(before) / max(1e-9, t_kill - t_start), 1),
        "ops_per_s_after_5s": round(len(last5) / 5.0, 1),
        "errors": sum(r["errors"] for r in results),
        "error_types": err_types,
        "error_samples": [s for r in results for s in r["error_samples"]][:4],
        "dup_acks": sum(r["dup_acks"] for r in results),
        "sessions_lost": sum(r["lost"] for r in results),
        "sessions_suspended": sum(r["suspended"] for r in results),
        "first_servers": servers,
        "setup_retries": sum(r["setup_retries"] for r in results),
        "setup_samples": [x for r in results for x in r["setup_samples"]][:3],
        "fatal": fatals,
        "parent": parent,
    }
    print(json.dumps(out), flush=True)
    signal.alarm(0)
    ok = len(results) == args.clients and not fatals and bool(after) and not kill_error
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
