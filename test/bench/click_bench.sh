#!/usr/bin/env bash
# Click-route load: wrk against GET /c/{token}/1 of the tracking server, on a throwaway cluster
# (like test/run.sh; MT_PORT and MT_HTTP_PORT to move it). Prints requests/s, latency percentiles
# and whether every answered click was recorded (0 lost). Target: >= 5,000 clicks/s, p99 <= 20 ms.
# Usage: test/bench/click_bench.sh [SECONDS (default 10)] [CONNECTIONS (default 32)]
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/test/lib.sh"
DURATION=${1:-10}; CONNS=${2:-32}
MT_PORT=${MT_PORT:-54349}
HTTP_PORT=${MT_HTTP_PORT:-$((MT_PORT + 100))}
SMTP_PORT=$((HTTP_PORT + 2))
BASE="http://127.0.0.1:$HTTP_PORT"
PY=/usr/bin/python3
mt_install_packages || exit 1
MT_WORKER_DB=mt_click MT_EXTRA_CONF="microtrigger.http_port = $HTTP_PORT
microtrigger.tracking_url = '$BASE'
microtrigger.http_rate_limit = 0
microtrigger.http_connections_per_ip = 0
microtrigger.smtp_url = 'smtp://127.0.0.1:$SMTP_PORT/bench.test'" mt_setup "$SRC" || exit 1
WORK=$(mktemp -d /tmp/mt-click.XXXXXX)
q() { psql -X -qAt -d mt_click -v ON_ERROR_STOP=1 "$@"; }
psql -X -q -d postgres -c "CREATE DATABASE mt_click" >/dev/null
q -c "CREATE EXTENSION microtrigger CASCADE" >/dev/null
"$PY" "$SRC/test/delivery/smtp_server.py" "$SMTP_PORT" "$WORK" >/dev/null 2>&1 & SMTP_PID=$!
trap 'kill $SMTP_PID 2>/dev/null; rm -rf "$WORK"; mt_teardown' EXIT
for _ in $(seq 100); do [ -f "$WORK/ready" ] && break; sleep 0.1; done
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, html_body, send_after)
      VALUES ('u1', 'u1@example.com', 'Hi', '<html><body><a href=\"https://shop.example/p?id=1\">p</a></body></html>', now())" >/dev/null
q -c "SELECT microtrigger.deliver()" >/dev/null
CLICK=$("$PY" -c '
import email, email.policy, re, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
print(re.search(r"href=\"([^\"]+/c/[^\"]+)\"", m.get_body(("html",)).get_content()).group(1))' "$(ls "$WORK"/*.eml | head -1)")
for _ in $(seq 100); do curl -s -o /dev/null --max-time 1 "$BASE/healthz" && break; sleep 0.1; done
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$CLICK")" = 302 ] || { echo "click route not answering 302"; exit 1; }
q -c "DELETE FROM microtrigger.events WHERE event_type = 'email_click'" >/dev/null
timeout $((DURATION + 30)) wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 5s --latency "$CLICK" >"$WORK/wrk.out" 2>&1
sleep 1
cat "$WORK/wrk.out"
done_requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
non3xx=$(awk '/Non-2xx or 3xx/ { print $5 }' "$WORK/wrk.out"); non3xx=${non3xx:-0}
recorded=$(q -c "SELECT count(*) FROM microtrigger.events WHERE event_type = 'email_click'")
rps=$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.out")
p99=$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.out")
echo "click_bench: $rps clicks/s, p99 $p99, $CONNS connections, ${DURATION}s; answered $done_requests, not 302: $non3xx, recorded $recorded, lost $(( done_requests - non3xx > recorded ? done_requests - non3xx - recorded : 0 ))"
