#!/usr/bin/env python3
"""What a Prometheus scrape costs: write throughput of a 3-member Rookery ensemble with no scraper
and with every member's /metrics scraped once a second, alternating (off on off on ...) so drift
and noise hit both sides alike. Reports the median ops/s of each side and their ratio.

    tests/perf/scrape_overhead.py [--rounds 4] [--clients 32] [--duration 10] [--op create|set]

Members run on free 127.0.0.1 ports in a temporary directory; every process started here is
stopped on exit, also on failure. Env: ROOKERY_BIN (default <repo>/target/debug/rookery).
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("ROOKERY_BIN", os.path.join(REPO, "target/debug/rookery"))


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def four(port, word):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(word.encode())
            buf = b""
            while True:
                d = s.recv(4096)
                if not d:
                    return buf.decode(errors="replace")
                buf += d
    except OSError:
        return ""


def scraper(urls, stop, counts):
    while not stop.is_set():
        t = time.monotonic()
        for u in urls:
            try:
                body = urllib.request.urlopen(u, timeout=5).read()
                counts["scrapes"] += 1
                counts["bytes"] = len(body)
            except OSError as e:
                counts["errors"] += 1
                counts["last_error"] = str(e)
        stop.wait(max(0.0, 1.0 - (time.monotonic() - t)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--op", default="create")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="rookery-scrape-")
    procs = []
    try:
        ports = free_ports(15)
        client = ports[0:3]
        quorum = ports[3:6]
        election = ports[6:9]
        metrics = ports[9:12]
        for i in range(3):
            d = os.path.join(tmp, f"m{i + 1}")
            os.makedirs(d)
            with open(os.path.join(d, "myid"), "w") as f:
                f.write(f"{i + 1}\n")
            lines = [
                "tickTime=2000", "initLimit=10", "syncLimit=5", f"dataDir={d}",
                f"clientPort={client[i]}", "clientPortAddress=127.0.0.1", "maxClientCnxns=0",
                "4lw.commands.whitelist=*", "admin.enableServer=false",
                "metricsProvider.httpHost=127.0.0.1", f"metricsProvider.httpPort={metrics[i]}",
            ] + [f"server.{j + 1}=127.0.0.1:{quorum[j]}:{election[j]}" for j in range(3)]
            with open(os.path.join(d, "zoo.cfg"), "w") as f:
                f.write("\n".join(lines) + "\n")
            procs.append(subprocess.Popen(
                [BIN, "server", "--config", os.path.join(d, "zoo.cfg")],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "log"), "w"),
                env=dict(os.environ, ROOKERY_LOG="warn")))
        deadline = time.monotonic() + 60
        while True:
            modes = [m for p in client for m in [l[6:] for l in four(p, "srvr").splitlines()
                                                  if l.startswith("Mode: ")]]
            if len(modes) == 3 and "leader" in modes:
                break
            if time.monotonic() > deadline:
                sys.exit(f"ensemble not serving: {modes}")
            time.sleep(0.3)

        hosts = ",".join(f"127.0.0.1:{p}" for p in client)
        urls = [f"http://127.0.0.1:{p}/metrics" for p in metrics]
        results = {"off": [], "on": []}
        scrape_stats = {"scrapes": 0, "errors": 0, "bytes": 0}
        for r in range(args.rounds):
            for side in ("off", "on"):
                stop = threading.Event()
                t = None
                if side == "on":
                    t = threading.Thread(target=scraper, args=(urls, stop, scrape_stats), daemon=True)
                    t.start()
                out = subprocess.run(
                    [sys.executable, os.path.join(HERE, "write_bench.py"), "--hosts", hosts,
                     "--balance", "--setup-retries", "3", "--clients", str(args.clients),
                     "--duration", str(args.duration), "--warmup", str(args.warmup),
                     "--op", args.op, "--label", f"scrape-{side}"],
                    capture_output=True, text=True)
                stop.set()
                if t:
                    t.join()
                if out.returncode != 0:
                    sys.exit(f"write_bench failed: {out.stdout}{out.stderr}")
                res = json.loads(out.stdout.strip().splitlines()[-1])
                results[side].append(res["ops_per_s"])
                print(f"round {r + 1} scrape {side:3}: {res['ops_per_s']:>9} ops/s  "
                      f"p99 {res['p99_ms']} ms", file=sys.stderr)
        off = statistics.median(results["off"])
        on = statistics.median(results["on"])
        summary = {
            "op": args.op, "clients": args.clients, "rounds": args.rounds,
            "ops_per_s_without_scrape": results["off"], "ops_per_s_with_1s_scrape": results["on"],
            "median_without": off, "median_with": on,
            "cost_percent": round(100.0 * (off - on) / off, 2) if off else None,
            "scrapes": scrape_stats["scrapes"], "scrape_errors": scrape_stats["errors"],
            "scrape_bytes": scrape_stats["bytes"],
        }
        print(json.dumps(summary))
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
