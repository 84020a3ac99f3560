#!/usr/bin/env bash
# deploy/demo.d/10-intake.sh - demo stage: complaints into Kafka every way in.
#  1. komek-intake publishes the generated $DEMO_DIR/complaints.jsonl (its
#     malformed lines go to complaints.dlq) and prints its summary;
#  2. komek-gateway (Open311) on a free loopback port, with a key made by
#     komek-keys: a few complaints posted with curl, one resubmitted (same
#     id, nothing new published), read back in JSON and XML; then SIGTERM;
#  3. komek-vote publishes $DEMO_DIR/votes.jsonl (resident ids hashed).
# Default topics and database (demo.sh's environment).
set -euo pipefail
: "${KOMEK_BIN:?}" "${DEMO_DIR:?}" "${KOMEK_CONFIG:?}"
export KOMEK_CONFIG

echo "-- komek-intake $DEMO_DIR/complaints.jsonl"
"$KOMEK_BIN/komek-intake" --progress=false "$DEMO_DIR/complaints.jsonl"

echo "-- komek-gateway (Open311)"
key=$("$KOMEK_BIN/komek-keys" --log-level warn add --source webform --rate 600 --note "make demo")
work=$(mktemp -d)
gw_pid=
cleanup() {
        if [ -n "$gw_pid" ]; then kill -TERM "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
        "$KOMEK_BIN/komek-keys" --log-level warn revoke "${key:0:11}" >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT
"$KOMEK_BIN/komek-gateway" --port 0 --port-file "$work/port" 2>"$work/gateway.log" &
gw_pid=$!
for _ in $(seq 200); do # wait for the port file (the gateway writes it once listening)
        [ -s "$work/port" ] && break
        kill -0 "$gw_pid" 2>/dev/null || { cat "$work/gateway.log" >&2; exit 1; }
        sleep 0.1
done
port=$(cat "$work/port")
url="http://127.0.0.1:$port"
echo "gateway on $url"
post() { # external_id service_code description address
        curl -sS "$url/requests.json" --data-urlencode "api_key=$key" \
                --data-urlencode "external_id=$1" --data-urlencode "service_code=$2" \
                --data-urlencode "description=$3" --data-urlencode "address_string=$4"
        echo
}
post demo-web-1 heating "В квартире холодно, батареи еле тёплые" "ул. Кенесары, 40, кв. 12"
post demo-web-2 lift "Лифт застрял между 5 и 6 этажом" "пр. Республики 15"
post demo-web-3 water_supply "Суық су жоқ" "Мәңгілік Ел даңғылы 8"
echo "resubmitted demo-web-1 (same id, nothing new published):"
post demo-web-1 heating "В квартире холодно" "ул. Кенесары, 40, кв. 12"
id=$(curl -sS "$url/requests.json" --data-urlencode "api_key=$key" \
        --data-urlencode "external_id=demo-web-1" --data-urlencode "service_code=heating" \
        --data-urlencode "description=x" --data-urlencode "address_string=x" |
        sed -E 's/.*"service_request_id":"([^"]+)".*/\1/')
echo "GET /requests/$id.xml:"
curl -sS "$url/requests/$id.xml"
echo "GET /services.json: $(curl -sS "$url/services.json" | head -c 200)..."
kill -TERM "$gw_pid"
wait "$gw_pid" || { echo "gateway exited non-zero" >&2; exit 1; }
gw_pid=
tail -1 "$work/gateway.log"

echo "-- komek-vote $DEMO_DIR/votes.jsonl"
"$KOMEK_BIN/komek-vote" "$DEMO_DIR/votes.jsonl"
