#!/usr/bin/env python3
"""Turns compare.sh's raw results (one JSON object per `rookery bench` run, with part/side/label)
into tests/perf/RESULTS.md: the issue's targets first (met or not), then every measurement."""
import argparse
import json
import os
import statistics
from datetime import datetime, timezone

NAME = {"rookery": "Rookery", "zk": "ZooKeeper 3.8"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    for k in ("machine", "commit", "zookeeper", "command", "elapsed", "settings"):
        ap.add_argument("--" + k, default="?")
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.results) if l.strip()]

    def runs(part, side, workload=None, label=None):
        return [r for r in rows if r["part"] == part and r["side"] == side
                and (workload is None or r.get("workload") == workload)
                and (label is None or r.get("label") == label)]

    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def f(x, nd=0):
        return "–" if x is None else f"{x:,.{nd}f}"

    out = ["# Rookery vs Apache ZooKeeper 3.8, measured side by side", ""]
    out += [f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; run time {a.elapsed} s",
            f"- machine: {a.machine}",
            f"- Rookery: commit {a.commit}, release build; ZooKeeper: {a.zookeeper}",
            f"- {a.settings}",
            f"- command: `{a.command}`", ""]

    targets = []  # (what, rookery, zookeeper, ratio, goal text, met)

    def target(what, r, z, goal, higher_is_better, unit, nd=0):
        ratio = r / z if r is not None and z else None
        met = None if ratio is None else (ratio >= goal if higher_is_better else ratio <= goal)
        sign = "≥" if higher_is_better else "≤"
        targets.append((what, f"{f(r, nd)} {unit}", f"{f(z, nd)} {unit}",
                        "–" if ratio is None else f"{ratio:.2f}×", f"{sign} {goal}×",
                        "–" if met is None else ("yes" if met else "**no**")))

    tp = lambda side, wl, key="ops_per_s": med(
        [r[key] if key != "p99" else r["latency_ms"]["p99"] for r in runs("throughput", side, wl)])
    if any(r["part"] == "throughput" for r in rows):
        target("write throughput, create (32 sessions)", tp("rookery", "create"), tp("zk", "create"), 1.5, True, "ops/s")
        target("write throughput, set (32 sessions)", tp("rookery", "set"), tp("zk", "set"), 1.5, True, "ops/s")
        target("read throughput, get (32 sessions)", tp("rookery", "get"), tp("zk", "get"), 2, True, "ops/s")
    ol = lambda side: med([r["latency_ms"]["p99"] for r in runs("openloop", side)])
    if any(r["part"] == "openloop" for r in rows):
        rate = runs("openloop", "zk")[0].get("target_rate")
        target(f"p99 latency, set in open loop at {f(rate)}/s (half of ZooKeeper's peak)", ol("rookery"), ol("zk"), 0.5, False, "ms", 2)
    big = lambda side, label, key: med([
        (statistics.median(r[key]) / 1024 if key == "rss_kb" else r[key]) for r in runs("bigtree", side, label=label)])
    if any(r["part"] == "bigtree" for r in rows):
        n = runs("bigtree", "zk", label="restart")[0]["znodes"] if runs("bigtree", "zk", label="restart") else "?"
        target(f"resident memory per member holding {f(n)} znodes (after a restart; median member)",
               big("rookery", "restart", "rss_kb"), big("zk", "restart", "rss_kb"), 0.25, False, "MiB")
        target(f"time from start to serving with {f(n)} znodes (all 3 members)",
               big("rookery", "restart", "start_to_serving_s"), big("zk", "restart", "start_to_serving_s"), 0.5, False, "s", 2)
    gap = lambda side: med([r["max_gap_ms"] for r in runs("failover", side)])
    if any(r["part"] == "failover" for r in rows):
        target("longest write gap after kill -9 of the leader (median of trials)", gap("rookery"), gap("zk"), 0.5, False, "ms")
    fan = lambda side: med([r["latency_ms"]["p50"] for r in runs("watch", side)])
    if any(r["part"] == "watch" for r in rows):
        w = runs("watch", "zk")[0].get("watchers") if runs("watch", "zk") else "?"
        target(f"watch fan-out: time until all {f(w)} watchers have their event (median round)", fan("rookery"), fan("zk"), 0.5, False, "ms", 1)

    out += ["## Targets (issue 7)", "",
            "| target | Rookery | ZooKeeper | Rookery/ZooKeeper | goal | met |", "|---|---|---|---|---|---|"]
    out += ["| " + " | ".join(t) + " |" for t in targets]
    out.append("")
    # What the numbers alone do not say (hand-written, kept beside this script).
    why = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS-why.md")
    if os.path.exists(why):
        out += [open(why).read().rstrip(), ""]

    measured = [r for r in rows if r["part"] in ("throughput", "openloop", "watch", "failover")]
    if measured:
        out += ["## Every workload (medians over runs)", "",
                "| part | workload | ensemble | ops/s | p50 ms | p99 ms | p999 ms | max ms | errors | longest gap ms | runs (ops/s) |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        seen = []
        for r in measured:
            key = (r["part"], r["workload"])
            if key not in seen:
                seen.append(key)
        for part, wl in seen:
            for side in ("rookery", "zk"):
                rs = runs(part, side, wl)
                if not rs:
                    continue
                lat = lambda q: med([x["latency_ms"][q] for x in rs])
                out.append(f"| {part} | {wl} | {NAME[side]} | {f(med([x['ops_per_s'] for x in rs]))} | {f(lat('p50'), 2)} | "
                           f"{f(lat('p99'), 2)} | {f(lat('p999'), 2)} | {f(lat('max'), 1)} | {sum(x['errors'] for x in rs)} | "
                           f"{f(med([x.get('max_gap_ms') for x in rs]), 1)} | {', '.join(f(x['ops_per_s']) for x in rs)} |")
        out += ["", "Watch rows: ops are rounds (one set, every watcher's event); latency is the time until the "
                "last watcher has its event. Failover rows: set in closed loop while the leader is killed; "
                "errors are requests that failed during the failover (retried)."]
        out.append("")
    if any(r["part"] == "bigtree" for r in rows):
        out += ["## Big tree", "", "| ensemble | populate ops/s | RSS per member after populating (MiB) | start to serving (s) | RSS per member after restart (MiB) |",
                "|---|---|---|---|---|"]
        for side in ("rookery", "zk"):
            p = runs("bigtree", side, label="populate")
            s = runs("bigtree", side, label="restart")
            if not p:
                continue
            mib = lambda r: ", ".join(f"{k / 1024:,.0f}" for k in r["rss_kb"])
            out.append(f"| {NAME[side]} | {f(p[0]['ops_per_s'])} | {mib(p[0])} | "
                       f"{f(s[0]['start_to_serving_s'], 2) if s else '–'} | {mib(s[0]) if s else '–'} |")
        out.append("")
    out += ["<details><summary>raw results (one line per run)</summary>", "", "```"]
    for r in rows:
        r = {k: v for k, v in r.items() if k != "percentiles"}
        out.append(json.dumps(r))
    out += ["```", "</details>"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
