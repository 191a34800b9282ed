#!/usr/bin/env python3
"""Generates the Grafana dashboards in dashboards/grafana/dashboards/ (Python stdlib only).

    dashboards/generate.py           rewrite the JSON files
    dashboards/generate.py --check   exit 1 if a JSON file differs from what this script makes

The JSON files are committed so that Grafana's file provisioning reads them directly; edit this
script, not the JSON, and run it. tests/dashboards/check.py runs `--check` and then proves every
query against a live ensemble.

Every dashboard has the variables `datasource` (a Prometheus data source), `job` and `instance`
(multi-value, "All" = `.*`); every query carries `{job=~"$job", instance=~"$instance"}`. Panel
ids are assigned in order, so they are stable as long as panels are only appended.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "grafana", "dashboards")

DS = {"type": "prometheus", "uid": "${datasource}"}
S = 'job=~"$job", instance=~"$instance"'
RI = "$__rate_interval"


def sel(**matchers):
    """The job/instance selector plus label matchers: sel(quantile="0.99"),
    sel(op__re="$op", result__ne="ok"); suffixes __re (=~), __ne (!=), __nre (!~)."""
    ops = {"re": "=~", "ne": "!=", "nre": "!~"}
    parts = [S]
    for key, value in matchers.items():
        name, _, suffix = key.partition("__")
        parts.append(f'{name}{ops.get(suffix, "=")}"{value}"')
    return "{" + ", ".join(parts) + "}"


# ---------------------------------------------------------------------------------- panels
def target(expr, legend="", instant=False, fmt=None, ref=None):
    t = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
    }
    if fmt:
        t["format"] = fmt
    if ref:
        t["refId"] = ref
    return t


def _targets(ts):
    out = []
    for i, t in enumerate(ts):
        t = dict(t)
        t.setdefault("refId", chr(ord("A") + i))
        out.append(t)
    return out


def timeseries(title, description, targets, unit="short", w=12, h=8, stack=False, bars=False,
               points=False, min0=True, decimals=None, mappings=None):
    custom = {
        "drawStyle": "bars" if bars else ("points" if points else "line"),
        "lineWidth": 1,
        "fillOpacity": 60 if bars else 10,
        "pointSize": 5,
        "showPoints": "always" if points else "auto",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "axisPlacement": "auto",
        "lineInterpolation": "linear",
    }
    defaults = {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"}}
    if min0:
        defaults["min"] = 0
    if decimals is not None:
        defaults["decimals"] = decimals
    if mappings:
        defaults["mappings"] = mappings
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _targets(targets),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                       "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "_w": w, "_h": h,
    }


def stat(title, description, targets, unit="short", w=4, h=4, text_mode="auto", thresholds=None,
         mappings=None, color_mode="value", decimals=None):
    steps = thresholds or [{"color": "green", "value": None}]
    defaults = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": {"mode": "absolute", "steps": steps},
    }
    if mappings:
        defaults["mappings"] = mappings
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _targets(targets),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": text_mode,
            "colorMode": color_mode,
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
        },
        "_w": w, "_h": h,
    }


def state_timeline(title, description, targets, mappings, w=24, h=6):
    return {
        "type": "state-timeline",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _targets(targets),
        "fieldConfig": {
            "defaults": {"mappings": mappings, "color": {"mode": "thresholds"},
                         "thresholds": {"mode": "absolute",
                                        "steps": [{"color": "text", "value": None}]},
                         "custom": {"fillOpacity": 80, "lineWidth": 0}},
            "overrides": [],
        },
        "options": {"showValue": "auto", "mergeValues": True, "rowHeight": 0.8,
                    "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
                    "tooltip": {"mode": "single", "sort": "none"}},
        "_w": w, "_h": h,
    }


def table(title, description, targets, w=24, h=6, rename=None, hide=None):
    organize = {"excludeByName": {k: True for k in (hide or [])},
                "renameByName": rename or {}, "indexByName": {}}
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _targets(targets),
        "fieldConfig": {"defaults": {"custom": {"align": "auto"}}, "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm"},
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": organize},
        ],
        "_w": w, "_h": h,
    }


def value_map(pairs):
    """[(value, text, color)] -> a Grafana value mapping."""
    return [{"type": "value", "options": {
        str(v): {"text": text, "color": color, "index": i} for i, (v, text, color) in enumerate(pairs)}}]


# ---------------------------------------------------------------------------------- dashboard
def variables(job_metric):
    return [
        {
            "type": "datasource", "name": "datasource", "label": "Data source",
            "query": "prometheus", "refresh": 1, "regex": "", "hide": 0,
            "current": {}, "options": [],
        },
        {
            "type": "query", "name": "job", "label": "Job", "datasource": DS,
            "query": {"query": f"label_values({job_metric}, job)", "refId": "job"},
            "definition": f"label_values({job_metric}, job)",
            "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1, "hide": 0, "options": [], "regex": "",
        },
        {
            "type": "query", "name": "instance", "label": "Member", "datasource": DS,
            "query": {"query": f'label_values({job_metric}{{job=~"$job"}}, instance)',
                      "refId": "instance"},
            "definition": f'label_values({job_metric}{{job=~"$job"}}, instance)',
            "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1, "hide": 0, "options": [], "regex": "",
        },
    ]


def layout(panels):
    """Places panels left to right, wrapping at 24 columns; assigns ids in order."""
    x = y = row_h = 0
    out = []
    for i, p in enumerate(panels, start=1):
        w, h = p.pop("_w"), p.pop("_h")
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["id"] = i
        p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        row_h = max(row_h, h)
        out.append(p)
    return out


def dashboard(uid, title, description, tags, panels, job_metric="rookery_build_info",
              extra_vars=None, links=True):
    d = {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": tags,
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 38,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": variables(job_metric) + (extra_vars or [])},
        "links": [{"type": "dashboards", "tags": ["rookery"], "asDropdown": True,
                   "title": "Rookery dashboards", "includeVars": True, "keepTime": True,
                   "icon": "external link", "targetBlank": False, "tooltip": "",
                   "url": ""}] if links else [],
        "panels": layout(panels),
    }
    return d


# ---------------------------------------------------------------------------------- shared exprs
SERVING_VOTERS = (f"count((rookery_server_state{sel(state__re='leading|following')} == 1) "
                  f"and on (job, instance) (rookery_server_has_leader{sel()} == 1))")
TOLERANCE = f"{SERVING_VOTERS} - (floor(max(quorum_size{sel()}) / 2) + 1)"
ROLE_CODE = ("sum by (instance) ("
             + " or ".join(f"rookery_server_state{sel(state=s)} * {n}"
                           for n, s in [(1, "looking"), (2, "following"), (3, "leading"),
                                        (4, "observing"), (5, "standalone")])
             + f" or (up{sel()} == 0))")
ROLE_MAP = value_map([(0, "down", "red"), (1, "looking", "orange"), (2, "following", "green"),
                      (3, "leading", "blue"), (4, "observing", "purple"),
                      (5, "standalone", "blue")])


def overview():
    p = [
        stat("Members up", "Members whose /metrics endpoint Prometheus scraped successfully, out of the "
             "members it is configured to scrape (`up`).",
             [target(f"sum(up{sel()})", "up", instant=True),
              target(f"count(up{sel()})", "configured", instant=True)]),
        stat("Leader", "The member that is the established leader now (`rookery_server_is_leader == 1`). "
             "Empty while the ensemble has no leader.",
             [target(f"rookery_server_is_leader{sel()} == 1", "{{instance}}", instant=True)],
             text_mode="name"),
        stat("Quorum failure tolerance", "How many more voters can fail before the ensemble loses its "
             "quorum: voters serving (leading or following, in broadcast) minus a majority of "
             "`quorum_size`. 0 means the next failure stops every write and read; no value means no "
             "member serves.",
             [target(TOLERANCE, "tolerance", instant=True)],
             thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]),
        stat("Leader changes", "New leaders established in the dashboard's time range, as the member "
             "that saw the most of them counts (`rookery_leader_changes_total`).",
             [target(f"max(increase(rookery_leader_changes_total{sel()}[$__range]))", "changes",
                     instant=True)],
             decimals=0,
             thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 3}]),
        stat("Sessions", "Client sessions in the ensemble (`global_sessions`; every member knows "
             "every session).",
             [target(f"max(global_sessions{sel()})", "sessions", instant=True)]),
        stat("Znodes", "Znodes in the tree, system nodes included (`znode_count`).",
             [target(f"max(znode_count{sel()})", "znodes", instant=True)]),
        state_timeline("Role per member", "Each member's ZAB state over time from "
                       "`rookery_server_state{state}` (looking, following, leading, observing, "
                       "standalone), and `down` while Prometheus cannot scrape it.",
                       [target(ROLE_CODE, "{{instance}}")], ROLE_MAP),
        table("Members", "Each member now: its ZAB state, its epoch, the counter part of its last "
              "committed zxid and its open client connections.",
              [target(f"max by (instance, state) (rookery_server_state{sel()} == 1)", instant=True,
                      fmt="table"),
               target(f"max by (instance) (rookery_zab_epoch{sel()})", instant=True, fmt="table"),
               target(f"max by (instance) (rookery_last_committed_zxid{sel()} % 4294967296)",
                      instant=True, fmt="table"),
               target(f"max by (instance) (rookery_connections{sel()})", instant=True, fmt="table")],
              rename={"state": "State", "instance": "Member", "Value #B": "Epoch",
                      "Value #C": "Committed zxid (counter)", "Value #D": "Connections"},
              hide=["Time", "Value #A"], h=5),
        timeseries("Quorum failure tolerance", "Voters serving minus a majority of the voters, over "
                   "time. It drops to 0 while a voter of a 3-member ensemble is down.",
                   [target(TOLERANCE, "tolerance")], min0=False, decimals=0, w=8),
        timeseries("Leader changes", "New leaders each member saw established per interval "
                   "(`rookery_leader_changes_total`). A member counts its own start too.",
                   [target(f"sum by (instance) (increase(rookery_leader_changes_total{sel()}[{RI}]))",
                           "{{instance}}")], bars=True, w=8),
        timeseries("Election duration", "Mean time from entering the election to leading or "
                   "following, for elections that ended in the interval "
                   "(`rookery_election_duration_seconds`).",
                   [target(f"sum by (instance) (increase(rookery_election_duration_seconds_sum{sel()}[{RI}])) "
                           f"/ sum by (instance) (increase(rookery_election_duration_seconds_count{sel()}[{RI}]))",
                           "{{instance}}")], unit="s", points=True, w=8),
        timeseries("Requests/s", "Client requests answered per second by each member, every op and "
                   "result (`rookery_request_duration_seconds_count`).",
                   [target(f"sum by (instance) (rate(rookery_request_duration_seconds_count{sel()}[{RI}]))",
                           "{{instance}}")], unit="reqps", stack=True),
        timeseries("Request latency p99", "99th percentile of client request latency on each member, "
                   "from receipt to reply (writes include the quorum commit), from "
                   "`rookery_request_duration_seconds`.",
                   [target(f"histogram_quantile(0.99, sum by (le, instance) "
                           f"(rate(rookery_request_duration_seconds_bucket{sel()}[{RI}])))",
                           "{{instance}}")], unit="s"),
        timeseries("Sessions and connections", "Sessions in the ensemble (`global_sessions`) and open "
                   "client connections summed over the members (`num_alive_connections`).",
                   [target(f"max(global_sessions{sel()})", "sessions"),
                    target(f"sum(num_alive_connections{sel()})", "connections")]),
        timeseries("Znodes", "Znodes (`znode_count`) and ephemeral znodes (`ephemerals_count`) as each "
                   "member sees them.",
                   [target(f"max by (instance) (znode_count{sel()})", "{{instance}} znodes"),
                    target(f"max by (instance) (ephemerals_count{sel()})", "{{instance}} ephemerals")]),
    ]
    return dashboard("rookery-overview", "Rookery / Ensemble overview",
                     "Members, leader and roles, quorum health, elections, load, sessions and znodes "
                     "of a Rookery ensemble.", ["rookery"], p)


def requests():
    op = sel(op__re='$op')
    p = [
        timeseries("Requests/s by op", "Client requests answered per second, by op, summed over the "
                   "members (`rookery_request_duration_seconds_count`).",
                   [target(f"sum by (op) (rate(rookery_request_duration_seconds_count{op}[{RI}]))",
                           "{{op}}")], unit="reqps", stack=True),
        timeseries("Requests/s by member", "Client requests answered per second by each member "
                   "(clients spread over the members they connect to).",
                   [target(f"sum by (instance) (rate(rookery_request_duration_seconds_count{op}[{RI}]))",
                           "{{instance}}")], unit="reqps", stack=True),
    ]
    for q, name in [(0.5, "p50"), (0.99, "p99"), (0.999, "p999")]:
        p.append(timeseries(f"Latency {name} by op", f"{name} of client request latency by op over "
                            "every member, from `histogram_quantile("
                            f"{q}, sum by (le, op) (rate(rookery_request_duration_seconds_bucket[...])))`. "
                            "Writes include forwarding to the leader and the quorum commit.",
                            [target(f"histogram_quantile({q}, sum by (le, op) "
                                    f"(rate(rookery_request_duration_seconds_bucket{op}[{RI}])))", "{{op}}")],
                            unit="s", w=8))
    p += [
        timeseries("Latency p99 by member", "99th percentile of request latency on each member, every "
                   "op: a member that is slower than the others stands out here.",
                   [target(f"histogram_quantile(0.99, sum by (le, instance) "
                           f"(rate(rookery_request_duration_seconds_bucket{op}[{RI}])))", "{{instance}}")],
                   unit="s"),
        timeseries("Read and write latency (ZooKeeper summaries)", "ZooKeeper's own p99 of read "
                   "(`readlatency`) and write (`updatelatency`) latency per member, in ms over a "
                   "sliding 10-minute window; NaN until a member has answered one.",
                   [target(f"max by (instance) (readlatency{sel(quantile='0.99')})", "{{instance}} read"),
                    target(f"max by (instance) (updatelatency{sel(quantile='0.99')})",
                           "{{instance}} write")], unit="ms"),
        timeseries("Errors by result", "Requests answered with an error code per second, by op and "
                   "result (`no_node`, `node_exists`, `bad_version`, ...). Many are expected by the "
                   "application (an exists on a missing node); a new result or a jump is not.",
                   [target(f"sum by (op, result) (rate(rookery_request_duration_seconds_count{sel(op__re='$op', result__ne='ok')}[{RI}]))",
                           "{{op}} {{result}}")], unit="reqps", stack=True),
        timeseries("Error ratio by op", "Share of each op's requests answered with an error code.",
                   [target(f"sum by (op) (rate(rookery_request_duration_seconds_count{sel(op__re='$op', result__ne='ok')}[{RI}])) "
                           f"/ sum by (op) (rate(rookery_request_duration_seconds_count{op}[{RI}]))", "{{op}}")],
                   unit="percentunit"),
        timeseries("Outstanding requests", "Requests received and not yet answered on each member "
                   "(`outstanding_requests`). A steady rise means the member cannot keep up.",
                   [target(f"outstanding_requests{sel()}", "{{instance}}")], w=8),
        timeseries("Slow requests/s", "Requests slower than `slowRequestThresholdMs` per second by op "
                   "(`rookery_slow_requests_total`); each is also logged with its path and session.",
                   [target(f"sum by (op) (rate(rookery_slow_requests_total{op}[{RI}]))", "{{op}}")],
                   unit="reqps", w=8),
        timeseries("Bad packets/s", "Client connections closed for a malformed or oversize packet "
                   "(larger than `jute.maxbuffer`), per member (`rookery_bad_packets_total`).",
                   [target(f"sum by (instance) (rate(rookery_bad_packets_total{sel()}[{RI}]))",
                           "{{instance}}")], unit="short", w=8),
    ]
    op_var = {
        "type": "query", "name": "op", "label": "Op", "datasource": DS,
        "query": {"query": f"label_values(rookery_request_duration_seconds_count{sel()}, op)",
                  "refId": "op"},
        "definition": f"label_values(rookery_request_duration_seconds_count{sel()}, op)",
        "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1, "hide": 0, "options": [], "regex": "",
    }
    return dashboard("rookery-requests", "Rookery / Requests and latency",
                     "Client requests per op and member, latency percentiles from the "
                     "rookery_request_duration_seconds histograms, errors by result, outstanding and "
                     "slow requests.", ["rookery"], p, extra_vars=[op_var])


def replication():
    p = [
        timeseries("Committed zxid", "The counter part (low 32 bits) of the highest zxid each member "
                   "knows committed (`rookery_last_committed_zxid`). Members that keep up draw one "
                   "line; it restarts from 0 in a new epoch.",
                   [target(f"rookery_last_committed_zxid{sel()} % 4294967296", "{{instance}}")],
                   decimals=0),
        timeseries("Applied zxid", "The counter part of the highest zxid each member has applied to "
                   "the tree it serves (`rookery_last_applied_zxid`).",
                   [target(f"rookery_last_applied_zxid{sel()} % 4294967296", "{{instance}}")],
                   decimals=0),
        timeseries("Follower lag", "Leader: proposals each peer has not acknowledged yet "
                   "(`rookery_peer_lag_txns{peer}`). A lag that keeps growing is a slow or stuck "
                   "follower.",
                   [target(f"max by (peer) (rookery_peer_lag_txns{sel()})", "peer {{peer}}")], w=8),
        timeseries("Apply backlog", "Committed but not yet applied transactions on each member "
                   "(committed zxid minus applied zxid within an epoch).",
                   [target(f"rookery_last_committed_zxid{sel()} - rookery_last_applied_zxid{sel()}",
                           "{{instance}}")], w=8),
        timeseries("Per-peer ack latency p99", "Leader: 99th percentile of the time from a proposal to "
                   "each peer's ack (`rookery_peer_ack_duration_seconds{peer}`): network plus the "
                   "peer's fsync.",
                   [target(f"histogram_quantile(0.99, sum by (le, peer) "
                           f"(rate(rookery_peer_ack_duration_seconds_bucket{sel()}[{RI}])))", "peer {{peer}}")],
                   unit="s", w=8),
        timeseries("Proposals and commits/s", "Leader: proposals made and committed per second "
                   "(`proposal_count`, `commit_count`); followers: commits received from the leader "
                   "(`learner_commit_received_count`).",
                   [target(f"sum(rate(proposal_count{sel()}[{RI}]))", "proposals (leader)"),
                    target(f"sum(rate(commit_count{sel()}[{RI}]))", "commits (leader)"),
                    target(f"sum by (instance) (rate(learner_commit_received_count{sel()}[{RI}]))",
                           "{{instance}} commits received")], unit="ops"),
        timeseries("Quorum ack latency (ZooKeeper summary)", "Leader: ms from a proposal to its quorum "
                   "ack, median and p99 over a sliding 10-minute window (`quorum_ack_latency`). NaN "
                   "on members that have not led.",
                   [target(f"max by (instance, quantile) (quorum_ack_latency{sel(quantile__re='0.5|0.99')})",
                           "{{instance}} q{{quantile}}")], unit="ms"),
        timeseries("Learner syncs by kind", "Syncs the leader served to members joining or rejoining, "
                   "by kind (`rookery_syncs_total{kind}`): DIFF sends the missing transactions, TRUNC "
                   "cuts a learner's uncommitted tail, SNAP streams the whole state when the learner "
                   "is further behind than `commitLogCount`.",
                   [target(f"sum by (kind) (increase(rookery_syncs_total{sel()}[{RI}]))", "{{kind}}")],
                   bars=True, w=8),
        stat("Syncs in range", "DIFF, TRUNC and SNAP syncs the leaders served in the dashboard's time "
             "range.",
             [target(f"sum by (kind) (increase(rookery_syncs_total{sel()}[$__range]))", "{{kind}}",
                     instant=True)], w=8, h=8, decimals=0),
        timeseries("Follower sync time", "Follower: ms from finding the leader to serving, median over "
                   "a sliding 10-minute window (`follower_sync_time`).",
                   [target(f"follower_sync_time{sel(quantile='0.5')}", "{{instance}}")],
                   unit="ms", points=True, w=8),
        timeseries("Epoch", "Each member's currentEpoch (the epoch of the last leader it acknowledged, "
                   "`rookery_zab_epoch`) and acceptedEpoch (`rookery_zab_accepted_epoch`). Every "
                   "election that ends raises it by one.",
                   [target(f"rookery_zab_epoch{sel()}", "{{instance}} current"),
                    target(f"rookery_zab_accepted_epoch{sel()}", "{{instance}} accepted")],
                   decimals=0, w=8),
        timeseries("Learners", "Leader: learners connected (`learners`), followers and observers in "
                   "broadcast (`synced_followers`, `synced_observers`) and learners still syncing "
                   "(`pending_syncs`).",
                   [target(f"max(learners{sel()})", "learners"),
                    target(f"max(synced_followers{sel()})", "synced followers"),
                    target(f"max(synced_observers{sel()})", "synced observers"),
                    target(f"max(pending_syncs{sel()})", "pending syncs")], decimals=0, w=8),
        timeseries("Proposal size", "Leader: bytes of the last and of the largest proposal "
                   "(`last_proposal_size`, `max_proposal_size`).",
                   [target(f"max(last_proposal_size{sel()})", "last"),
                    target(f"max(max_proposal_size{sel()})", "max")], unit="bytes", w=8),
        timeseries("Membership version", "The version of the membership each member runs with: the "
                   "zxid of the reconfig that made it, 0 for zoo.cfg's (`rookery_config_version`; "
                   "shown in hex as `version=` in /zookeeper/config). Members that disagree for long "
                   "missed a reconfig.",
                   [target(f"rookery_config_version{sel()}", "{{instance}}")], decimals=0, w=8),
        timeseries("Reconfigs", "Membership changes each member applied per interval "
                   "(`rookery_reconfigs_total`).",
                   [target(f"sum by (instance) (increase(rookery_reconfigs_total{sel()}[{RI}]))",
                           "{{instance}}")], bars=True, decimals=0, w=8),
        timeseries("Read-only members", "Members cut off from their quorum that serve read-only "
                   "clients (`rookery_read_only`, with `readonlymode.enabled`): their reads may be "
                   "stale and they refuse writes.",
                   [target(f"sum(rookery_read_only{sel()})", "read-only")], decimals=0, w=8),
    ]
    return dashboard("rookery-replication", "Rookery / Replication",
                     "ZAB replication: committed and applied zxids, follower lag and ack latency, "
                     "proposals, DIFF/TRUNC/SNAP syncs and epochs.", ["rookery"], p)


def sessions():
    p = [
        timeseries("Session events/s", "Sessions created, closed and expired per second "
                   "(`rookery_session_events_total{event}`; every member applies the same "
                   "creations and closes, the leader counts expiries, so the busiest member is "
                   "shown), and sessions moved to a member after a client reconnected (summed).",
                   [target(f"max by (event) (rate(rookery_session_events_total{sel(event__ne='moved')}[{RI}]))",
                           "{{event}}"),
                    target(f"sum by (event) (rate(rookery_session_events_total{sel(event='moved')}[{RI}]))",
                           "{{event}}")], unit="ops"),
        timeseries("Sessions", "Sessions in the ensemble (`global_sessions`).",
                   [target(f"max(global_sessions{sel()})", "sessions")], decimals=0, w=6),
        stat("Sessions expired in range", "Sessions the leaders expired in the dashboard's time range "
             "(a client stopped pinging for its whole session timeout).",
             [target(f"max(increase(rookery_session_events_total{sel(event='expired')}[$__range]))",
                     "expired", instant=True)], w=6, h=8, decimals=0,
             thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 10}]),
        timeseries("Connections per member", "Open client connections on each member "
                   "(`rookery_connections`).",
                   [target(f"rookery_connections{sel()}", "{{instance}}")], stack=True, decimals=0),
        timeseries("Connections accepted, rejected and dropped", "Per second and member: connections "
                   "accepted (`connection_request_count`), refused because the member did not serve "
                   "or the address hit `maxClientCnxns` (`connection_rejected`), and closed on an error "
                   "(`connection_drop_count`).",
                   [target(f"sum by (instance) (rate(connection_request_count{sel()}[{RI}]))",
                           "{{instance}} accepted"),
                    target(f"sum by (instance) (rate(connection_rejected{sel()}[{RI}]))",
                           "{{instance}} rejected"),
                    target(f"sum by (instance) (rate(connection_drop_count{sel()}[{RI}]))",
                           "{{instance}} dropped")], unit="ops"),
        timeseries("Session revalidations/s", "Sessions re-established on a new connection per second "
                   "and member (`revalidate_count`): clients reconnecting after a member went away.",
                   [target(f"sum by (instance) (rate(revalidate_count{sel()}[{RI}]))", "{{instance}}")],
                   unit="ops", w=8),
        timeseries("Watches set", "Watches registered on each member (`watch_count`).",
                   [target(f"watch_count{sel()}", "{{instance}}")], decimals=0, w=8),
        timeseries("Ephemeral znodes", "Ephemeral znodes (`ephemerals_count`); they go with their "
                   "session.",
                   [target(f"max(ephemerals_count{sel()})", "ephemerals")], decimals=0, w=8),
        timeseries("Watch notifications by type", "Watch notifications sent to clients per second, by "
                   "event type (`rookery_watch_events_total{type}`), summed over the members.",
                   [target(f"sum by (type) (rate(rookery_watch_events_total{sel()}[{RI}]))", "{{type}}")],
                   unit="ops", stack=True),
        timeseries("Watchers triggered per event", "Median number of watches one change fired, by "
                   "event type (ZooKeeper's `node_*_watch_count` summaries).",
                   [target(f"max(node_created_watch_count{sel(quantile='0.5')})", "created"),
                    target(f"max(node_deleted_watch_count{sel(quantile='0.5')})", "deleted"),
                    target(f"max(node_changed_watch_count{sel(quantile='0.5')})", "data changed"),
                    target(f"max(node_children_watch_count{sel(quantile='0.5')})", "children changed")]),
    ]
    return dashboard("rookery-sessions", "Rookery / Sessions, watches and connections",
                     "Session lifecycle, client connections and rejects, watches set and fired.",
                     ["rookery"], p)


def storage():
    p = [
        timeseries("WAL fsync p99", "99th percentile of a group commit's log write with fsync on each "
                   "member (`rookery_wal_fsync_duration_seconds`). Every write waits for it; it should "
                   "stay well under 10 ms on an SSD.",
                   [target(f"histogram_quantile(0.99, sum by (le, instance) "
                           f"(rate(rookery_wal_fsync_duration_seconds_bucket{sel()}[{RI}])))", "{{instance}}")],
                   unit="s"),
        timeseries("WAL fsyncs/s", "Group commits (log write + fsync) per second on each member.",
                   [target(f"sum by (instance) (rate(rookery_wal_fsync_duration_seconds_count{sel()}[{RI}]))",
                           "{{instance}}")], unit="ops"),
        timeseries("WAL batch size", "Log entries made durable per fsync on each member: the mean "
                   "over the interval and the p99 (`rookery_wal_batch_size`). Bigger batches mean "
                   "group commit is absorbing load.",
                   [target(f"sum by (instance) (rate(rookery_wal_batch_size_sum{sel()}[{RI}])) "
                           f"/ sum by (instance) (rate(rookery_wal_batch_size_count{sel()}[{RI}]))",
                           "{{instance}} mean"),
                    target(f"histogram_quantile(0.99, sum by (le, instance) "
                           f"(rate(rookery_wal_batch_size_bucket{sel()}[{RI}])))", "{{instance}} p99")]),
        timeseries("Slow fsyncs/s", "Log fsyncs slower than `fsync.warningthresholdms` per second "
                   "(`fsync_threshold_exceed_count`); each is also logged.",
                   [target(f"sum by (instance) (rate(fsync_threshold_exceed_count{sel()}[{RI}]))",
                           "{{instance}}")], unit="ops"),
        timeseries("RocksDB size", "Bytes of RocksDB SST files (`rookery_storage_sst_bytes`), "
                   "RocksDB's estimate of the live data among them (`rookery_storage_live_data_bytes`) "
                   "and bytes in memtables (`rookery_storage_memtable_bytes`).",
                   [target(f"rookery_storage_sst_bytes{sel()}", "{{instance}} sst"),
                    target(f"rookery_storage_live_data_bytes{sel()}", "{{instance}} live"),
                    target(f"rookery_storage_memtable_bytes{sel()}", "{{instance}} memtables")],
                   unit="bytes"),
        timeseries("Pending compaction", "Bytes RocksDB estimates compaction must rewrite "
                   "(`rookery_storage_pending_compaction_bytes`); RocksDB slows and then stops writes "
                   "when it grows too far.",
                   [target(f"rookery_storage_pending_compaction_bytes{sel()}", "{{instance}}")],
                   unit="bytes"),
        timeseries("RocksDB write stalls", "1 while RocksDB stops writes because compaction is behind "
                   "(`rookery_storage_write_stopped`); every write of the member waits.",
                   [target(f"rookery_storage_write_stopped{sel()}", "{{instance}} stopped")],
                   decimals=0, w=8),
        timeseries("RocksDB delayed write rate", "RocksDB's write rate limit while it slows writes "
                   "(`rookery_storage_delayed_write_rate_bytes`), 0 when writes are not delayed.",
                   [target(f"rookery_storage_delayed_write_rate_bytes{sel()}", "{{instance}}")],
                   unit="Bps", w=8),
        timeseries("Data size", "Bytes of znode paths and data in the tree (`approximate_data_size`).",
                   [target(f"max by (instance) (approximate_data_size{sel()})", "{{instance}}")],
                   unit="bytes", w=8),
        timeseries("SNAP stream duration", "Leader: mean time to stream a SNAP (the whole state) to a "
                   "learner, for streams that ended in the interval "
                   "(`rookery_snapshot_stream_duration_seconds`).",
                   [target(f"sum by (instance) (increase(rookery_snapshot_stream_duration_seconds_sum{sel()}[{RI}])) "
                           f"/ sum by (instance) (increase(rookery_snapshot_stream_duration_seconds_count{sel()}[{RI}]))",
                           "{{instance}}")], unit="s", points=True, w=8),
        stat("SNAP streams in range", "SNAPs the leaders streamed in the dashboard's time range; each "
             "means a learner was further behind than `commitLogCount`.",
             [target(f"sum(increase(rookery_snapshot_stream_duration_seconds_count{sel()}[$__range]))",
                     "SNAPs", instant=True)], w=8, h=8, decimals=0),
        timeseries("Start-up load time", "ms a member took to load its stored state when it started, "
                   "median (`dbinittime`).",
                   [target(f"dbinittime{sel(quantile='0.5')}", "{{instance}}")], unit="ms",
                   points=True, w=8),
        timeseries("File descriptors", "Open file descriptors of each member's process as a share of "
                   "its limit (`open_file_descriptor_count / max_file_descriptor_count`).",
                   [target(f"open_file_descriptor_count{sel()} / max_file_descriptor_count{sel()}",
                           "{{instance}}")], unit="percentunit"),
        timeseries("Resident memory", "Resident memory of each member's process "
                   "(`process_resident_memory_bytes`).",
                   [target(f"process_resident_memory_bytes{sel()}", "{{instance}}")], unit="bytes"),
    ]
    return dashboard("rookery-storage", "Rookery / Storage",
                     "The write-ahead log (fsync latency, group commit), RocksDB (size, compaction, "
                     "stalls), SNAP streams and the member processes.", ["rookery"], p)


def zookeeper():
    p = [
        stat("Servers up", "Servers Prometheus scraped successfully, out of those it scrapes (`up`).",
             [target(f"sum(up{sel()})", "up", instant=True),
              target(f"count(up{sel()})", "configured", instant=True)]),
        stat("Leader", "The server that leads now: only the leader exports `leader_uptime`.",
             [target(f"leader_uptime{sel()}", "{{instance}}", instant=True)], text_mode="name"),
        stat("Quorum size", "Voting members in the configuration (`quorum_size`).",
             [target(f"max(quorum_size{sel()})", "voters", instant=True)]),
        stat("Synced followers", "Followers in broadcast with the leader (`synced_followers`, leader "
             "only). Fewer than quorum size minus one means a follower is down or syncing.",
             [target(f"max(synced_followers{sel()})", "synced", instant=True)]),
        stat("Znodes", "Znodes in the tree (`znode_count`).",
             [target(f"max(znode_count{sel()})", "znodes", instant=True)]),
        stat("Elections in range", "Leader elections that ended in the dashboard's time range, as the "
             "server that took part in most counts them (`election_time_count`).",
             [target(f"max(increase(election_time_count{sel()}[$__range]))", "elections",
                     instant=True)], decimals=0,
             thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 3}]),
        timeseries("Role (1 = leader)", "1 for the server that leads (it alone exports "
                   "`leader_uptime`), 0 for the others that serve.",
                   [target(f"(leader_uptime{sel()} >= bool 0) or (num_alive_connections{sel()} * 0)",
                           "{{instance}}")], decimals=0, mappings=value_map(
                       [(0, "not leader", "green"), (1, "leader", "blue")])),
        timeseries("Elections", "Per interval and server: elections that ended (`election_time_count`) "
                   "and times the server entered the election (`looking_count`).",
                   [target(f"sum by (instance) (increase(election_time_count{sel()}[{RI}]))",
                           "{{instance}} elections"),
                    target(f"sum by (instance) (increase(looking_count{sel()}[{RI}]))",
                           "{{instance}} looking")], bars=True, w=8),
        timeseries("Election time", "Median election duration in ms over a sliding 10-minute window "
                   "(`election_time`).",
                   [target(f"election_time{sel(quantile='0.5')}", "{{instance}}")], unit="ms",
                   points=True, w=8),
        timeseries("Learners", "Leader: learners connected (`learners`), synced followers and "
                   "observers, and learners still syncing (`pending_syncs`).",
                   [target(f"max(learners{sel()})", "learners"),
                    target(f"max(synced_followers{sel()})", "synced followers"),
                    target(f"max(synced_observers{sel()})", "synced observers"),
                    target(f"max(pending_syncs{sel()})", "pending syncs")], decimals=0, w=8),
        timeseries("Requests/s", "Reads and writes answered per second by each server, from the "
                   "counts of the `readlatency` and `updatelatency` summaries.",
                   [target(f"sum by (instance) (rate(readlatency_count{sel()}[{RI}]))", "{{instance}} reads"),
                    target(f"sum by (instance) (rate(updatelatency_count{sel()}[{RI}]))",
                           "{{instance}} writes")], unit="reqps"),
        timeseries("Read and write latency p99", "p99 in ms of reads (`readlatency`) and writes "
                   "(`updatelatency`) on each server over a sliding window.",
                   [target(f"readlatency{sel(quantile='0.99')}", "{{instance}} read"),
                    target(f"updatelatency{sel(quantile='0.99')}", "{{instance}} write")],
                   unit="ms"),
        timeseries("Average and max latency", "ms since the server started or `srst` "
                   "(`avg_latency`, `max_latency`).",
                   [target(f"avg_latency{sel()}", "{{instance}} avg"),
                    target(f"max_latency{sel()}", "{{instance}} max")], unit="ms", w=8),
        timeseries("Outstanding requests", "Requests received and not yet answered "
                   "(`outstanding_requests`).",
                   [target(f"outstanding_requests{sel()}", "{{instance}}")], w=8),
        timeseries("Packets/s", "Packets received and sent per second (`packets_received` and "
                   "`packets_sent` are gauges that count up until `srst`).",
                   [target(f"sum by (instance) (rate(packets_received{sel()}[{RI}]))", "{{instance}} received"),
                    target(f"sum by (instance) (rate(packets_sent{sel()}[{RI}]))", "{{instance}} sent")],
                   unit="pps", w=8),
        timeseries("Sessions and connections", "Sessions (`global_sessions`) and open client "
                   "connections per server (`num_alive_connections`).",
                   [target(f"max(global_sessions{sel()})", "sessions"),
                    target(f"num_alive_connections{sel()}", "{{instance}} connections")], decimals=0),
        timeseries("Connections rejected and dropped", "Per second and server: connections refused "
                   "(`connection_rejected`) and closed on an error (`connection_drop_count`), with "
                   "expired sessions (`stale_sessions_expired`, leader).",
                   [target(f"sum by (instance) (rate(connection_rejected{sel()}[{RI}]))", "{{instance}} rejected"),
                    target(f"sum by (instance) (rate(connection_drop_count{sel()}[{RI}]))", "{{instance}} dropped"),
                    target(f"sum by (instance) (rate(stale_sessions_expired{sel()}[{RI}]))",
                           "{{instance}} sessions expired")], unit="ops"),
        timeseries("Znodes, ephemerals and watches", "Znodes (`znode_count`), ephemeral znodes "
                   "(`ephemerals_count`) and watches set (`watch_count`) per server.",
                   [target(f"znode_count{sel()}", "{{instance}} znodes"),
                    target(f"ephemerals_count{sel()}", "{{instance}} ephemerals"),
                    target(f"watch_count{sel()}", "{{instance}} watches")], decimals=0, w=8),
        timeseries("Data size", "Bytes of znode paths and data (`approximate_data_size`).",
                   [target(f"approximate_data_size{sel()}", "{{instance}}")], unit="bytes", w=8),
        timeseries("fsync time", "Log fsync time in ms: the median (`fsynctime`) and the mean over the "
                   "interval (`fsynctime_sum / fsynctime_count`).",
                   [target(f"fsynctime{sel(quantile='0.5')}", "{{instance}} median"),
                    target(f"rate(fsynctime_sum{sel()}[{RI}]) / rate(fsynctime_count{sel()}[{RI}])",
                           "{{instance}} mean")], unit="ms", w=8),
        timeseries("Proposals and commits/s", "Leader: proposals and commits per second "
                   "(`proposal_count`, `commit_count`).",
                   [target(f"sum(rate(proposal_count{sel()}[{RI}]))", "proposals"),
                    target(f"sum(rate(commit_count{sel()}[{RI}]))", "commits")], unit="ops", w=8),
        timeseries("Learner syncs", "Learners the leader synced by DIFF (`diff_count`) and by SNAP "
                   "(`snap_count`) per interval.",
                   [target(f"sum(increase(diff_count{sel()}[{RI}]))", "DIFF"),
                    target(f"sum(increase(snap_count{sel()}[{RI}]))", "SNAP")], bars=True, w=8),
        timeseries("Ack latency p99 per follower", "Leader: p99 in ms from a proposal to each "
                   "follower's ack (`ack_latency{key}`, key = follower id), and to the quorum ack "
                   "(`quorum_ack_latency`).",
                   [target(f"ack_latency{sel(quantile='0.99')}", "follower {{key}}"),
                    target(f"max(quorum_ack_latency{sel(quantile='0.99')})", "quorum")],
                   unit="ms", w=8),
        timeseries("File descriptors", "Open file descriptors as a share of the limit "
                   "(`open_file_descriptor_count / max_file_descriptor_count`).",
                   [target(f"open_file_descriptor_count{sel()} / max_file_descriptor_count{sel()}",
                           "{{instance}}")], unit="percentunit", w=8),
        timeseries("Errors", "Per interval: errors that stopped a server's service "
                   "(`unrecoverable_error_count`) and tree digest mismatches "
                   "(`digest_mismatches_count`). Both should stay 0.",
                   [target(f"sum by (instance) (increase(unrecoverable_error_count{sel()}[{RI}]))",
                           "{{instance}} unrecoverable"),
                    target(f"sum by (instance) (increase(digest_mismatches_count{sel()}[{RI}]))",
                           "{{instance}} digest mismatches")], decimals=0, w=8),
        timeseries("Uptime", "Time since each server started (`uptime`, ms).",
                   [target(f"uptime{sel()}", "{{instance}}")], unit="ms", w=8),
    ]
    return dashboard("zookeeper-compat", "ZooKeeper (compatible metrics)",
                     "Only Apache ZooKeeper's own metric names (PrometheusMetricsProvider, 3.6+), so it "
                     "works for Rookery and for Apache ZooKeeper alike.",
                     ["zookeeper", "rookery"], p, job_metric="znode_count")


DASHBOARDS = {
    "rookery-overview.json": overview,
    "rookery-requests.json": requests,
    "rookery-replication.json": replication,
    "rookery-sessions.json": sessions,
    "rookery-storage.json": storage,
    "zookeeper-compat.json": zookeeper,
}


def render(fn):
    return json.dumps(fn(), indent=2, sort_keys=False) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    os.makedirs(OUT, exist_ok=True)
    stale = []
    for name, fn in DASHBOARDS.items():
        path = os.path.join(OUT, name)
        text = render(fn)
        if check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(name)
            except FileNotFoundError:
                stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if check and stale:
        print(f"generate.py: out of date (run dashboards/generate.py): {', '.join(stale)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
