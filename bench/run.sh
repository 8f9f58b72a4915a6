#!/usr/bin/env bash
# One command for the gateway benchmark: installs wrk and nginx if needed,
# builds release binaries, and runs bench/run.py (see its docstring).
# Settings: BENCH_SECONDS (8), BENCH_REPEATS (1), BENCH_CONCURRENCY (1,16,64),
# BENCH_KEYS (100000), DITTO_TEST_DATABASE_URL (a Postgres to create a scratch database in).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
command -v wrk >/dev/null || apt_install wrk
command -v nginx >/dev/null || apt_install nginx-light
command -v psql >/dev/null || apt_install postgresql-client
cargo build --release --quiet -p ditto -p ditto-mock-upstream
exec python3 bench/run.py
