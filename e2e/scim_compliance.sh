#!/usr/bin/env bash
# A tenant's SCIM endpoint passes the SCIM compliance tools: scim2-tester
# (through scim2-cli: discovery, CRUD and PATCH of every attribute the
# schemas declare) and scim-sanity's probe in strict mode (lifecycle,
# filter, pagination, errors). `ditto serve` on a fresh database, set up
# through the admin API with curl.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${TARGET:-$ROOT/target}
ADMIN_URL=${DITTO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --quiet -p ditto --manifest-path "$ROOT/Cargo.toml"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
db="ditto_test_e2e_scim_$(date +%s)_$$"
psql "$ADMIN_URL" -qc "CREATE DATABASE $db"
work=$(mktemp -d)
cleanup() {
  [ -n "${ditto:-}" ] && kill -TERM "$ditto" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
token="e2e-bootstrap-token-$(date +%s)-0123456789"
DATABASE_URL="${ADMIN_URL%/*}/$db" DITTO_BOOTSTRAP_TOKEN="$token" DITTO_LISTEN="127.0.0.1:$port" \
  DITTO_MASTER_KEY="$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')" \
  "$TARGET/debug/ditto" serve >"$work/ditto.log" 2>&1 &
ditto=$!
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$ditto" 2>/dev/null || { cat "$work/ditto.log"; exit 1; }
  sleep 0.2
done

api() { curl -fsS -X "$1" "http://127.0.0.1:$port/api/v1$2" -H "Authorization: Bearer $token" -H 'content-type: application/json' ${3:+-d "$3"}; }
api POST /tenants '{"slug": "acme", "name": "Acme"}' >/dev/null
base="http://127.0.0.1:$port/t/acme/scim/v2"

# scim2-tester, through scim2-cli; exits non-zero on any failed check.
scim_token=$(api POST /tenants/acme/scim-tokens '{"name": "scim2-tester"}' | jq -r .secret)
SCIM_CLI_HEADERS="Authorization: Bearer $scim_token" scim2 --url "$base" test >"$work/scim2.out" 2>&1 \
  || { cat "$work/scim2.out"; tail -50 "$work/ditto.log"; exit 1; }
echo "scim2-tester: $(grep -c 'SUCCESS' "$work/scim2.out") checks passed, $(grep -c 'ERROR' "$work/scim2.out" || true) failed"

# scim-sanity's probe, strict (PATCH answers 200 with the resource).
sanity_token=$(api POST /tenants/acme/scim-tokens '{"name": "scim-sanity"}' | jq -r .secret)
# Its summary reads "N passed, [M failed, ]K skipped, T total", then
# "Result: All tests passed." when nothing failed.
scim-sanity probe "$base" --token "$sanity_token" --i-accept-side-effects >"$work/sanity.out" 2>&1 \
  || { cat "$work/sanity.out"; tail -50 "$work/ditto.log"; exit 1; }
grep -q 'mode: strict' "$work/sanity.out"
grep -q 'Result: All tests passed.' "$work/sanity.out" || { cat "$work/sanity.out"; exit 1; }
echo "scim-sanity (strict): $(grep -E '^ *[0-9]+ passed' "$work/sanity.out" | sed 's/^ *//')"
