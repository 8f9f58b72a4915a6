#!/usr/bin/env bash
# Instructions per request for the mock upstream and the gateway, counted
# by callgrind (see bench/profile.py and bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
command -v valgrind >/dev/null || apt_install valgrind
command -v psql >/dev/null || apt_install postgresql-client
cargo build --release --quiet -p ditto -p ditto-mock-upstream
exec python3 bench/profile.py
