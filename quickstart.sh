#!/usr/bin/env bash
# Builds Rookery and runs a standalone member from examples/zoo.cfg on 127.0.0.1:2181.
# Ctrl-C stops it; data stays in /tmp/rookery-quickstart.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-build-deps.sh
cargo build --bin rookery
mkdir -p /tmp/rookery-quickstart/data
echo "Rookery on 127.0.0.1:2181 — try: /usr/share/zookeeper/bin/zkCli.sh -server 127.0.0.1:2181" >&2
exec target/debug/rookery server --config examples/zoo.cfg
