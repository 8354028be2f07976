#!/usr/bin/env bash
# 500 phones syncing every 30 s alongside 32 clients posting sightings, against a release server
# on the sync bench's database (a year of the country's sightings, see docs/benchmarks.md "Sync"):
# the writers alone for 30 s, then the phones sign in and make their first syncs, then the writers
# again for 30 s while the phones sync. SQLite by default (/tmp/benchsync), PostgreSQL when
# DATABASE_URL names one.
#   api/benches/http/sync_under_writes.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/terren_bench_sync api/benches/http/sync_under_writes.sh
# Needs the release binary and the bench built (cargo build --release -p terren-api --bin terren;
# cargo bench -p terren-api --bench sync_load --no-run) and wrk.
set -euo pipefail
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cd "$(dirname "$0")/../../.."
port=18092
export DATABASE_URL=${DATABASE_URL:-sqlite:///tmp/benchsync/terren.db}
export TERREN_DATA_DIR=$(mktemp -d) TERREN_DATABASE_URL=$DATABASE_URL TERREN_LOG_FILTER=warn
trap 'kill $server 2>/dev/null || true; rm -rf "$TERREN_DATA_DIR"' EXIT
MODE=prepare PHONES=${PHONES:-500} cargo bench -q -p terren-api --bench sync_load
./target/release/terren serve --demo --bind 127.0.0.1:$port >"$TERREN_DATA_DIR/serve.log" 2>&1 &
server=$!
for _ in $(seq 300); do curl -sf localhost:$port/healthz >/dev/null && break; sleep 0.2; done
curl -sf localhost:$port/healthz >/dev/null || { echo "the server did not start:"; tail -20 "$TERREN_DATA_DIR/serve.log"; exit 1; }
writers() {
    token=$(curl -s -X POST localhost:$port/api/v1/auth/login -H 'content-type: application/json' \
        -d '{"username":"tirana.field","password":"terren-demo-2026","device_id":"bench"}' \
        | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    TOKEN=$token wrk -t2 -c32 -d30s --latency -s api/benches/http/create_identification.lua "http://127.0.0.1:$port" \
        | grep -E "Requests/sec|50%|90%|99%|Socket errors|201 Created|^  [0-9]+ x "
}
# Warm the page cache and the pool first: the first seconds on a cold 1.5 GB file say nothing
# about either run below.
token=$(curl -s -X POST localhost:$port/api/v1/auth/login -H 'content-type: application/json' \
    -d '{"username":"tirana.field","password":"terren-demo-2026","device_id":"bench"}' \
    | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
TOKEN=$token wrk -t2 -c32 -d15s -s api/benches/http/create_identification.lua "http://127.0.0.1:$port" >/dev/null
echo "== POST /api/v1/identifications, 32 clients, alone"
writers
echo "== ${PHONES:-500} phones syncing every 30 s"
MODE=run TERREN_URL=http://127.0.0.1:$port cargo bench -q -p terren-api --bench sync_load >"$TERREN_DATA_DIR/phones.log" 2>&1 &
phones=$!
until grep -q '^steady' "$TERREN_DATA_DIR/phones.log"; do
    kill -0 $phones 2>/dev/null || { cat "$TERREN_DATA_DIR/phones.log"; exit 1; }
    sleep 0.5
done
echo "== POST /api/v1/identifications, 32 clients, while the phones sync"
writers
status=0
wait $phones || status=$?
cat "$TERREN_DATA_DIR/phones.log"
if grep -E " ERROR " "$TERREN_DATA_DIR/serve.log" >/dev/null; then
    echo "server log has errors:"; grep -E " ERROR " "$TERREN_DATA_DIR/serve.log" | head -5
fi
exit $status
