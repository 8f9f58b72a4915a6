#!/usr/bin/env bash
# The official OpenAI SDKs (Python and Node) work unchanged against a
# tenant's endpoint: `ditto serve` on a fresh database, the mock upstream
# behind it, set up through the admin API with curl.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${TARGET:-$ROOT/target}
ADMIN_URL=${DITTO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --quiet -p ditto -p ditto-mock-upstream --manifest-path "$ROOT/Cargo.toml"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
db="ditto_test_e2e_$(date +%s)_$$"
psql "$ADMIN_URL" -qc "CREATE DATABASE $db"
work=$(mktemp -d)
cleanup() {
  for pid in ${ditto:-} ${mock:-}; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mock_port=$(free_port)
"$TARGET/debug/ditto-mock-upstream" --listen "127.0.0.1:$mock_port" >"$work/mock.log" 2>&1 &
mock=$!
port=$(free_port)
token="e2e-bootstrap-token-$(date +%s)-0123456789"
DATABASE_URL="${ADMIN_URL%/*}/$db" DITTO_BOOTSTRAP_TOKEN="$token" DITTO_LISTEN="127.0.0.1:$port" \
  DITTO_EGRESS_ALLOW=127.0.0.1/32 DITTO_MASTER_KEY="$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')" \
  "$TARGET/debug/ditto" serve >"$work/ditto.log" 2>&1 &
ditto=$!
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$ditto" 2>/dev/null || { cat "$work/ditto.log"; exit 1; }
  sleep 0.2
done
curl -fsS -X POST "http://127.0.0.1:$mock_port/__mock/config" -H 'content-type: application/json' \
  -d '{"require_bearer": "sk-upstream-e2e"}'

api() { curl -fsS -X "$1" "http://127.0.0.1:$port/api/v1$2" -H "Authorization: Bearer $token" -H 'content-type: application/json' ${3:+-d "$3"}; }
api POST /tenants '{"slug": "acme", "name": "Acme"}' >/dev/null
project=$(api POST /tenants/acme/projects '{"name": "sdk"}' | jq -r .id)
backend=$(api POST /tenants/acme/backends \
  "{\"name\": \"mock\", \"base_url\": \"http://127.0.0.1:$mock_port/v1\", \"credentials\": \"sk-upstream-e2e\"}" | jq -r .id)
api POST /tenants/acme/routes "{\"model\": \"gpt-4o\", \"targets\": [{\"backend_id\": \"$backend\"}]}" >/dev/null
api POST /tenants/acme/routes "{\"model\": \"text-embedding-3-small\", \"targets\": [{\"backend_id\": \"$backend\"}]}" >/dev/null
key=$(api POST /tenants/acme/api-keys "{\"project_id\": \"$project\", \"name\": \"sdk\"}" | jq -r .secret)

export DITTO_OPENAI_BASE="http://127.0.0.1:$port/t/acme/v1" DITTO_KEY="$key"
# The key reaches the snapshot through a change notification.
for _ in $(seq 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$DITTO_OPENAI_BASE/models" -H "Authorization: Bearer $key")" = 200 ] && break
  sleep 0.1
done

python3 "$ROOT/e2e/sdk/check.py"
if [ ! -d "$ROOT/e2e/sdk/node_modules/openai" ]; then
  (cd "$ROOT/e2e/sdk" && npm install --silent --no-audit --no-fund >/dev/null)
fi
node "$ROOT/e2e/sdk/check.mjs"

# The Python SDK through an Anthropic backend (the same mock speaks its protocol).
anthropic=$(api POST /tenants/acme/backends "{\"name\": \"mock-anthropic\", \"provider\": \"anthropic\", \
  \"base_url\": \"http://127.0.0.1:$mock_port\", \"credentials\": \"sk-upstream-e2e\"}" | jq -r .id)
api POST /tenants/acme/routes \
  "{\"model\": \"claude\", \"targets\": [{\"backend_id\": \"$anthropic\", \"upstream_model\": \"claude-test\"}]}" >/dev/null
for _ in $(seq 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$DITTO_OPENAI_BASE/models/claude" -H "Authorization: Bearer $key")" = 200 ] && break
  sleep 0.1
done
python3 "$ROOT/e2e/sdk/providers.py"

# Every SDK chat request was recorded (the writer batches, so give it a moment).
for _ in $(seq 50); do
  rows=$(psql "${ADMIN_URL%/*}/$db" -qAtc "select count(*) from usage_events where endpoint = 'chat/completions'")
  [ "$rows" -ge 5 ] && break
  sleep 0.1
done
[ "$rows" -ge 5 ] || { echo "expected 5 usage rows for the chat requests, found $rows"; exit 1; }
echo "OpenAI SDKs: ok"
