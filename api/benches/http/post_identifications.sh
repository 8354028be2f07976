#!/usr/bin/env bash
# POST /api/v1/identifications at 32 clients against the raw insert ceiling, side by side on one
# fresh database (SQLite by default, PostgreSQL when DATABASE_URL names an empty database):
# a release server with the demo data and Albania's boundaries, two 30 s wrk runs, the server
# stopped, then two 20 s runs of the insert ceiling (32 clients, pool of 32) on the same database.
#   api/benches/http/post_identifications.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/terren_bench_post api/benches/http/post_identifications.sh
# Needs the release binary and the bench built (cargo build --release -p terren-api --bin terren;
# cargo bench -p terren-api --bench insert_ceiling --no-run) and TERREN_BOUNDARIES_DIR (default
# ../shared/data/albania).
set -euo pipefail
cd "$(dirname "$0")/../../.."
port=18091
boundaries=${TERREN_BOUNDARIES_DIR:-../shared/data/albania}
export TERREN_DATA_DIR=$(mktemp -d)
if [ -n "${DATABASE_URL:-}" ]; then
    export TERREN_DATABASE_URL=$DATABASE_URL
    ceiling_url=$DATABASE_URL
else
    ceiling_url=sqlite://$TERREN_DATA_DIR/terren.db
fi
export TERREN_LOG_FILTER=warn
./target/release/terren seed --demo >/dev/null
./target/release/terren import-areas "$boundaries"/*.geojson >/dev/null
./target/release/terren serve --demo --bind 127.0.0.1:$port >"$TERREN_DATA_DIR/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$TERREN_DATA_DIR"' EXIT
for _ in $(seq 50); do curl -sf localhost:$port/healthz >/dev/null && break; sleep 0.2; done
for run in 1 2; do
    token=$(curl -s -X POST localhost:$port/api/v1/auth/login -H 'content-type: application/json' \
        -d '{"username":"tirana.field","password":"terren-demo-2026","device_id":"bench"}' \
        | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    echo "== POST /api/v1/identifications, run $run"
    TOKEN=$token wrk -t2 -c32 -d30s --latency -s api/benches/http/create_identification.lua "http://127.0.0.1:$port" \
        | grep -E "Requests/sec|50%|90%|99%|Socket errors|201 Created"
done
kill $server; wait $server 2>/dev/null || true
if grep -E " ERROR " "$TERREN_DATA_DIR/serve.log" >/dev/null; then
    echo "server log has errors:"; grep -E " ERROR " "$TERREN_DATA_DIR/serve.log" | head -5
fi
for run in 1 2; do
    echo "== insert ceiling, run $run"
    DATABASE_URL=$ceiling_url CLIENTS=32 SECONDS=20 cargo bench -q -p terren-api --bench insert_ceiling 2>/dev/null
done
