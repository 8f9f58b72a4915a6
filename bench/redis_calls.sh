#!/usr/bin/env bash
# What a Lua script costs Redis, by what it does: an empty script given the
# limited benchmark's 15 keys and 80 arguments, one that only reads its
# arguments, and one that makes 45 HINCRBY calls (about what the admission
# script makes for 13 counters). Prints Redis's own µs per call
# (INFO commandstats). Uses the Redis at DITTO_TEST_REDIS_URL (default
# local); touches only keys under {bench-redis-calls}, and resets its
# command statistics (CONFIG RESETSTAT).
set -euo pipefail
url=${DITTO_TEST_REDIS_URL:-redis://127.0.0.1:6379}
host=$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 6379)' "$url")
set -- $host
cli() { redis-cli -h "$1" -p "$2" "${@:3}"; }
keys=$(for i in $(seq 1 15); do printf '{bench-redis-calls}k%s ' "$i"; done)
args=$(for i in $(seq 1 80); do printf 'a%s ' "$i"; done)
run() { # label script
  local sha
  sha=$(cli "$1" "$2" SCRIPT LOAD "$4")
  cli "$1" "$2" CONFIG RESETSTAT >/dev/null
  # shellcheck disable=SC2086
  redis-benchmark -h "$1" -p "$2" -q -n 20000 -c 4 EVALSHA "$sha" 15 $keys $args >/dev/null 2>&1
  printf '%-34s %s µs per call\n' "$3" \
    "$(cli "$1" "$2" INFO commandstats | sed -n 's/^cmdstat_evalsha:.*usec_per_call=\([0-9.]*\).*/\1/p' | tr -d '\r')"
}
run "$1" "$2" "empty, 15 keys and 80 arguments" "return 1"
run "$1" "$2" "reads its 80 arguments" "local n = 0 for i = 1, #ARGV do n = n + #ARGV[i] end return n"
run "$1" "$2" "45 HINCRBY calls" "for i = 1, 45 do redis.call('HINCRBY', KEYS[1], 'f' .. (i % 8), 1) end return 1"
cli "$1" "$2" DEL '{bench-redis-calls}k1' >/dev/null
