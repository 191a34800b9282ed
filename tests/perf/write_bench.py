#!/usr/bin/env python3
"""Write-throughput load generator for one ZooKeeper-protocol server (Rookery or Apache ZooKeeper).

N worker OS processes (multiprocessing, fork), each with its own KazooClient session, each keeping
exactly ONE request outstanding at a time:
  --op create : create unique znodes <parent>/w<i>-<seq> (persistent, --value-size bytes of data)
  --op set    : setData on its own node <parent>/w<i> (created before the clock starts)
<parent> is a fresh per-run node /write-bench/<run-id>.

All workers connect first, then start together. The first --warmup seconds are not counted; ops that
COMPLETE inside the following --duration seconds are counted, and their latencies (issue -> reply)
are recorded. Prints one JSON line on stdout:
  {"op", "hosts", "clients", "ops", "ops_per_s", "p50_ms", "p99_ms", "max_ms", "mean_ms",
   "errors", "error_samples", "client_cpu_cores", ...}
setup_retries = sessions replaced because their first write failed before the clock started (only
with --setup-retries N; otherwise such a failure is fatal for that worker).
servers = how many sessions connected (first) to each server port (with --balance: worker i
lists host i % n of --hosts first and kazoo does not shuffle, so sessions spread evenly).
ops_per_s_by_second = completed ops in each second of the measured window (trends, stalls).
client_cpu_cores = worker CPU seconds used during the measured window / duration; if it is close to
the machine's core count, the client (Python) rather than the server is the bottleneck.

Bounded in time: every worker arms SIGALRM and exits by itself at the latest connect_timeout +
warmup + duration + 30 s after it starts; the parent kills any straggler after that.
Exit status: 0 if every worker reported and the measured window had at least one op, else 1.

Example:  python write_bench.py --hosts 127.0.0.1:2181 --clients 16 --duration 10 --op create
"""
import argparse
import json
import multiprocessing as mp
import os
import signal
import sys
import time
import uuid

from kazoo.client import KazooClient

CONNECT_TIMEOUT = 20.0
BASE = "/write-bench"


def percentile(sorted_vals, q):
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def worker(idx, args, parent, ready_q, go, t0_shared, result_q):
    hard_limit = int(CONNECT_TIMEOUT + args.warmup + args.duration + 30)
    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.alarm(hard_limit)
    res = {"idx": idx, "server": None, "setup_retries": 0, "setup_samples": [], "ops": 0, "lat": [], "timeline": [], "errors": 0, "error_samples": [], "cpu": 0.0, "fatal": None}
    zk = None
    try:
        hosts, randomize = args.hosts, True
        if args.balance:  # worker i lists member i % n first, no shuffling: an even spread
            hl = args.hosts.split(",")
            k = idx % len(hl)
            hosts, randomize = ",".join(hl[k:] + hl[:k]), False
        value = os.urandom(args.value_size // 2 + 1).hex()[: args.value_size].encode()
        own = f"{parent}/w{idx}"
        attempt = 0
        while True:
            zk = KazooClient(hosts=hosts, timeout=10.0, randomize_hosts=randomize)
            zk.start(timeout=CONNECT_TIMEOUT)
            try:
                res["server"] = zk._connection._socket.getpeername()[1]
            except Exception:  # noqa: BLE001 - informational only
                pass
            try:
                # set: the node to set; with --setup-retries also for create (a first write of the
                # session before the clock starts, so a session that cannot write is replaced).
                if args.op == "set" or args.setup_retries > 0:
                    zk.create(own, value)
                break
            except Exception as e:  # noqa: BLE001
                if attempt >= args.setup_retries:
                    raise
                attempt += 1
                res["setup_retries"] += 1
                if len(res["setup_samples"]) < 2:
                    res["setup_samples"].append(f"{type(e).__name__}: {e}"[:160])
                try:
                    zk.stop()
                    zk.close()
                except Exception:  # noqa: BLE001
                    pass
                zk = None
                if args.op == "set":
                    own = f"{parent}/w{idx}.{attempt}"  # the failed create might have committed
        ready_q.put(("ready", idx))
        if not go.wait(CONNECT_TIMEOUT + 10):
            raise RuntimeError("start signal never came")
        t_start = t0_shared.value
        t_measure = t_start + args.warmup
        t_end = t_measure + args.duration
        op_timeout = 10.0
        now = time.monotonic()
        if now < t_start:
            time.sleep(t_start - now)
        seq = 0
        ops = 0
        lat = []
        timeline = [0] * (int(args.duration) + 1)  # completed ops per second of the window
        cpu_at_measure = None
        while True:
            now = time.monotonic()
            if now >= t_end:
                break
            if cpu_at_measure is None and now >= t_measure:
                cpu_at_measure = time.process_time()
            t1 = time.monotonic()
            try:
                if args.op == "create":
                    a = zk.create_async(f"{own}-{seq}", value)
                    seq += 1
                else:
                    a = zk.set_async(own, value)
                # Bounded wait: never hang past the window on a silent server.
                a.get(timeout=max(0.5, min(op_timeout, t_end - t1 + 5)))
            except Exception as e:  # noqa: BLE001 - count every failure
                t2 = time.monotonic()
                if t2 >= t_measure:
                    res["errors"] += 1
                    if len(res["error_samples"]) < 3:
                        res["error_samples"].append(f"{type(e).__name__}: {e}"[:200])
                time.sleep(0.01)
                continue
            t2 = time.monotonic()
            if t_measure <= t2 <= t_end:
                ops += 1
                lat.append((t2 - t1) * 1000.0)
                timeline[int(t2 - t_measure)] += 1
        if cpu_at_measure is not None:
            res["cpu"] = time.process_time() - cpu_at_measure
        res["ops"] = ops
        res["lat"] = lat
        res["timeline"] = timeline
    except Exception as e:  # noqa: BLE001
        res["fatal"] = f"{type(e).__name__}: {e}"[:300]
        try:
            ready_q.put(("failed", idx))
        except Exception:  # noqa: BLE001
            pass
    finally:
        signal.alarm(hard_limit)  # re-arm: stopping the client must not hang either
        if zk is not None:
            try:
                zk.stop()
                zk.close()
            except Exception:  # noqa: BLE001
                pass
    result_q.put(res)
    signal.alarm(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", required=True, help="connect string, e.g. 127.0.0.1:2181")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds (after warm-up)")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds at the start")
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--op", choices=["create", "set"], default="create")
    ap.add_argument("--label", default="", help="free text copied into the JSON line")
    ap.add_argument("--balance", action="store_true",
                    help="with several hosts: worker i lists host i %% n first and kazoo does not shuffle "
                         "(sessions spread evenly over the members)")
    ap.add_argument("--setup-retries", type=int, default=0,
                    help="each session writes once before the clock starts (for create too); if that "
                         "write fails, replace the session, up to this many times (counted in setup_retries)")
    args = ap.parse_args()

    overall = int(CONNECT_TIMEOUT * 2 + args.warmup + args.duration + 60)
    signal.signal(signal.SIGALRM, lambda *_: (print(json.dumps({"fatal": "parent timed out"})), os._exit(4)))
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
    t0.value = time.monotonic() + 0.2
    go.set()

    results = []
    collect_deadline = t0.value + args.warmup + args.duration + 30
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

    lat = sorted(x for r in results for x in r["lat"])
    ops = sum(r["ops"] for r in results)
    errors = sum(r["errors"] for r in results)
    samples = [s for r in results for s in r["error_samples"]][:5]
    timeline = [sum(col) for col in zip(*[r["timeline"] for r in results if r["timeline"]])]
    if timeline and args.duration == int(args.duration):
        timeline = timeline[: int(args.duration)]  # the last bucket only holds ops completing at t_end
    fatals = [f"w{r['idx']}: {r['fatal']}" for r in results if r["fatal"]][:5]
    out = {
        "label": args.label,
        "op": args.op,
        "hosts": args.hosts,
        "clients": args.clients,
        "value_size": args.value_size,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "workers_reported": len(results),
        "workers_ready": ready,
        "ops": ops,
        "ops_per_s": round(ops / args.duration, 1),
        "p50_ms": round(percentile(lat, 50), 3) if lat else None,
        "p99_ms": round(percentile(lat, 99), 3) if lat else None,
        "max_ms": round(lat[-1], 3) if lat else None,
        "mean_ms": round(sum(lat) / len(lat), 3) if lat else None,
        "errors": errors + len(fatals) + (args.clients - len(results)),
        "error_samples": samples,
        "fatal": fatals,
        "client_cpu_cores": round(sum(r["cpu"] for r in results) / args.duration, 2),
        "ops_per_s_by_second": timeline,
        "parent": parent,
        "setup_retries": sum(r.get("setup_retries", 0) for r in results),
        "setup_samples": [x for r in results for x in r.get("setup_samples", [])][:3],
        "servers": {str(k): sum(1 for r in results if r.get("server") == k)
                    for k in sorted({r.get("server") for r in results if r.get("server") is not None})},
    }
    print(json.dumps(out), flush=True)
    signal.alarm(0)
    ok = len(results) == args.clients and not fatals and ops > 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
