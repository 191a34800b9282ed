#!/usr/bin/env bash
# Builds Rookery and starts a local 3-member ensemble (client ports 2181-2183,
# data and logs under ./rookery-data). Ctrl-C stops every member.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-build-deps.sh
cargo build --bin rookery
exec target/debug/rookery quickstart "$@"
