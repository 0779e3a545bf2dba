#!/usr/bin/env bash
# Delivery throughput: messages per second from the outbox to an SMTP server on 127.0.0.1, for
# one deliver() batch of 100 and of 1,000 rows and for CALL deliver_loop() draining 1,000 rows
# in batches of 100; against the aiosmtpd test server (which writes every message to a file) and
# against a minimal sink (test/delivery/fast_sink.py), to show which side is the bottleneck.
# Usage: test/bench/deliver_bench.sh   (own throwaway cluster, like test/run.sh; MT_PORT to move it)
# Inside a running suite environment (MT_BUILD and PGHOST set) it reuses that cluster.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/test/lib.sh"
if [ -z "${MT_BUILD:-}" ]; then
    mt_install_packages || exit 1
    MT_PORT=${MT_PORT:-54339}
    mt_setup "$SRC" || exit 1
fi
PY=/usr/bin/python3
DB=mt_bench
SMTP_PORT=$((MT_PORT + 1100))
WORK=$(mktemp -d /tmp/mt-bench.XXXXXX)
q() { psql -X -qAt -d "$DB" -v ON_ERROR_STOP=1 "$@"; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
q -c "CREATE EXTENSION microtrigger CASCADE" >/dev/null
psql -X -q -d postgres -c "ALTER SYSTEM SET microtrigger.smtp_url = 'smtp://127.0.0.1:$SMTP_PORT/bench'" \
    -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5

# fill N: N due rows with a typical message (subject with non-ASCII, preheader, HTML, text)
fill() {
    q -c "TRUNCATE microtrigger.outbox" -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, preheader, html_body, text_body, send_after)
        SELECT 'u' || g, 'user' || g || '@example.com', 'Your cart is waiting — ' || g, 'Still thinking?',
               '<html><body><h1>Hello</h1><p>' || repeat('Your items are still in the cart. ', 40) || '</p></body></html>',
               repeat('Your items are still in the cart. ', 40), now()
          FROM generate_series(1, $1) g" >/dev/null
}
# measure LABEL N ARGS...: fills N rows, runs psql ARGS (-c ... each its own transaction), prints msg/s
measure() {
    local label=$1 n=$2 t0 t1 sent
    shift 2
    fill "$n"
    t0=$(date +%s.%N)
    q "$@" >/dev/null
    t1=$(date +%s.%N)
    sent=$(q -c "SELECT count(*) FROM microtrigger.outbox WHERE status = 'sent'")
    awk -v l="$label" -v s="$sent" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "  %-44s %5d sent in %6.3f s = %7.0f msg/s\n", l, s, b - a, s / (b - a) }'
}
# run_server KIND: starts the aiosmtpd test server or the minimal sink
run_server() {
    rm -rf "$WORK/out"; mkdir -p "$WORK/out"
    if [ "$1" = aiosmtpd ]; then "$PY" "$SRC/test/delivery/smtp_server.py" "$SMTP_PORT" "$WORK/out" &
    else "$PY" "$SRC/test/delivery/fast_sink.py" "$SMTP_PORT" "$WORK/out" & fi
    SERVER_PID=$!
    for _ in $(seq 100); do [ -f "$WORK/out/ready" ] && break; sleep 0.1; done
}

for server in aiosmtpd sink; do
    run_server "$server"
    echo "server: $server"
    measure "deliver(100), one batch of 100" 100 -c "SELECT microtrigger.deliver(100)"
    measure "deliver(1000), one batch of 1,000" 1000 -c "SELECT microtrigger.deliver(1000)"
    loop_calls=()
    for _ in $(seq 10); do loop_calls+=(-c "CALL microtrigger.deliver_loop('0 seconds', 100)"); done
    measure "deliver_loop, 1,000 rows in batches of 100" 1000 "${loop_calls[@]}"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
done
psql -X -q -d postgres -c "ALTER SYSTEM RESET microtrigger.smtp_url" -c "SELECT pg_reload_conf()" >/dev/null
rm -rf "$WORK"
