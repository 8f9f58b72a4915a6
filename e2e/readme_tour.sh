#!/usr/bin/env bash
# The README works as written: the quick start's server starts from nothing
# on the embedded Postgres, and the curl tour runs against it unchanged
# (only the port differs, so the check cannot collide with a running server).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${TARGET:-$ROOT/target}
cargo build --quiet -p ditto --manifest-path "$ROOT/Cargo.toml"

# The quick start's serve command is `./scripts/serve`, i.e. `cargo run -p ditto -- serve`.
grep -q '^\./scripts/serve' "$ROOT/README.md"
grep -q 'cargo run --quiet -p ditto -- serve' "$ROOT/scripts/serve"
grep -q '^scripts/build-web' "$ROOT/scripts/serve"

work=$(mktemp -d)
chmod 755 "$work"   # the embedded Postgres may run as another user
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  [ -n "${server:-}" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cd "$work"
env -u DATABASE_URL -u DITTO_DATA_DIR -u DITTO_BOOTSTRAP_TOKEN DITTO_LISTEN="127.0.0.1:$port" \
  DITTO_EGRESS_ALLOW=127.0.0.1/32 \
  "$TARGET/debug/ditto" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.2
done
grep -q "the token is in .ditto/admin-token" "$work/serve.log"

# The gateway part of the tour runs against the mock upstream.
cargo build --quiet -p ditto-mock-upstream --manifest-path "$ROOT/Cargo.toml"
mock_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$TARGET/debug/ditto-mock-upstream" --listen "127.0.0.1:$mock_port" >/dev/null 2>&1 &
mock=$!
trap 'kill $mock 2>/dev/null; cleanup' EXIT
export UPSTREAM_URL="http://127.0.0.1:$mock_port/v1" UPSTREAM_KEY="sk-any"

block() { sed -n "/<!-- $1:start -->/,/<!-- $1:end -->/p" "$ROOT/README.md" | sed '/^<!--/d; /^```/d'; }
tour="$(block tour)
$(block gateway-tour)
$(block console-tour)"
[ -n "$tour" ]
out=$(bash -euo pipefail -c "${tour//127.0.0.1:8080/127.0.0.1:$port}")
echo "$out" | grep -q '"slug": "acme"'
echo "$out" | grep -q '"secret": "dk-'
echo "$out" | grep -q '"secret": "dat-'
echo "$out" | grep -q '"object": "chat.completion"'
echo "$out" | grep -q '"max_cost_usd": "50.00"'
echo "$out" | grep -q '"requests": 2'
# The console is served (its browser half from the default place, beside
# the binary), and the person the tour made signs in with what it printed.
curl -fsS "http://127.0.0.1:$port/console/sign-in" | grep -q 'Sign in to Ditto'
password=$(echo "$out" | sed -n 's/.*, password \(.*\)$/\1/p')
[ -n "$password" ]
curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/api/v1/auth/sign-in" -H 'content-type: application/json' \
  -d "$(jq -n --arg p "$password" '{tenant: "acme", email: "ada@acme.example", password: $p}')"
echo "README tour: ok"
