#!/usr/bin/env bash
# Delivery against a real SMTP server on 127.0.0.1 (test/delivery/smtp_server.py, aiosmtpd):
# message format, retries and backoff, 5xx -> dead + suppression, server down, unsubscribe,
# suppression, a backend killed mid-batch, deliver() inside a rolled-back transaction.
# Runs in its own database (mt_delivery); prints "delivery: N passed, M failed".
set -u
cd "$MT_BUILD"
PY=/usr/bin/python3                      # Debian's python, which has aiosmtpd
DB=mt_delivery
SMTP_PORT=${MT_SMTP_PORT:-$((MT_PORT + 1000))}
WORK=$(mktemp -d /tmp/mt-delivery.XXXXXX)
OUT="$WORK/smtp"
SERVER_PID=""
passed=0; failed=0

ok()   { passed=$((passed + 1)); echo "ok - $1"; }
nok()  { failed=$((failed + 1)); echo "FAIL - $1${2:+: $2}"; }
# check NAME ACTUAL EXPECTED: one count
check() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "got '$2', expected '$3'"; fi; }
q()    { psql -X -qAt -d "$DB" -v ON_ERROR_STOP=1 "$@"; }
# sq SQL: runs SQL with the suite's session settings (they reach deliver()'s worker too)
sq()   { q -c "SET microtrigger.retry_base_delay = 1; SET microtrigger.max_attempts = 3; $1"; }

start_server() {
    rm -rf "$OUT"; mkdir -p "$OUT"
    "$PY" test/delivery/smtp_server.py "$SMTP_PORT" "$OUT" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do [ -f "$OUT/ready" ] && return 0; sleep 0.1; done
    echo "smtp server did not start"; cat "$WORK/server.log"; return 1
}
stop_server() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""; }
control() { printf '%s' "$1" >"$OUT/control.json"; }
received() { [ -f "$OUT/log.jsonl" ] && wc -l <"$OUT/log.jsonl" || echo 0; }
# wait_for SECONDS CMD...: polls until CMD succeeds
wait_for() { local t=$1; shift; for _ in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done; return 1; }

cleanup() {
    stop_server
    psql -X -q -d postgres -c "ALTER SYSTEM RESET microtrigger.smtp_url" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- setup --------------------------------------------------------------------------------
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
q -c "CREATE EXTENSION microtrigger CASCADE" >/dev/null
psql -X -q -d postgres -c "ALTER SYSTEM SET microtrigger.smtp_url = 'smtp://127.0.0.1:$SMTP_PORT/mt.test'" \
    -c "SELECT pg_reload_conf()" >/dev/null
wait_for 10 bash -c "[ \"\$(psql -X -qAt -d $DB -c 'SHOW microtrigger.smtp_url')\" = 'smtp://127.0.0.1:$SMTP_PORT/mt.test' ]" \
    || echo "smtp_url not reloaded"
q -c "ALTER DATABASE $DB SET microtrigger.from_address = 'Jürgen''s Shop <shop@acme.example>'" \
  -c "ALTER DATABASE $DB SET microtrigger.unsubscribe_url = 'https://acme.example/u?token='" \
  -c "ALTER DATABASE $DB SET microtrigger.unsubscribe_mailto = 'unsubscribe@acme.example'" >/dev/null
start_server || { echo "delivery: 0 passed, 1 failed"; exit 1; }

# --- 1. messages arrive as valid RFC 5322 ------------------------------------------------
LONG_LINE=$(printf 'word%.0s ' $(seq 60))
q >/dev/null <<SQL
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('ana', 'ana@example.com'), ('bob', 'bob@example.com');
INSERT INTO microtrigger.outbox (user_id, to_address, subject, preheader, html_body, text_body, send_after) VALUES
 ('ana', 'ana@example.com', 'Grüße aus Köln — your cart 🛒 is waiting', 'Still thinking it over?',
  '<html><body><p>Hallo Ana, = dein Warenkorb wartet. $LONG_LINE</p></body></html>', 'Hallo Ana, dein Warenkorb wartet. $LONG_LINE', now()),
 ('bob', 'bob@example.com', 'Plain subject', NULL, NULL, 'Only text for Bob.', now());
SQL
check "deliver() returns the number sent" "$(q -c "SELECT microtrigger.deliver()")" "2"
check "rows sent once, attempts 1, sent_at and message_id set" \
    "$(q -c "SELECT string_agg(status || ':' || attempts || ':' || (sent_at IS NOT NULL) || ':' || (message_id ~ '^<[0-9]+\.[0-9a-f]{32}@acme\.example>$'), ',' ORDER BY id) FROM microtrigger.outbox")" \
    "sent:1:true:true,sent:1:true:true"
check "server received 2 messages" "$(received)" "2"
ANA_FILE=$(grep -l 'To: ana@example.com' "$OUT"/*.eml | head -1)
BOB_FILE=$(grep -l 'To: bob@example.com' "$OUT"/*.eml | head -1)
q -c "SELECT json_agg(json_build_object(
        'label', user_id, 'file', CASE user_id WHEN 'ana' THEN '$ANA_FILE' ELSE '$BOB_FILE' END,
        'to', to_address, 'from_name', 'Jürgen''s Shop', 'from_addr', 'shop@acme.example',
        'subject', subject, 'message_id', message_id, 'preheader', preheader,
        'html_contains', 'dein Warenkorb wartet', 'text_contains', CASE user_id WHEN 'ana' THEN 'Hallo Ana' ELSE 'Only text for Bob.' END,
        'multipart', html_body IS NOT NULL) ORDER BY id) FROM microtrigger.outbox" >"$WORK/expect.json"
while read -r status rest; do
    if [ "$status" = ok ]; then ok "message: $rest"; else nok "message: $rest"; fi
done < <("$PY" test/delivery/check_messages.py "$WORK/expect.json" 2>&1)

# the one-click link of a received message unsubscribes its contact
TOKEN=$(grep -o 'token=[A-Za-z0-9_.-]*' "$BOB_FILE" | head -1 | cut -d= -f2)
check "token from a received List-Unsubscribe works" "$(q -c "SELECT microtrigger.unsubscribe('$TOKEN')")" "t"
check "contact unsubscribed" "$(q -c "SELECT unsubscribed_at IS NOT NULL FROM microtrigger.contacts WHERE user_id = 'bob'")" "t"

# --- 2. 451 then 250: delivered once, attempts 2 -----------------------------------------
control '{"data": {"retry@example.com": ["451 4.3.0 try again later"]}}'
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) VALUES ('r', 'retry@example.com', 'Retry', 'x', now())" >/dev/null
check "451: nothing counted as sent" "$(sq "SELECT microtrigger.deliver()")" "0"
check "451: queued again with attempts 1 and the reply as error" \
    "$(q -c "SELECT status || ':' || attempts || ':' || (last_error LIKE '%451 4.3.0%') || ':' || (send_after > now()) FROM microtrigger.outbox WHERE to_address = 'retry@example.com'")" \
    "queued:1:true:true"
sleep 1.2
check "451 then 250: sent on the second try" "$(sq "SELECT microtrigger.deliver()")" "1"
check "451 then 250: row sent with attempts 2" \
    "$(q -c "SELECT status || ':' || attempts FROM microtrigger.outbox WHERE to_address = 'retry@example.com'")" "sent:2"
check "451 then 250: accepted exactly once" "$(grep 'retry@example.com' "$OUT/log.jsonl" | grep -c '"250')" "1"
check "451 then 250: both tries carry the same Message-ID" \
    "$(grep -l 'To: retry@example.com' "$OUT"/*.eml | xargs grep -h '^Message-ID:' | sort -u | wc -l)" "1"

# --- 3. 550 to RCPT TO: dead + bounce suppression ----------------------------------------
control '{"rcpt": {"bad@example.com": "550 5.1.1 no such user"}}'
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) VALUES
      ('b', 'bad@example.com', 'Bad', 'x', now()), ('b2', 'BAD@example.com', 'Later', 'x', now() + interval '1 hour')" >/dev/null
sq "SELECT microtrigger.deliver()" >/dev/null
check "550: row dead with the reply" \
    "$(q -c "SELECT status || ':' || (last_error LIKE 'RCPT TO: 550 5.1.1%') FROM microtrigger.outbox WHERE to_address = 'bad@example.com'")" "dead:true"
check "550: address suppressed as bounce" "$(q -c "SELECT reason FROM microtrigger.suppressions WHERE address = 'bad@example.com'")" "bounce"
check "550: queued mail to the same address (other case) cancelled" \
    "$(q -c "SELECT status FROM microtrigger.outbox WHERE to_address = 'BAD@example.com'")" "cancelled"
check "550: one email_bounced event with the row's params and the reply" \
    "$(q -c "SELECT count(*) || ':' || bool_and(e.params->>'outbox_id' = o.id::text AND e.params ? 'trigger' AND e.params ? 'arm'
                     AND e.params->>'reply' LIKE 'RCPT TO: 550 5.1.1%')
               FROM microtrigger.events e JOIN microtrigger.outbox o ON o.to_address = 'bad@example.com'
              WHERE e.event_type = 'email_bounced'")" "1:true"
check "sent rows: one email_sent event each, none for rows not sent" \
    "$(q -c "SELECT count(*) FILTER (WHERE o.status = 'sent') || ':' || count(*) FILTER (WHERE o.status <> 'sent')
               FROM microtrigger.events e JOIN microtrigger.outbox o ON o.id = (e.params->>'outbox_id')::bigint
              WHERE e.event_type = 'email_sent'")" "$(q -c "SELECT count(*) FROM microtrigger.outbox WHERE status = 'sent'"):0"
control '{}'

# --- 3b. a 4xx every time: the row's own backoff 1 s, 2 s, then dead at max_attempts 3 ------
control '{"data": {"tempfail@example.com": ["451 4.3.0 busy", "451 4.3.0 busy", "451 4.3.0 busy"]}}'
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) VALUES ('t1', 'tempfail@example.com', 'Temp', 'x', now())" >/dev/null
delays=""
for attempt in 1 2 3; do
    if [ "$attempt" -gt 1 ]; then
        wait_for 10 bash -c "[ \"\$(psql -X -qAt -d $DB -c \"SELECT send_after <= clock_timestamp() FROM microtrigger.outbox WHERE user_id = 't1'\")\" = t ]"
    fi
    sq "SELECT microtrigger.deliver(1)" >/dev/null
    delays="$delays $(q -c "SELECT CASE WHEN status = 'queued' THEN round(extract(epoch FROM send_after - clock_timestamp()))::text ELSE status END FROM microtrigger.outbox WHERE user_id = 't1'")"
done
check "4xx: backoff 1 s, 2 s, then dead at max_attempts 3" "$(echo $delays)" "1 2 dead"
check "4xx: dead row says why" \
    "$(q -c "SELECT attempts || ':' || (last_error LIKE 'gave up after 3 attempts: end of data: 451%') FROM microtrigger.outbox WHERE user_id = 't1'")" "3:true"
check "4xx: the server being up, no outage on record" "$(q -c "SELECT failures FROM microtrigger.delivery_state")" "0"
control '{}'

# --- 4. server down: no row pays for it; the whole delivery backs off, in every run --------
# sqd: the suite's settings with retry_max_delay 3 s, so the backoff 1, 2, 4 is capped at 3
sqd() { q -c "SET microtrigger.retry_base_delay = 1" -c "SET microtrigger.max_attempts = 3" -c "SET microtrigger.retry_max_delay = 3" -c "$1"; }
# state: failures / seconds left of the backoff, read right after a call (ceil: exact within 1 s)
state() { q -c "SELECT failures || '/' || coalesce(ceil(extract(epoch FROM retry_at - clock_timestamp()))::text, '-') FROM microtrigger.delivery_state"; }
stop_server
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after)
      SELECT 'd' || g, 'down' || g || '@example.com', 'Down', 'x', now() FROM generate_series(1, 3) g" >/dev/null
sqd "SELECT microtrigger.deliver()" >/dev/null
delays="$(state)"
check "down: no row loses an attempt, not even the one tried" \
    "$(q -c "SELECT string_agg(status || ':' || attempts, ',' ORDER BY id) FROM microtrigger.outbox WHERE user_id LIKE 'd_'")" \
    "queued:0,queued:0,queued:0"
check "down: the tried row says why" \
    "$(q -c "SELECT last_error LIKE 'not sent, no SMTP session (not counted as an attempt; delivery backs off): connection: %' FROM microtrigger.outbox WHERE user_id = 'd1'")" "t"
check "down: the outage is on record" \
    "$(q -c "SELECT failures || ':' || (down_since IS NOT NULL) || ':' || (last_error LIKE 'connection: %') FROM microtrigger.delivery_state")" "1:true:true"
for probe in 2 3 4; do
    wait_for 10 bash -c "[ \"\$(psql -X -qAt -d $DB -c 'SELECT retry_at <= clock_timestamp() FROM microtrigger.delivery_state')\" = t ]"
    sqd "SELECT microtrigger.deliver()" >/dev/null
    delays="$delays $(state)"
done
check "down: one connection per backoff step, 1 s, 2 s, 4 s capped at retry_max_delay 3 s" "$delays" "1/1 2/2 3/3 4/3"
check "down: during the backoff deliver() sends nothing" "$(sqd "SELECT microtrigger.deliver()")" "0"
sqd "CALL microtrigger.deliver_loop('1 second')" >/dev/null
check "down: during the backoff neither deliver() nor deliver_loop tries to connect" "$(q -c "SELECT failures FROM microtrigger.delivery_state")" "4"
check "down: still no row has lost an attempt or died" \
    "$(q -c "SELECT string_agg(status || ':' || attempts, ',' ORDER BY id) FROM microtrigger.outbox WHERE user_id LIKE 'd_'")" \
    "queued:0,queued:0,queued:0"
start_server
wait_for 10 bash -c "[ \"\$(psql -X -qAt -d $DB -c 'SELECT retry_at <= clock_timestamp() FROM microtrigger.delivery_state')\" = t ]"
check "up: the next call after the backoff sends them all" "$(sqd "SELECT microtrigger.deliver()")" "3"
check "up: each sent with one attempt" \
    "$(q -c "SELECT string_agg(status || ':' || attempts, ',' ORDER BY id) FROM microtrigger.outbox WHERE user_id LIKE 'd_'")" \
    "sent:1,sent:1,sent:1"
check "up: the outage is cleared" \
    "$(q -c "SELECT failures || ':' || (down_since IS NULL) || ':' || (retry_at IS NULL) || ':' || (last_error IS NULL) FROM microtrigger.delivery_state")" "0:true:true:true"

# --- 5. unsubscribe(token) ---------------------------------------------------------------
q -c "INSERT INTO microtrigger.contacts (user_id, email) VALUES ('cy', 'cy@example.com')" \
  -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) VALUES ('cy', 'cy@example.com', 'Later', 'x', now() + interval '1 hour')" >/dev/null
GOOD=$(q -c "SELECT microtrigger.unsubscribe_token('cy', 42)")
MAC=${GOOD#*.}
FORGED="${GOOD%%.*}.$( [ "${MAC:0:1}" = A ] && echo B || echo A )${MAC:1}"
OTHER_PAYLOAD="$(printf '42:ana' | base64 | tr '+/' '-_' | tr -d '=').${GOOD#*.}"
check "unsubscribe: forged MAC refused" "$(q -c "SELECT microtrigger.unsubscribe('$FORGED')")" "f"
check "unsubscribe: MAC moved to another user refused" "$(q -c "SELECT microtrigger.unsubscribe('$OTHER_PAYLOAD')")" "f"
check "unsubscribe: garbage refused" "$(q -c "SELECT microtrigger.unsubscribe('not a token')")" "f"
check "unsubscribe: nobody unsubscribed by bad tokens" \
    "$(q -c "SELECT count(*) FROM microtrigger.contacts WHERE user_id IN ('cy', 'ana') AND unsubscribed_at IS NOT NULL")" "0"
check "unsubscribe: good token accepted" "$(q -c "SELECT microtrigger.unsubscribe('$GOOD')")" "t"
FIRST=$(q -c "SELECT unsubscribed_at FROM microtrigger.contacts WHERE user_id = 'cy'")
check "unsubscribe: idempotent (true again, first time kept)" \
    "$(q -c "SELECT microtrigger.unsubscribe('$GOOD')"):$(q -c "SELECT unsubscribed_at = '$FIRST' FROM microtrigger.contacts WHERE user_id = 'cy'")" "t:t"
check "unsubscribe: queued mail of the contact cancelled" \
    "$(q -c "SELECT status || ':' || last_error FROM microtrigger.outbox WHERE user_id = 'cy'")" "cancelled:contact unsubscribed"
q -c "CREATE ROLE mt_web LOGIN" >/dev/null 2>&1
q -c "INSERT INTO microtrigger.contacts (user_id, email) VALUES ('dee', 'dee@example.com')" >/dev/null
DEE=$(q -c "SELECT microtrigger.unsubscribe_token('dee', 7)")
q -c "GRANT USAGE ON SCHEMA microtrigger TO mt_web" >/dev/null
check "unsubscribe: a role without table rights may call it (security definer)" \
    "$(psql -X -qAt -d "$DB" -U mt_web -c "SELECT microtrigger.unsubscribe('$DEE')" 2>&1)" "t"
check "unsubscribe: that role cannot read the secret" \
    "$(psql -X -qAt -d "$DB" -U mt_web -c "SELECT secret FROM microtrigger.delivery_secret" 2>&1 | grep -c 'permission denied')" "1"

# --- 6. suppression cancels queued rows; deliver() refuses at send time ------------------
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) VALUES ('e', 'Eve@Example.com', 'Later', 'x', now() + interval '1 hour')" \
  -c "INSERT INTO microtrigger.suppressions (address, reason) VALUES ('EVE@example.COM', 'manual')" >/dev/null
check "suppression stored lowercased" "$(q -c "SELECT address FROM microtrigger.suppressions WHERE reason = 'manual'")" "eve@example.com"
check "suppression cancels queued mail" "$(q -c "SELECT status FROM microtrigger.outbox WHERE user_id = 'e'")" "cancelled"
check "suppression reason checked" "$(q -c "INSERT INTO microtrigger.suppressions VALUES ('x@y.z', 'whim')" 2>&1 | grep -c 'violates check constraint')" "1"
# rows written after the suppression / unsubscribe (no trigger fires for them): refused by deliver()
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) VALUES
      ('e2', 'eve@example.com', 'Now', 'x', now()), ('cy', 'cy@example.com', 'Now', 'x', now())" >/dev/null
before=$(received)
sq "SELECT microtrigger.deliver()" >/dev/null
check "deliver() refuses suppressed and unsubscribed rows at send time" \
    "$(q -c "SELECT string_agg(status || ':' || last_error, ',' ORDER BY id) FROM microtrigger.outbox WHERE send_after <= now() AND user_id IN ('e2', 'cy')")" \
    "cancelled:refused at send time: address suppressed,cancelled:refused at send time: contact unsubscribed"
check "nothing sent for refused rows" "$(received)" "$before"

# --- 7. deliver() inside a transaction that rolls back: delivery stands ------------------
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) VALUES ('tx', 'tx@example.com', 'Tx', 'x', now())" >/dev/null
check "deliver() in a rolled-back transaction block" \
    "$(q -c "BEGIN" -c "SELECT microtrigger.deliver()" -c "ROLLBACK" | head -1)" "1"
check "its rows stay sent after the rollback" "$(q -c "SELECT status FROM microtrigger.outbox WHERE user_id = 'tx'")" "sent"
check "deliver_loop refused inside a transaction block" \
    "$(q -c "BEGIN" -c "CALL microtrigger.deliver_loop('1 second')" 2>&1 | grep -c 'must be called with CALL outside a transaction block')" "1"

# --- 8. a backend killed mid-batch loses nothing; repeats share the Message-ID -----------
control '{"stall_data": 30}'
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after)
      SELECT 'k' || g, 'kill' || g || '@example.com', 'Kill ' || g, 'x', now() FROM generate_series(1, 4) g" >/dev/null
before=$(received)
psql -X -q -d "$DB" -c "SET application_name = 'mt_kill_test'" -c "CALL microtrigger.deliver_loop('60 seconds', 10)" >"$WORK/kill.out" 2>&1 &
LOOP_PID=$!
wait_for 20 bash -c "[ \$(wc -l <'$OUT/log.jsonl') -gt $before ]" || echo "no message reached the stalled server"
check "kill: rows claimed (sending) while the server stalls" \
    "$(q -c "SELECT count(*) FROM microtrigger.outbox WHERE user_id LIKE 'k_' AND status = 'sending'")" "4"
check "kill: pg_terminate_backend on the delivering backend" \
    "$(q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mt_kill_test'")" "t"
wait "$LOOP_PID" 2>/dev/null
control '{}'
check "kill: claimed rows still sending after the kill" \
    "$(q -c "SELECT count(*) FROM microtrigger.outbox WHERE user_id LIKE 'k_' AND status = 'sending'")" "4"
sleep 1.1
q -c "SET microtrigger.sending_timeout = 1" -c "SELECT microtrigger.deliver()" >/dev/null
check "kill: recovered and sent after sending_timeout" \
    "$(q -c "SELECT string_agg(status, ',' ORDER BY id) FROM microtrigger.outbox WHERE user_id LIKE 'k_'")" "sent,sent,sent,sent"
dups_ok=yes; all_there=yes
while IFS='|' read -r addr mid; do
    ids=$(grep -l "^To: $addr" "$OUT"/*.eml | xargs -r grep -h '^Message-ID:' | tr -d '\r' | sort -u)
    [ -z "$ids" ] && all_there=no
    [ "$ids" != "Message-ID: $mid" ] && [ -n "$ids" ] && dups_ok=no
done < <(q -c "SELECT to_address, message_id FROM microtrigger.outbox WHERE user_id LIKE 'k_'")
check "kill: every message reached the server" "$all_there" "yes"
check "kill: every copy received carries the row's one Message-ID" "$dups_ok" "yes"
echo "kill: the server received $(( $(received) - before )) copies of 4 messages"

# --- 9. deliver_loop drains and commits per message --------------------------------------
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, html_body, text_body, send_after)
      SELECT 'l' || g, 'loop' || g || '@example.com', 'Loop ' || g, '<p>Hello ' || g || '</p>', 'Hello', now()
        FROM generate_series(1, 300) g" >/dev/null
q -c "CALL microtrigger.deliver_loop('3 seconds', 50)" >/dev/null
check "deliver_loop drains all due rows in batches" \
    "$(q -c "SELECT count(*) FILTER (WHERE status = 'sent') FROM microtrigger.outbox WHERE user_id LIKE 'l%'")" "300"
check "no row left sending" "$(q -c "SELECT count(*) FROM microtrigger.outbox WHERE status = 'sending'")" "0"

# --- 10. every message received carries its own row's unsubscribe token --------------------
# (catches memory reuse: a token must never come from another row or from freed memory)
"$PY" - "$OUT" >"$WORK/tokens.tsv" <<'PYEOF'
import email, email.policy, glob, re, sys
for path in sorted(glob.glob(sys.argv[1] + "/*.eml")):
    msg = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.default)
    m = re.search(r"token=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)>", str(msg.get("List-Unsubscribe", "")))
    print("%s\t%s" % (msg["Message-ID"], m.group(1) if m else "MISSING"))
PYEOF
check "every received message has the unsubscribe token of its own row" \
    "$(q -c "CREATE TEMP TABLE got (message_id text, token text)" \
         -c "\\copy got FROM '$WORK/tokens.tsv'" \
         -c "SELECT count(*) FILTER (WHERE g.token IS DISTINCT FROM microtrigger.unsubscribe_token(o.user_id, o.id)) || ' of ' || count(*)
               FROM got g LEFT JOIN microtrigger.outbox o USING (message_id)" | tail -1)" \
    "0 of $(wc -l <"$WORK/tokens.tsv")"

# --- 11. an outage longer than max_attempts x retry_base_delay: every email delivered once ----
# Down for ~7 s across two deliver_loop runs and a deliver() (max_attempts 3 x base 1 s = 3 s),
# then up: all 200 are sent, each exactly once (counted by Message-ID at the server).
sqo() { q -c "SET microtrigger.retry_base_delay = 1" -c "SET microtrigger.max_attempts = 3" -c "SET microtrigger.retry_max_delay = 2" -c "$1"; }
stop_server
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after)
      SELECT 'out' || g, 'outage' || g || '@example.com', 'Outage ' || g, 'x', now() FROM generate_series(1, 200) g" >/dev/null
sqo "CALL microtrigger.deliver_loop('4 seconds', 50)" >/dev/null
sqo "SELECT microtrigger.deliver(50)" >/dev/null
sqo "CALL microtrigger.deliver_loop('3 seconds', 50)" >/dev/null
check "outage: after 7 s down no row is dead or has lost an attempt" \
    "$(q -c "SELECT count(*) FILTER (WHERE status = 'queued' AND attempts = 0) || ' of ' || count(*) FROM microtrigger.outbox WHERE user_id LIKE 'out%'")" "200 of 200"
check "outage: the backoff held across runs (more than one failure on record)" \
    "$(q -c "SELECT failures >= 2 FROM microtrigger.delivery_state")" "t"
start_server
for _ in 1 2 3 4 5; do
    sqo "CALL microtrigger.deliver_loop('2 seconds', 50)" >/dev/null
    [ "$(q -c "SELECT count(*) FROM microtrigger.outbox WHERE user_id LIKE 'out%' AND status <> 'sent'")" = 0 ] && break
done
check "outage over: all 200 sent, each with one attempt" \
    "$(q -c "SELECT count(*) FILTER (WHERE status = 'sent' AND attempts = 1) FROM microtrigger.outbox WHERE user_id LIKE 'out%'")" "200"
grep -l '^To: outage' "$OUT"/*.eml | xargs -r grep -h '^Message-ID:' | tr -d '\r' | sed 's/^Message-ID: //' | sort >"$WORK/outage_got"
q -c "SELECT message_id FROM microtrigger.outbox WHERE user_id LIKE 'out%'" | sort >"$WORK/outage_want"
check "outage over: the server received 200 messages, 200 distinct Message-IDs" \
    "$(wc -l <"$WORK/outage_got" | tr -d ' ') $(sort -u "$WORK/outage_got" | wc -l | tr -d ' ')" "200 200"
check "outage over: exactly the rows' Message-IDs, each once" \
    "$(cmp -s "$WORK/outage_got" "$WORK/outage_want" && echo same || echo differ)" "same"

# --- 12. a slow server: a reply after smtp_timeout never reaches the next message -----------
# The server stores each message, then waits 3 s before its reply to the end of the data, for
# "slow" every time and for "once" the first time only; smtp_timeout is 1 s.
sqs() { sq "SET microtrigger.smtp_timeout = '1s'; $1"; }
row_state() { q -c "SELECT status || ':' || attempts || ':' || unknown_outcomes FROM microtrigger.outbox WHERE user_id = '$1'"; }
copies() { grep -c "\"$1@example.com\"" "$OUT/log.jsonl"; }
control '{"stall": {"slow@example.com": [3, 3, 3, 3], "once@example.com": [3]}}'
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) VALUES
      ('slow', 'slow@example.com', 'Slow', 'x', now() - interval '3 seconds'),
      ('once', 'once@example.com', 'Once', 'x', now() - interval '2 seconds'),
      ('next', 'next@example.com', 'Next', 'x', now() - interval '1 second')" >/dev/null
check "slow: the message after two timed-out ones is sent" "$(sqs "SELECT microtrigger.deliver()")" "1"
check "slow: next sent, once" "$(row_state next):$(copies next)" "sent:1:0:1"
check "slow: the timed-out ones queued again, outcome unknown recorded" \
    "$(row_state slow),$(row_state once)" "queued:1:1,queued:1:1"
check "slow: last_error says the outcome is unknown and it is retried once" \
    "$(q -c "SELECT last_error LIKE 'outcome unknown, retried once with the same Message-ID (the server may have accepted it): end of data: %' FROM microtrigger.outbox WHERE user_id = 'slow'")" "t"
wait_for 10 bash -c "[ \"\$(psql -X -qAt -d $DB -c \"SELECT bool_and(send_after <= clock_timestamp()) FROM microtrigger.outbox WHERE user_id IN ('slow', 'once')\")\" = t ]"
check "slow: on the retry the one that answers in time is sent" "$(sqs "SELECT microtrigger.deliver()")" "1"
check "slow: a second unknown outcome ends the row as failed" "$(row_state slow)" "failed:2:2"
check "slow: failed says why" \
    "$(q -c "SELECT last_error LIKE 'outcome unknown twice, not retried again (the server may have accepted it): end of data: %' FROM microtrigger.outbox WHERE user_id = 'slow'")" "t"
check "slow: once sent on its second attempt, and says a copy may be doubled" \
    "$(row_state once):$(q -c "SELECT last_error LIKE 'sent; an earlier attempt''s outcome was unknown%' FROM microtrigger.outbox WHERE user_id = 'once'")" "sent:2:1:t"
sleep 2.1
check "slow: a failed row is not tried again" "$(sqs "SELECT microtrigger.deliver()"):$(row_state slow)" "0:failed:2:2"
check "slow: the server got slow twice, once twice, next once" "$(copies slow) $(copies once) $(copies next)" "2 2 1"
check "slow: every copy carries its row's one Message-ID" \
    "$(for u in slow once; do grep -l "^To: $u@example.com" "$OUT"/*.eml | xargs grep -h '^Message-ID:' | tr -d '\r' | sort -u | wc -l; done | tr '\n' ' ')" "1 1 "
control '{}'
q -c "UPDATE microtrigger.outbox SET created_at = created_at - interval '31 days', sent_at = sent_at - interval '31 days' WHERE user_id IN ('slow', 'next')" >/dev/null
q -c "SELECT microtrigger.delivery_maintenance()" >/dev/null
check "slow: retention deletes failed rows like other finished ones" \
    "$(q -c "SELECT count(*) FROM microtrigger.outbox WHERE user_id IN ('slow', 'next')")" "0"

# --- 13. functions planted in a writable schema never run in delivery, whatever search_path ---
# A role with CREATE on public plants functions and an operator that beat or equal the built-ins
# (format(text, bigint, text, text) beats format(text, VARIADIC "any") on any search_path); the
# superuser runs deliver() and deliver_loop() with search_path = public, pg_catalog.
q >/dev/null <<'SQL'
CREATE ROLE mt_planter;
GRANT CREATE ON SCHEMA public TO mt_planter;
CREATE TABLE public.mt_planted (fn text, who text, superuser boolean);
GRANT INSERT ON public.mt_planted TO PUBLIC;
SET ROLE mt_planter;
CREATE FUNCTION public.mt_plant_log(fn text) RETURNS void LANGUAGE sql AS
  $$ INSERT INTO public.mt_planted SELECT fn, current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user $$;
CREATE FUNCTION public.format(text, bigint, text, text) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.mt_plant_log('format'); RETURN pg_catalog.format($1, $2, $3, $4); END $$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.mt_plant_log('lower'); RETURN pg_catalog.lower($1); END $$;
CREATE FUNCTION public.replace(text, text, text) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.mt_plant_log('replace'); RETURN pg_catalog.replace($1, $2, $3); END $$;
CREATE FUNCTION public.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.mt_plant_log('gen_random_uuid'); RETURN pg_catalog.gen_random_uuid(); END $$;
CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.mt_plant_log('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END $$;
CREATE FUNCTION public.mt_plus(integer, integer) RETURNS integer LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.mt_plant_log('operator +'); RETURN $1 OPERATOR(pg_catalog.+) $2; END $$;
CREATE OPERATOR public.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.mt_plus);
RESET ROLE;
SQL
control '{"rcpt": {"plantbad@example.com": "550 5.1.1 no such user"}, "data": {"plantretry@example.com": ["451 4.3.0 later"]}}'
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) VALUES
      ('p1', 'plant1@example.com', 'P1', 'x', now() - interval '2 seconds'),
      ('p2', 'plantbad@example.com', 'P2', 'x', now() - interval '1 second')" >/dev/null
# no secret yet: the claim makes one (unsubscribe.c), under the planted functions too
q -c "DELETE FROM microtrigger.delivery_secret" >/dev/null
sent_fn=$(q -c "SET search_path = public, pg_catalog" -c "SET microtrigger.retry_base_delay = 60" -c "SELECT microtrigger.deliver()")
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) VALUES
      ('p3', 'plantretry@example.com', 'P3', 'x', now() - interval '2 seconds'),
      ('p4', 'plant4@example.com', 'P4', 'x', now() - interval '1 second')" >/dev/null
q -c "SET search_path = public, pg_catalog" -c "SET microtrigger.retry_base_delay = 60" -c "CALL microtrigger.deliver_loop('1 second')" >/dev/null
check "planted: delivery worked (sent, bounced, retried) with search_path = public, pg_catalog" \
    "$sent_fn:$(q -c "SELECT string_agg(status, ',' ORDER BY user_id) FROM microtrigger.outbox WHERE user_id IN ('p1', 'p2', 'p3', 'p4')")" \
    "1:sent,dead,queued,sent"
check "planted: the unsubscribe secret was made anew" "$(q -c "SELECT count(*) FROM microtrigger.delivery_secret")" "1"
check "planted: no planted function or operator ever ran" \
    "$(q -c "SELECT coalesce(string_agg(DISTINCT fn || ' as ' || who || CASE WHEN superuser THEN ' (superuser)' ELSE '' END, ', '), 'none ran') FROM public.mt_planted")" \
    "none ran"
control '{}'
q -c "DROP OWNED BY mt_planter" -c "DROP ROLE mt_planter" -c "DROP TABLE public.mt_planted" >/dev/null

# --- 14. several SMTP connections (microtrigger.smtp_connections): every row sent exactly once --
q -c "UPDATE microtrigger.outbox SET status = 'cancelled' WHERE status = 'queued'" >/dev/null
before=$(received)
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after)
      SELECT 'm' || g, 'multi' || g || '@example.com', 'M' || g, 'x', now() FROM generate_series(1, 40) g" >/dev/null
check "connections: deliver(40) over 4 connections sends 40" \
    "$(q -c "SET microtrigger.smtp_connections = 4" -c "SELECT microtrigger.deliver(40)")" "40"
# the 40 arrived over more than one SMTP session (client address and port as the server saw them)
peers=$(tail -n 40 "$OUT/log.jsonl" | grep -o '"peer": \[[^]]*\]' | sort -u | wc -l)
check "connections: deliver(40) with smtp_connections = 4 used more than one connection" \
    "$([ "$peers" -ge 2 ] && echo yes || echo "no: $peers")" "yes"
q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after)
      SELECT 'n' || g, 'multi' || (40 + g) || '@example.com', 'N' || g, 'x', now() FROM generate_series(1, 30) g" >/dev/null
q -c "SET microtrigger.smtp_connections = 3" -c "CALL microtrigger.deliver_loop('0 seconds', 10)" >/dev/null
check "connections: deliver_loop with 3 connections, batches of 10, drains 30 in one round" \
    "$(q -c "SELECT count(*) FILTER (WHERE status = 'sent' AND attempts = 1) || '/' || count(*) FROM microtrigger.outbox WHERE user_id ~ '^[mn][0-9]'")" "70/70"
check "connections: the server got 70 messages, one per row, 70 distinct Message-IDs" \
    "$(( $(received) - before )):$(tail -n 70 "$OUT/log.jsonl" | grep -o '"rcpt": \["multi[0-9]*@' | sort -u | wc -l):$(q -c "SELECT count(DISTINCT message_id) FROM microtrigger.outbox WHERE user_id ~ '^[mn][0-9]'")" \
    "70:70:70"

echo "delivery: $passed passed, $failed failed"
