#!/usr/bin/env bash
# Delivery throughput: messages per second from the outbox to an SMTP server on 127.0.0.1, against
# that server's own ceiling measured in the same run. Servers: test/bench/smtp_sink.c (C, epoll,
# 64 kB reads, stores nothing: the sink the target is measured against), the Python sink
# test/delivery/fast_sink.py and the aiosmtpd test server (for comparison). The ceiling is
# test/bench/smtp_blast.c: the same dialogue as libcurl (MAIL, RCPT, DATA, data, each waiting for
# its reply) and nothing else, over as many connections. Each configuration runs MT_BENCH_ROUNDS
# (3) times, interleaved with the others and with the ceiling, so a load change on this shared
# machine hits all of them alike; the medians are printed.
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
ROUNDS=${MT_BENCH_ROUNDS:-3}
N=${MT_BENCH_ROWS:-3000}
WORK=$(mktemp -d /tmp/mt-bench.XXXXXX)
chmod 755 "$WORK"
q() { psql -X -qAt -d "$DB" -v ON_ERROR_STOP=1 "$@"; }
gcc -O2 -o "$WORK/smtp_sink" "$SRC/test/bench/smtp_sink.c" || exit 1
gcc -O2 -o "$WORK/smtp_blast" "$SRC/test/bench/smtp_blast.c" || exit 1

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
q -c "CREATE EXTENSION microtrigger CASCADE" >/dev/null
psql -X -q -d postgres -c "ALTER SYSTEM SET microtrigger.smtp_url = 'smtp://127.0.0.1:$SMTP_PORT/bench'" \
    -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5

# fill N: N due rows with a typical message (subject with non-ASCII, preheader, HTML, text; ~4 kB)
fill() {
    q -c "TRUNCATE microtrigger.outbox" -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, preheader, html_body, text_body, send_after)
        SELECT 'u' || g, 'user' || g || '@example.com', 'Your cart is waiting — ' || g, 'Still thinking?',
               '<html><body><h1>Hello</h1><p>' || repeat('Your items are still in the cart. ', 40) || '</p></body></html>',
               repeat('Your items are still in the cart. ', 40), now()
          FROM generate_series(1, $1) g" >/dev/null
}
# measure N ARGS...: fills N rows, runs psql ARGS (-c ... each its own transaction), prints msg/s
measure() {
    local n=$1 t0 t1 sent
    shift
    fill "$n"
    t0=$(date +%s.%N)
    q "$@" >/dev/null
    t1=$(date +%s.%N)
    sent=$(q -c "SELECT count(*) FROM microtrigger.outbox WHERE status = 'sent'")
    [ "$sent" = "$n" ] || echo "  (only $sent of $n sent)" >&2
    awk -v s="$sent" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", s / (b - a) }'
}
# run_server KIND: starts the C sink, the Python sink or the aiosmtpd test server
run_server() {
    rm -rf "$WORK/out"; mkdir -p "$WORK/out"; chmod 777 "$WORK/out"
    case "$1" in
        c-sink) "$WORK/smtp_sink" "$SMTP_PORT" "$WORK/out" & ;;
        py-sink) "$PY" "$SRC/test/delivery/fast_sink.py" "$SMTP_PORT" "$WORK/out" & ;;
        aiosmtpd) "$PY" "$SRC/test/delivery/smtp_server.py" "$SMTP_PORT" "$WORK/out" & ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 100); do [ -f "$WORK/out/ready" ] && break; sleep 0.1; done
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# configurations: LABEL|CONNECTIONS|psql arguments (deliver_loop: batches of 100, 0 s = one round)
CONFIGS=(
    "deliver($N), 1 connection|1|-c SELECT microtrigger.deliver($N)"
    "deliver($N), 4 connections|4|-c SELECT microtrigger.deliver($N)"
    "deliver_loop, batches of 100, 1 connection|1|LOOP"
    "deliver_loop, batches of 100, 4 connections|4|LOOP"
)
run_config() {
    local conns=$2 what=$3 args=()
    if [ "$what" = LOOP ]; then
        # enough rounds of 100 per sender to drain N rows
        for _ in $(seq $(( (N + 100 * conns - 1) / (100 * conns) ))); do
            args+=(-c "CALL microtrigger.deliver_loop('0 seconds', 100)"); done
    else
        args=(-c "${what#-c }")
    fi
    PGOPTIONS="-c microtrigger.smtp_connections=$conns" measure "$N" "${args[@]}"
}

for server in c-sink py-sink aiosmtpd; do
    run_server "$server"
    echo "server: $server ($N rows of ~4 kB, median of $ROUNDS interleaved rounds)"
    rm -f "$WORK"/r.*
    for round in $(seq "$ROUNDS"); do
        for c in 1 4; do
            "$WORK/smtp_blast" "$SMTP_PORT" "$N" "$c" 4000 | awk '{ print $(NF-1) }' >>"$WORK/r.ceiling$c"
        done
        i=0
        for cfg in "${CONFIGS[@]}"; do
            IFS='|' read -r label conns what <<<"$cfg"
            run_config "$label" "$conns" "$what" >>"$WORK/r.$i"
            i=$((i + 1))
        done
        [ "$server" = c-sink ] || break    # one round is enough to show a slow server's cap
    done
    for c in 1 4; do
        printf "  %-46s %7d msg/s\n" "ceiling: smtp_blast, $c connection(s)" "$(median <"$WORK/r.ceiling$c")"
    done
    i=0
    for cfg in "${CONFIGS[@]}"; do
        IFS='|' read -r label conns what <<<"$cfg"
        printf "  %-46s %7d msg/s  (%s)\n" "$label" "$(median <"$WORK/r.$i")" "$(tr '\n' ' ' <"$WORK/r.$i")"
        i=$((i + 1))
    done
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
done
psql -X -q -d postgres -c "ALTER SYSTEM RESET microtrigger.smtp_url" -c "SELECT pg_reload_conf()" >/dev/null
rm -rf "$WORK"
