#!/usr/bin/env bash
# Runs one browser test file of e2e/console/ (the argument, e.g.
# console.test.mjs) against `ditto serve` on a fresh database with the built
# console, the mock upstream behind a tenant's route and oidc-provider, with
# Playwright driving Debian's Chromium. Screenshots go to
# $TARGET/console-screenshots.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
test_file=${1:?usage: e2e/console/run.sh <test file in e2e/console/>}
TARGET=${TARGET:-$ROOT/target}
ADMIN_URL=${DITTO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
"$ROOT/scripts/build-web"
cargo build --quiet -p ditto -p ditto-mock-upstream --manifest-path "$ROOT/Cargo.toml"
if [ ! -d "$ROOT/e2e/oidc/node_modules/oidc-provider" ]; then
  (cd "$ROOT/e2e/oidc" && npm ci --silent --no-audit --no-fund >/dev/null)
fi
if [ ! -d "$ROOT/e2e/console/node_modules/playwright-core" ]; then
  (cd "$ROOT/e2e/console" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund >/dev/null)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
db="ditto_test_e2e_console_$(date +%s)_$$_${RANDOM}"
psql "$ADMIN_URL" -qc "CREATE DATABASE $db"
work=$(mktemp -d)
cleanup() {
  for pid in ${ditto:-} ${mock:-} ${oidc:-}; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mock_port=$(free_port)
"$TARGET/debug/ditto-mock-upstream" --listen "127.0.0.1:$mock_port" >"$work/mock.log" 2>&1 &
mock=$!
port=$(free_port)
# The tenant's OpenID provider, redirecting back to this server.
oidc_port=$(free_port)
PORT=$oidc_port REDIRECT_URI="http://127.0.0.1:$port/api/v1/auth/sso/callback" \
  node "$ROOT/e2e/oidc/provider.mjs" >"$work/oidc.log" 2>&1 &
oidc=$!
token="e2e-bootstrap-token-$(date +%s)-0123456789"
DATABASE_URL="${ADMIN_URL%/*}/$db" DITTO_BOOTSTRAP_TOKEN="$token" DITTO_LISTEN="127.0.0.1:$port" \
  DITTO_PUBLIC_URL="http://127.0.0.1:$port" DITTO_EGRESS_ALLOW=127.0.0.1/32 \
  DITTO_WEB_ASSETS="$TARGET/site" DITTO_AUDIT_SIGNING_KEY="$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')" \
  DITTO_MASTER_KEY="$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')" \
  "$TARGET/debug/ditto" serve >"$work/ditto.log" 2>&1 &
ditto=$!
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$ditto" 2>/dev/null || { cat "$work/ditto.log"; exit 1; }
  sleep 0.2
done
curl -fsS -X POST "http://127.0.0.1:$mock_port/__mock/config" -H 'content-type: application/json' \
  -d '{"require_bearer": "sk-upstream-e2e"}' >/dev/null

DITTO_URL="http://127.0.0.1:$port" DITTO_TOKEN="$token" MOCK_URL="http://127.0.0.1:$mock_port" \
  OIDC_URL="http://127.0.0.1:$oidc_port" \
  SHOTS="$TARGET/console-screenshots" node "$ROOT/e2e/console/$test_file" \
  || { echo "--- ditto log (tail)"; tail -40 "$work/ditto.log"; exit 1; }
