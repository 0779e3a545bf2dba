#!/usr/bin/env bash
# Delivery over STARTTLS with AUTH against aiosmtpd on 127.0.0.1 (a throwaway CA made here):
# the message arrives over TLS from the configured user; a wrong password or an unknown CA leaves
# the row queued for a retry with the reason, costs it no attempt and backs the whole delivery off
# until the settings change. Prints "delivery-tls: N passed, M failed".
set -u
cd "$MT_BUILD"
PY=/usr/bin/python3
DB=mt_delivery_tls
PORT=$((MT_PORT + 1100))
WORK=$(mktemp -d /tmp/mt-tls.XXXXXX)
chmod 755 "$WORK"
passed=0; failed=0; SERVER_PID=""
check() { if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok - $1"; else failed=$((failed + 1)); echo "FAIL - $1: got '$2', expected '$3'"; fi; }
q() { psql -X -qAt -d "$DB" -v ON_ERROR_STOP=1 "$@"; }
conf() { psql -X -q -d postgres -c "ALTER SYSTEM SET microtrigger.$1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null; sleep 0.5; }
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    for g in smtp_url smtp_username smtp_password smtp_ca_file; do
        psql -X -q -d postgres -c "ALTER SYSTEM RESET microtrigger.$g" >/dev/null 2>&1
    done
    psql -X -q -d postgres -c "SELECT pg_reload_conf()" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

# a private CA and a server certificate for 127.0.0.1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mt-test-ca" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$WORK/server.key" -out "$WORK/server.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' >"$WORK/san.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
    -days 2 -extfile "$WORK/san.ext" -out "$WORK/server.pem" >/dev/null 2>&1
chmod 644 "$WORK"/*.pem "$WORK"/*.key

"$PY" test/delivery/tls_server.py "$PORT" "$WORK" "$WORK/server.pem" "$WORK/server.key" mailer s3cret >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do [ -f "$WORK/ready" ] && break; sleep 0.1; done
check "the TLS server is up" "$([ -f "$WORK/ready" ] && echo yes)" "yes"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
q -c "CREATE EXTENSION microtrigger" >/dev/null
conf smtp_url "smtp://127.0.0.1:$PORT"
conf smtp_username mailer
conf smtp_password s3cret
add_row() { q -c "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after)
                  VALUES ('$1', '$1@example.com', 'Over TLS', 'hello', now() - interval '1 minute') RETURNING id"; }
status() { q -c "SELECT status FROM microtrigger.outbox WHERE id = $1"; }

# 1. the server's CA is unknown: verification fails, the row waits for a retry
id=$(add_row nocafile)
q -c "SELECT microtrigger.deliver()" >/dev/null 2>&1
check "unknown CA: not sent" "$(status "$id")" "queued"
check "unknown CA: the reason is recorded" \
    "$(q -c "SELECT last_error ~* 'certificate|SSL|TLS' FROM microtrigger.outbox WHERE id = $id")" "t"
check "unknown CA: no attempt counted; the delivery backs off with the reason" \
    "$(q -c "SELECT attempts FROM microtrigger.outbox WHERE id = $id"):$(q -c "SELECT failures || ':' || (retry_at > clock_timestamp()) || ':' || (last_error ~* 'certificate|SSL|TLS') FROM microtrigger.delivery_state")" \
    "0:1:true:true"
q -c "DELETE FROM microtrigger.outbox" >/dev/null

# 2. with the CA: STARTTLS, AUTH, delivered
conf smtp_ca_file "$WORK/ca.pem"
id=$(add_row tls)
check "deliver() sends over TLS" "$(q -c "SELECT microtrigger.deliver()")" "1"
check "the row is sent" "$(status "$id")" "sent"
check "new SMTP settings ended the backoff at once, and success cleared it" \
    "$(q -c "SELECT failures || ':' || (retry_at IS NULL) FROM microtrigger.delivery_state")" "0:true"
check "the server saw TLS and the user" \
    "$("$PY" -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(len(r), r[-1]['tls'], r[-1]['user'])" "$WORK/log.jsonl")" \
    "1 True mailer"

# 3. a wrong password: refused by the server, retried later, never sent
conf smtp_password wrong
id=$(add_row badauth)
q -c "SELECT microtrigger.deliver()" >/dev/null 2>&1
check "wrong password: not sent, queued again" "$(status "$id")" "queued"
check "wrong password: the reason is recorded" \
    "$(q -c "SELECT last_error ~* 'auth|535|login' FROM microtrigger.outbox WHERE id = $id")" "t"
check "wrong password: no attempt counted, the delivery backs off" \
    "$(q -c "SELECT attempts FROM microtrigger.outbox WHERE id = $id"):$(q -c "SELECT failures FROM microtrigger.delivery_state")" "0:1"
check "nothing more reached the server" "$(wc -l <"$WORK/log.jsonl")" "1"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
echo "delivery-tls: $passed passed, $failed failed"
