#!/usr/bin/env bash
# The dashboards step of tests/run.sh: validates the Grafana dashboards and the alert rules
# (promtool check/test), then proves every dashboard and alert query against a live 3-member
# ensemble scraped by a real Prometheus. See check.py for the details.
#
#   bash tests/dashboards/check.sh [--static] [--keep] [--verbose]
#
# Needs python3 (stdlib only), prometheus and promtool (Debian package `prometheus`) and the
# rookery binary (ROOKERY_BIN, default target/debug/rookery).
set -eu -o pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in python3 promtool prometheus; do
  command -v "$tool" >/dev/null || { echo "check.sh: $tool not found (apt-get install prometheus python3)" >&2; exit 2; }
done
exec python3 "$here/check.py" "$@"
