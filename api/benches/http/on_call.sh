#!/usr/bin/env bash
# "Who is on call now" under load: a release server on a fresh database (SQLite by default,
# PostgreSQL when DATABASE_URL is set), a daily rota for AL224-QKT, then wrk with 32 connections
# for 30 s against GET /healthz (the framework's floor: no token, no database) and then against
# GET /api/v1/on-call?agency=AL224-QKT, in the same run.
#   api/benches/http/on_call.sh                                  # SQLite
#   DATABASE_URL=postgres://terren:terren@127.0.0.1:5432/terren_bench_oncall api/benches/http/on_call.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
port=18093
export TERREN_DATA_DIR=$(mktemp -d)
if [ -n "${DATABASE_URL:-}" ]; then export TERREN_DATABASE_URL=$DATABASE_URL; fi
export TERREN_LOG_FILTER=warn
./target/release/terren seed --demo >/dev/null
./target/release/terren serve --demo --bind 127.0.0.1:$port >"$TERREN_DATA_DIR/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$TERREN_DATA_DIR"' EXIT
for _ in $(seq 50); do curl -sf localhost:$port/healthz >/dev/null && break; sleep 0.2; done
login() {
    curl -s -X POST localhost:$port/api/v1/auth/login -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"terren-demo-2026\",\"device_id\":\"bench-$1\"}" \
        | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}
coordinator=$(login tirana.coord)
user_id() { curl -s localhost:$port/api/v1/me -H "authorization: Bearer $(login "$1")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
duty=$(user_id tirana.duty)
field=$(user_id tirana.field)
today=$(date -u -d yesterday +%F)
curl -sf -X POST localhost:$port/api/v1/schedules -H "authorization: Bearer $coordinator" -H 'content-type: application/json' \
    -d "{\"name\":\"Gadishmëria\",\"layers\":[{\"name\":\"main\",\"participants\":[[\"$duty\"],[\"$field\"]],\"turn_every\":1,\"turn_unit\":\"days\",\"handoff_time\":\"08:00\",\"starts_on\":\"$today\"}]}" >/dev/null
token=$(login tirana.field)
curl -sf "localhost:$port/api/v1/on-call?agency=AL224-QKT" -H "authorization: Bearer $token" | head -c 300; echo
echo "== GET /healthz"
wrk -t2 -c32 -d30s --latency "http://127.0.0.1:$port/healthz" | grep -E "Requests/sec|50%|90%|99%|Non-2xx|Socket errors"
echo "== GET /api/v1/on-call"
wrk -t2 -c32 -d30s --latency -H "authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/on-call?agency=AL224-QKT" \
    | grep -E "Requests/sec|50%|90%|99%|Non-2xx|Socket errors"
