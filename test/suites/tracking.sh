#!/usr/bin/env bash
# Engagement tracking as a user meets it: a cluster of its own with the tracking server on
# (microtrigger.http_port), a trigger that mails a contact, delivery to a real SMTP server
# (aiosmtpd), the received message parsed, its links followed with curl and with headless
# Chromium, one-click unsubscribe POSTed as a mailbox provider does, forged tokens refused, the
# server restarted, and the events checked. Real time, bounded: every wait and request has a
# timeout. Prints "tracking: N passed, M failed".
set -u
cd "$MT_BUILD"
PY=/usr/bin/python3
HTTP_PORT=${MT_HTTP_PORT:-$((MT_PORT + 100))}
LANDING_PORT=$((HTTP_PORT + 1))
SMTP_PORT=$((HTTP_PORT + 2))
PG_PORT=$((MT_PORT + 200))     # socket only: the number names the socket file
WORK=$(mktemp -d /tmp/mt-tracking.XXXXXX)
chmod 755 "$WORK"
OUT="$WORK/smtp"; mkdir -p "$OUT" "$WORK/sock" "$WORK/landing"
BASE="http://127.0.0.1:$HTTP_PORT"
DB=mt_track
passed=0; failed=0
ok()    { passed=$((passed + 1)); echo "ok - $1"; }
nok()   { failed=$((failed + 1)); echo "FAIL - $1${2:+: $2}"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "got '$2', expected '$3'"; fi; }
q()     { psql -X -qAt -h "$WORK/sock" -p "$PG_PORT" -U postgres -d "$DB" -v ON_ERROR_STOP=1 "$@"; }
pg()    { mt_as_postgres "$MT_BIN/pg_ctl" -D "$WORK/data" "$@"; }
# http ARGS...: curl with timeouts, prints "status" (or "status location" with -L-less redirect)
http()  { curl -s -o "$WORK/body" -w '%{http_code}' --max-time 10 "$@"; }
wait_for() { local t=$1; shift; for _ in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done; return 1; }
events() { q -c "SELECT count(*) FROM microtrigger.events WHERE event_type LIKE 'email_%' AND event_type <> 'email_sent'"; }
. test/lib.sh
SMTP_PID=""; LANDING_PID=""
cleanup() {
    [ -n "$SMTP_PID" ] && kill "$SMTP_PID" 2>/dev/null
    [ -n "$LANDING_PID" ] && kill "$LANDING_PID" 2>/dev/null
    pg -m immediate stop >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- a cluster with the tracking server ----------------------------------------------------
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q chromium >/dev/null 2>&1
fi
[ "$(id -u)" = 0 ] && chown postgres: "$WORK" "$WORK/sock"
mt_as_postgres "$MT_BIN/initdb" -D "$WORK/data" -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null 2>&1
cat test/regress.conf >>"$WORK/data/postgresql.conf"
cat >>"$WORK/data/postgresql.conf" <<CONF
port = $PG_PORT
listen_addresses = ''
unix_socket_directories = '$WORK/sock'
cron.database_name = '$DB'
microtrigger.database = '$DB'
microtrigger.http_port = $HTTP_PORT
microtrigger.http_listen = '127.0.0.1'
microtrigger.tracking_url = '$BASE/'
microtrigger.unsubscribe_url = '$BASE/u/'
microtrigger.smtp_url = 'smtp://127.0.0.1:$SMTP_PORT/shop.test'
microtrigger.from_address = 'Shop <shop@shop.test>'
microtrigger.http_rate_limit = 0
CONF
pg -l "$WORK/server.log" -w -t 60 start >/dev/null || { cat "$WORK/server.log"; echo "tracking: 0 passed, 1 failed"; exit 1; }
psql -X -q -h "$WORK/sock" -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null
q -c "CREATE EXTENSION microtrigger CASCADE" >/dev/null 2>&1
check "healthz answers 200 once the server is up" \
    "$(wait_for 20 bash -c "curl -s -o /dev/null -w '%{http_code}' --max-time 2 $BASE/healthz | grep -q 200" && echo 200)" "200"

# the SMTP server and a landing site for the links
"$PY" test/delivery/smtp_server.py "$SMTP_PORT" "$OUT" >"$WORK/smtp.log" 2>&1 & SMTP_PID=$!
printf '<html><body><h1 id="landed">Pricing page</h1></body></html>' >"$WORK/landing/pricing.html"
(cd "$WORK/landing" && exec "$PY" -m http.server "$LANDING_PORT" --bind 127.0.0.1 >/dev/null 2>&1) & LANDING_PID=$!
wait_for 20 test -f "$OUT/ready" || nok "smtp server started"
wait_for 20 bash -c "curl -s -o /dev/null --max-time 1 http://127.0.0.1:$LANDING_PORT/pricing.html" || nok "landing site started"

# --- a trigger mails ana; delivery sends it ------------------------------------------------
LANDING="http://127.0.0.1:$LANDING_PORT/pricing.html?utm=mail&amp;plan=pro"
q >/dev/null <<SQL
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('ana', 'ana@example.com');
INSERT INTO microtrigger.templates (name, subject, html_body) VALUES ('pricing', 'Plans for you',
  '<html><body><p>Hi!</p><p><a href="$LANDING">See plans</a></p>
   <p><a href="mailto:help@shop.test">Mail us</a> <a href="#top">Top</a>
   <a data-mt-notrack href="https://shop.test/terms">Terms</a></p>
   <p><a href="{{unsubscribe_url}}">Unsubscribe</a></p></body></html>');
INSERT INTO microtrigger.triggers (name, definition) VALUES ('pricing_visit',
  '{"event": "page_view", "cooldown": 0, "actions": [{"send_email": {"template": "pricing"}}]}');
SQL
# the worker acts on the firing at once; run_pending does the same if it has not (keys: once)
q -c "SELECT microtrigger.track('ana', 'page_view', '{\"url\": \"/pricing\"}')" >/dev/null
q -c "SELECT microtrigger.run_pending()" >/dev/null
check "the trigger queued one email" "$(q -c "SELECT count(*) FROM microtrigger.outbox WHERE status = 'queued'")" "1"
check "deliver() sent it" "$(q -c "SELECT microtrigger.deliver()")" "1"
OUTBOX_ID=$(q -c "SELECT id FROM microtrigger.outbox WHERE user_id = 'ana'")
check "delivery recorded email_sent with the row's params" \
    "$(q -c "SELECT count(*) || ':' || bool_and(params->>'outbox_id' = '$OUTBOX_ID' AND params->>'trigger' = 'pricing_visit'
                    AND params ? 'sequence' AND params ? 'step' AND params ? 'variant' AND params ? 'experiment' AND params ? 'arm')
               FROM microtrigger.events WHERE event_type = 'email_sent'")" "1:true"

# --- the message as it arrived ---------------------------------------------------------------
EML=$(ls "$OUT"/*.eml 2>/dev/null | head -1)
"$PY" - "$EML" "$WORK" <<'PYEOF' >"$WORK/parsed.txt"
import email, email.policy, html.parser, sys, re
msg = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
html_part = msg.get_body(("html",)).get_content()
text_part = msg.get_body(("plain",)).get_content()
open(sys.argv[2] + "/mail.html", "w").write(html_part)
class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.links = []; self.imgs = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a": self.links.append(a.get("href", ""))
        if tag == "img": self.imgs.append(a.get("src", ""))
p = Links(); p.feed(html_part)
for i, l in enumerate(p.links): print("link%d %s" % (i + 1, l))
for s in p.imgs: print("img %s" % s)
print("list_unsubscribe %s" % re.sub(r"[<>\s]", "", str(msg["List-Unsubscribe"])).split(",")[0])
print("list_unsubscribe_post %s" % msg["List-Unsubscribe-Post"])
print("text_has_landing %s" % ("pricing.html?utm=mail&plan=pro" in text_part or "pricing.html" not in text_part))
PYEOF
get() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/parsed.txt"; }
CLICK=$(get link1); PIXEL=$(get img); UNSUB=$(get list_unsubscribe)
check "link 1 is a click link" "$(grep -cE "^$BASE/c/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/1$" <<<"$CLICK")" "1"
check "mailto:, #anchor and data-mt-notrack links left alone" "$(get link2) $(get link3) $(get link4)" \
    "mailto:help@shop.test #top https://shop.test/terms"
check "the unsubscribe link is not tracked" "$(grep -c "^$BASE/u/" <<<"$(get link5)")" "1"
check "an open pixel points at /o/" "$(grep -cE "^$BASE/o/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$" <<<"$PIXEL")" "1"
check "List-Unsubscribe is the server's one-click route" "$(grep -c "^$BASE/u/" <<<"$UNSUB")" "1"
check "List-Unsubscribe-Post is one-click" "$(get list_unsubscribe_post)" "List-Unsubscribe=One-Click"
check "the text part keeps no tracking URL" "$(grep -c "$BASE/c/" <<<"$(get text_has_landing)")" "0"

# --- following the links -------------------------------------------------------------------
check "click: 302" "$(http "$CLICK")" "302"
check "click: Location is the link's own URL (entities decoded)" \
    "$(curl -s -o /dev/null -w '%{redirect_url}' --max-time 10 "$CLICK")" "http://127.0.0.1:$LANDING_PORT/pricing.html?utm=mail&plan=pro"
check "click with curl -L reaches the landing page" "$(curl -sL --max-time 10 "$CLICK" | grep -c 'id="landed"')" "1"
check "open pixel: 200 image/gif" "$(curl -s -o "$WORK/pixel" -w '%{http_code} %{content_type}' --max-time 10 "$PIXEL")" "200 image/gif"
check "open pixel: a 43-byte GIF" "$(head -c 6 "$WORK/pixel")$(stat -c %s "$WORK/pixel")" "GIF89a43"
check "three clicks and one open recorded" \
    "$(q -c "SELECT string_agg(event_type || '=' || n, ',' ORDER BY event_type) FROM (SELECT event_type, count(*) n FROM microtrigger.events
             WHERE event_type IN ('email_click', 'email_open') GROUP BY 1) s")" "email_click=3,email_open=1"
check "click params: outbox_id, trigger, url" \
    "$(q -c "SELECT DISTINCT (params->>'outbox_id') || ' ' || (params->>'trigger') || ' ' || (params->>'url') || ' ' || (params ? 'arm')
               FROM microtrigger.events WHERE event_type = 'email_click'")" \
    "$OUTBOX_ID pricing_visit http://127.0.0.1:$LANDING_PORT/pricing.html?utm=mail&plan=pro true"

# --- headless Chromium, as a reader's browser ------------------------------------------------
if command -v chromium >/dev/null 2>&1; then
    before=$(q -c "SELECT count(*) FROM microtrigger.events WHERE event_type = 'email_click'")
    DOM=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$WORK/chrome" \
          --dump-dom "$CLICK" 2>/dev/null)
    check "chromium follows the click link to the landing page" "$(grep -c 'id="landed"' <<<"$DOM")" "1"
    check "chromium's click recorded" "$(q -c "SELECT count(*) - $before FROM microtrigger.events WHERE event_type = 'email_click'")" "1"
    before=$(q -c "SELECT count(*) FROM microtrigger.events WHERE event_type = 'email_open'")
    chmod 644 "$WORK/mail.html"
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$WORK/chrome" \
        --virtual-time-budget=3000 --dump-dom "file://$WORK/mail.html" >/dev/null 2>&1
    check "chromium showing the email loads the pixel: email_open" \
        "$(q -c "SELECT count(*) - $before FROM microtrigger.events WHERE event_type = 'email_open'")" "1"
else
    nok "chromium is installed" "chromium not found"
fi

# --- forged and altered tokens: 404, nothing recorded ----------------------------------------
n0=$(events)
TOKEN=${CLICK#$BASE/c/}; TOKEN=${TOKEN%/1}
PAYLOAD=${TOKEN%%.*}; MAC=${TOKEN#*.}
FLIP=$( [ "${MAC:0:1}" = A ] && echo B || echo A )${MAC:1}
OTHER=$(printf '%s' "999:ana" | base64 | tr '+/' '-_' | tr -d '=')
check "altered MAC: 404" "$(http "$BASE/c/$PAYLOAD.$FLIP/1")" "404"
check "another row's id with this MAC: 404" "$(http "$BASE/c/$OTHER.$MAC/1")" "404"
check "link 1's token for link 2: 404" "$(http "$BASE/c/$TOKEN/2")" "404"
check "click token as an open token: 404" "$(http "$BASE/o/$TOKEN")" "404"
check "garbage token: 404" "$(http "$BASE/o/not-a-token")" "404"
check "forged one-click POST: 404" "$(http -X POST -d 'List-Unsubscribe=One-Click' "$BASE/u/$PAYLOAD.$FLIP")" "404"
check "unknown route: 404" "$(http "$BASE/x")" "404"
check "forged tokens recorded nothing" "$(events)" "$n0"
check "record_click() refuses a forged token with 22023" \
    "$(q -c "SELECT microtrigger.record_click('$PAYLOAD.$FLIP', 1)" 2>&1 | grep -c 'invalid tracking token')" "1"

# --- the SQL functions, for sites serving tracking themselves ---------------------------------
check "record_click() returns the URL" "$(q -c "SELECT microtrigger.record_click('$TOKEN', 1)")" \
    "http://127.0.0.1:$LANDING_PORT/pricing.html?utm=mail&plan=pro"
check "record_open() records email_open" \
    "$(q -c "SELECT microtrigger.record_open('${PIXEL#$BASE/o/}')" >/dev/null; q -c "SELECT count(*) FROM microtrigger.events WHERE event_type = 'email_open'")" "3"

# --- limits -----------------------------------------------------------------------------------
check "a body over 4 kB: 413" "$(head -c 10000 /dev/zero | tr '\0' a | http -X POST --data-binary @- "$BASE/u/$TOKEN")" "413"
check "headers over the request memory: refused" \
    "$(http -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$BASE/healthz" | grep -cE '^(431|413|400|000)$')" "1"

# --- report placeholder -----------------------------------------------------------------------
check "report without report_token: 404" "$(http "$BASE/report")" "404"
psql -X -q -h "$WORK/sock" -p "$PG_PORT" -U postgres -d postgres \
    -c "ALTER SYSTEM SET microtrigger.report_token = 's3cret'" -c "ALTER SYSTEM SET microtrigger.http_rate_limit = 5" \
    -c "SELECT pg_reload_conf()" >/dev/null
wait_for 10 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 $BASE/report) = 401 ]"
check "report without the token: 401" "$(http "$BASE/report")" "401"
check "report with the Bearer token: 200" "$(http -H 'Authorization: Bearer s3cret' "$BASE/report")" "200"
check "report with ?token=: 200" "$(http "$BASE/report?token=s3cret")" "200"
check "report with a wrong token: 401" "$(http "$BASE/report?token=s3cre")" "401"
codes=$(for i in $(seq 30); do http "$BASE/healthz"; echo; done | sort | uniq -c | awk '{print $2}' | tr '\n' ' ')
check "rate limit 5/s: a burst of 30 gets 429s" "$(grep -c 429 <<<"$codes")" "1"
psql -X -q -h "$WORK/sock" -p "$PG_PORT" -U postgres -d postgres -c "ALTER SYSTEM SET microtrigger.http_rate_limit = 0" \
    -c "SELECT pg_reload_conf()" >/dev/null
wait_for 10 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 $BASE/healthz) = 200 ]"

# --- a restart of the server loses no answered hit --------------------------------------------
PID=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'microtrigger http'")
answered=0
for i in $(seq 20); do [ "$(http "$CLICK")" = 302 ] && answered=$((answered + 1)); done
clicks=$(q -c "SELECT count(*) FROM microtrigger.events WHERE event_type = 'email_click'")
q -c "SELECT pg_terminate_backend($PID)" >/dev/null
wait_for 20 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 $BASE/healthz) = 200 ]"
check "the server came back under a new process" \
    "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'microtrigger http' AND pid <> $PID")" "1"
check "every click answered before the restart is recorded" \
    "$(q -c "SELECT count(*) FROM microtrigger.events WHERE event_type = 'email_click'")" "$clicks"
check "20 clicks answered" "$answered" "20"

# --- one-click unsubscribe, as a mailbox provider POSTs it (RFC 8058) --------------------------
check "GET of the unsubscribe page: 200, unsubscribes nobody" \
    "$(http "$UNSUB")$(q -c "SELECT unsubscribed_at IS NULL FROM microtrigger.contacts WHERE user_id = 'ana'")" "200t"
check "one-click POST: 200" \
    "$(http -X POST -H 'Content-Type: application/x-www-form-urlencoded' -d 'List-Unsubscribe=One-Click' "$UNSUB")" "200"
check "the contact is unsubscribed" "$(q -c "SELECT unsubscribed_at IS NOT NULL FROM microtrigger.contacts WHERE user_id = 'ana'")" "t"
check "email_unsubscribe recorded once" "$(q -c "SELECT count(*) FROM microtrigger.events WHERE event_type = 'email_unsubscribe'")" "1"

echo "tracking: $passed passed, $failed failed"
