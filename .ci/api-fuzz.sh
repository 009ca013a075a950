#!/usr/bin/env bash
# Fuzzes the REST API against its own OpenAPI document with schemathesis (from PyPI): the debug
# build on a throwaway data folder seeded like `make run`, a read-write token of a member of
# team-a, a bounded number of examples per operation. Fails on any 5xx, and on any answer whose
# status is documented but whose body or content type contradicts the document.
#   .ci/api-fuzz.sh [target/debug/slipway]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/debug/slipway}
logs=$root/target/test-logs
venv=$root/target/venv-api
pin=4.32.5
mkdir -p "$logs"
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$pin"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$pin"
fi

data=$(mktemp -d /tmp/slipway-fuzz.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
origin="http://127.0.0.1:$port"
# The portal runs with nothing from the caller's environment but these: a SLIPWAY_GIT_URL,
# forge or cluster exported in the shell must never receive what the fuzzer submits. Its Git
# remote is the bare repository `init` makes in the throwaway folder. The fuzzer sends thousands
# of calls a minute from one address and one user: the rate limits are lifted.
portal=(env -i PATH="$PATH" HOME="$data" RUST_LOG=warn
  SLIPWAY_DATA_DIR="$data" DATABASE_URL="sqlite://$data/slipway.db"
  SLIPWAY_API_PER_MINUTE=1000000 SLIPWAY_USER_PER_MINUTE=1000000 SLIPWAY_SIGN_IN_PER_MINUTE=1000)
pid=
stop() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$data"
}
trap stop EXIT

"${portal[@]}" "$bin" init >/dev/null
"${portal[@]}" "$bin" serve --dev-login --listen "127.0.0.1:$port" >"$logs/api-fuzz-server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fs "$origin/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$origin/readyz" >/dev/null || { echo "the portal did not start"; cat "$logs/api-fuzz-server.log"; exit 1; }

jar=$data/cookies
curl -fs -o /dev/null -c "$jar" -H "Origin: $origin" -d handle=alice "$origin/auth/dev-login"
token=$(curl -fs -b "$jar" -H "Origin: $origin" -H 'Accept: application/json' \
  -d 'name=fuzz&scopes=read+write&expires_in_days=1' "$origin/api/tokens/create" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')

# The status stream never ends: it has its own tests (api_v1.rs, cli_client.rs). Run from the
# throwaway folder, where schemathesis keeps its caches.
cd "$data"
"$venv/bin/st" run "$origin/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --exclude-path /api/v1/status/events \
  --max-examples "${SLIPWAY_FUZZ_EXAMPLES:-20}" --seed 20261207 --workers 1 \
  --request-timeout 30 --no-color \
  --report junit --report-junit-path "$logs/api-fuzz.xml"
