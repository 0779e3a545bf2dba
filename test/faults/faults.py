#!/usr/bin/python3
"""The kill -9 fault suite (issue 9, "Done when"): on a private cluster with restart_after_crash,
kills -9 (at seeded random moments, while each victim has work in flight)

  worker         the microtrigger background worker, mid-batch, while it acts on a backlog;
  sessions       backends running SELECT microtrigger.run_pending(now()), mid-run (no worker);
  deliver        a backend running CALL microtrigger.deliver_loop(), mid-batch, while it sends to
                 a real SMTP server (counting_smtp.py) that records every Message-ID it receives;
  deliver_async  the same, the delivering session having synchronous_commit = off;
  batch          one batch, max_attempts times, while its first message waits at RCPT TO;

then lets the system recover and settle, and checks that nothing was lost and that nothing was
doubled but, for delivery, the one message in flight at each kill. See docs/faults.md.

Prints one "ok - ..." / "FAIL - ..." line per check and ends with "faults: N passed, M failed".
Environment: MT_BIN (PostgreSQL binaries with microtrigger installed), MT_TMP (scratch space),
MT_PORT (the private cluster listens on MT_PORT + 1, unix socket only; its SMTP server on
127.0.0.1:MT_PORT + 100, or MT_FAULT_SMTP_PORT), MT_FAULT_SEED (replays a run's random timing),
MT_FAULT_KILLS (kills per scenario, default 20), MT_FAULT_BUDGET (seconds of kill rounds per
scenario, default 75), MT_FAULT_SCENARIOS (comma-separated, default all, in the order above),
MT_FAULT_EXTRA_CONF (lines added to postgresql.conf, for experiments), MT_FAULT_SABOTAGE=1
(corrupts the settled state before the checks, to show that they can fail: then every check must
FAIL but the kill counts, the worker's settling and batch's kill count; MT_FAULT_KILLS=1000
MT_FAULT_BUDGET=5 fails the kill counts).
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ["MT_BIN"]
PORT = int(os.environ.get("MT_PORT", "54329")) + 1
SMTP_PORT = int(os.environ.get("MT_FAULT_SMTP_PORT", str(int(os.environ.get("MT_PORT", "54329")) + 100)))
KILLS = int(os.environ.get("MT_FAULT_KILLS", "20"))
SCENARIOS = os.environ.get("MT_FAULT_SCENARIOS", "worker,sessions,deliver,deliver_async,batch").split(",")
SABOTAGE = os.environ.get("MT_FAULT_SABOTAGE") == "1"
SEED = int(os.environ.get("MT_FAULT_SEED") or random.SystemRandom().randrange(1, 10 ** 9))
AS_ROOT = os.getuid() == 0
USERS = 2000                    # contacts u1..u2000; the first load is one event each
KILL_LOOP_BUDGET = float(os.environ.get("MT_FAULT_BUDGET", "75"))  # seconds of kill rounds per scenario
SETTLE_BUDGET = 90.0            # seconds to settle after the last kill, at most

passed = 0
failed = 0
details = []                    # per-kill lines, printed when a check fails


def ok(name):
    """One passing check."""
    global passed
    passed += 1
    print("ok - " + name, flush=True)


def nok(name, why):
    """One failing check, with what was seen."""
    global failed
    failed += 1
    print("FAIL - %s: %s" % (name, why), flush=True)


def check(name, actual, expected):
    """A check of one value."""
    if actual == expected:
        ok(name)
    else:
        nok(name, "got %r, expected %r" % (actual, expected))


def check_true(name, condition, why):
    """A check of a condition; why says what was seen."""
    if condition:
        ok(name)
    else:
        nok(name, why)


def note(line):
    """A comment line of the report."""
    print("# " + line, flush=True)


def wait_until(predicate, timeout, interval=0.05):
    """Polls predicate until it is true or timeout seconds have passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Cluster:
    """A private PostgreSQL cluster (run as the postgres OS user) in a directory of its own."""

    READY = "database system is ready to accept connections"

    def __init__(self, base):
        self.base = base
        self.data = os.path.join(base, "data")
        self.sock = os.path.join(base, "sock")
        self.log = os.path.join(base, "server.log")
        os.makedirs(self.sock)
        if AS_ROOT:
            shutil.chown(base, "postgres")
            shutil.chown(self.sock, "postgres")

    def run_as_postgres(self, args, **kw):
        """Runs a server program as postgres (PostgreSQL refuses root)."""
        if AS_ROOT:
            kw["user"] = "postgres"
            kw["group"] = "postgres"
        return subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)

    def init(self, conf):
        """initdb, the suite's settings, start."""
        self.run_as_postgres([BIN + "/initdb", "-D", self.data, "-U", "postgres", "--no-sync", "-E", "UTF8",
                              "--locale=C.UTF-8", "-A", "trust"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(conf)
        self.run_as_postgres([BIN + "/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start"])

    def stop(self):
        """Stops the cluster at once (teardown)."""
        try:
            self.run_as_postgres([BIN + "/pg_ctl", "-D", self.data, "-m", "immediate", "stop"])
        except (subprocess.CalledProcessError, OSError):
            pass

    def log_text(self):
        """The server log so far."""
        with open(self.log, errors="replace") as f:
            return f.read()

    def ready_count(self):
        """How many times the cluster has become ready (start + each crash restart)."""
        return self.log_text().count(self.READY)

    def psql_args(self, db):
        """The psql command line for db."""
        return [BIN + "/psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", self.sock, "-p", str(PORT),
                "-U", "postgres", "-d", db]

    def q(self, db, *sql, timeout=120):
        """Runs SQL statements in one session; returns stdout stripped (raises on error)."""
        args = self.psql_args(db)
        for s in sql:
            args += ["-c", s]
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("psql failed (%d) on %r: %s" % (r.returncode, sql, r.stderr.strip()))
        return r.stdout.strip()

    def try_q(self, db, sql):
        """Like q, but None when the server does not answer (crash recovery in progress)."""
        try:
            return self.q(db, sql, timeout=30)
        except (RuntimeError, subprocess.TimeoutExpired):
            return None

    def session(self, db, sql, appname, options=""):
        """A background psql session running sql, named appname in pg_stat_activity, with
        options (PGOPTIONS, e.g. "-c synchronous_commit=off") for its backend."""
        env = dict(os.environ, PGAPPNAME=appname, PGOPTIONS=options)
        return subprocess.Popen(self.psql_args(db) + ["-c", sql], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def kill9(self, pid):
        """kill -9 of a server process; waits for the crash restart. Returns its seconds, or None
        when no crash followed (the process had already ended normally)."""
        ready_before = self.ready_count()
        started = time.monotonic()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        marker = "(PID %d) was terminated by signal 9" % pid
        if not wait_until(lambda: marker in self.log_text(), 10, 0.02):
            return None
        if not wait_until(lambda: self.ready_count() > ready_before, 120, 0.05):
            raise RuntimeError("the cluster did not recover from the kill of %d" % pid)
        if wait_until(lambda: self.try_q("postgres", "SELECT 1") == "1", 60, 0.05) is not True:
            raise RuntimeError("the cluster accepts no connection after the kill of %d" % pid)
        return time.monotonic() - started


# --- the engine scenarios (worker, sessions) ------------------------------------------------

ENGINE_SETUP = [
    "CREATE EXTENSION IF NOT EXISTS microtrigger",
    "INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('fault_hi', 'Hi {{user_id}}', 'Hello {{user_id}}')",
    "INSERT INTO microtrigger.contacts (user_id, email) SELECT 'u' || i, 'u' || i || '@example.com' "
    "FROM generate_series(1, %d) i" % USERS,
    # f_each: one email per event, each firing ~2 ms slower (its context query) so batches take
    # long enough to be hit mid-way; f_once: the default one-day cooldown, one email per user
    # (both transactional: two triggers mailing on one event are one signal, allowed only then)
    """INSERT INTO microtrigger.triggers (name, definition) VALUES
     ('f_each', '{"event": "ping", "cooldown": 0, "transactional": true,
                  "context": "SELECT 1 AS slow FROM pg_catalog.pg_sleep(0.002) WHERE $1 IS NOT NULL",
                  "actions": [{"send_email": {"template": "fault_hi"}}]}'),
     ('f_once', '{"event": "ping", "transactional": true, "actions": [{"send_email": {"template": "fault_hi"}}]}')""",
]


def insert_events(cluster, db, rng, n):
    """n ping events for users chosen by rng (a user may get several)."""
    users = ",".join(str(rng.randint(1, USERS)) for _ in range(n))
    cluster.q(db, "INSERT INTO microtrigger.events (user_id, event_type) "
                  "SELECT 'u' || x, 'ping' FROM unnest('{%s}'::int[]) x" % users)


def engine_checks(cluster, db, label):
    """The invariants after a settled run: every event fired each trigger once, every firing was
    acted on exactly once, with one decision that agrees with it and the emails it implies."""
    def one(sql):
        return cluster.q(db, sql)

    events = int(one("SELECT count(*) FROM microtrigger.events"))
    users = int(one("SELECT count(DISTINCT user_id) FROM microtrigger.events"))
    note("%s: %d events of %d users" % (label, events, users))
    check("%s: no firing left waiting" % label,
          one("SELECT count(*) FROM microtrigger.firings WHERE state <> 'done'"), "0")
    # f_once's cooldown is also checked at ingest (no firing while one is pending or queued),
    # so it has between one firing per user and one per event
    once = int(one("SELECT count(*) FROM microtrigger.firings WHERE trigger_name = 'f_once'"))
    check("%s: each event fired f_each once (firings = events)" % label,
          one("SELECT count(*) || ':' || count(DISTINCT source_event_id) FROM microtrigger.firings "
              "WHERE trigger_name = 'f_each'"), "%d:%d" % (events, events))
    check_true("%s: f_once fired once per user at least, once per event at most" % label,
               users <= once <= events, "%d firings for %d users and %d events" % (once, users, events))
    check("%s: every firing has exactly one decision" % label,
          one("SELECT count(*) FROM microtrigger.firings f WHERE (SELECT count(*) FROM microtrigger.decisions d "
              "WHERE d.trigger_name = f.trigger_name AND d.source_event_id = f.source_event_id) <> 1"), "0")
    check("%s: no decision without its firing" % label,
          one("SELECT count(*) FROM microtrigger.decisions d WHERE NOT EXISTS (SELECT 1 FROM microtrigger.firings f "
              "WHERE f.trigger_name = d.trigger_name AND f.source_event_id = d.source_event_id)"), "0")
    check("%s: each decision's outcome is its firing's" % label,
          one("SELECT count(*) FROM microtrigger.decisions d JOIN microtrigger.firings f "
              "ON f.trigger_name = d.trigger_name AND f.source_event_id = d.source_event_id "
              "WHERE d.outcome IS DISTINCT FROM f.outcome"), "0")
    check("%s: outcomes: f_each queued for every event, f_once queued once per user, else cooldown" % label,
          one("SELECT string_agg(trigger_name || ':' || outcome || '=' || n, ',' ORDER BY trigger_name, outcome) FROM "
              "(SELECT trigger_name, outcome, count(*) n FROM microtrigger.firings GROUP BY 1, 2) f"),
          ",".join(x for x in ["f_each:queued=%d" % events,
                               "f_once:cooldown=%d" % (once - users) if once > users else None,
                               "f_once:queued=%d" % users] if x))
    check("%s: one outbox row per (trigger, event), none twice" % label,
          one("SELECT count(*) || ':' || count(DISTINCT (trigger_name, source_event_id)) FROM microtrigger.outbox"),
          "%d:%d" % (events + users, events + users))
    check("%s: outbox rows are exactly the queued firings" % label,
          one("SELECT (SELECT count(*) FROM microtrigger.firings f WHERE f.outcome = 'queued' AND NOT EXISTS "
              "(SELECT 1 FROM microtrigger.outbox o WHERE o.trigger_name = f.trigger_name AND o.source_event_id = f.source_event_id))"
              " + (SELECT count(*) FROM microtrigger.outbox o WHERE NOT EXISTS (SELECT 1 FROM microtrigger.firings f "
              "WHERE f.outcome = 'queued' AND o.trigger_name = f.trigger_name AND o.source_event_id = f.source_event_id))"), "0")
    check("%s: f_once mailed each user once despite the kills" % label,
          one("SELECT count(*) FROM (SELECT user_id FROM microtrigger.outbox WHERE trigger_name = 'f_once' "
              "GROUP BY 1 HAVING count(*) <> 1) x"), "0")


def sabotage_engine(cluster, db):
    """Breaks each engine invariant once (MT_FAULT_SABOTAGE=1)."""
    cluster.q(db,
              # a firing decided twice, another decided differently from its row
              "INSERT INTO microtrigger.decisions (at, user_id, trigger_name, outcome, source_event_id) "
              "SELECT now(), user_id, trigger_name, outcome, source_event_id FROM microtrigger.firings "
              "WHERE trigger_name = 'f_each' ORDER BY id LIMIT 1",
              "UPDATE microtrigger.decisions SET outcome = 'cooldown' WHERE id = (SELECT max(id) FROM microtrigger.decisions "
              "WHERE trigger_name = 'f_each' AND outcome = 'queued')",
              # an email lost, one doubled twice for f_once, a decision without its firing
              "DELETE FROM microtrigger.outbox WHERE id = (SELECT min(id) FROM microtrigger.outbox WHERE trigger_name = 'f_each')",
              "INSERT INTO microtrigger.outbox (user_id, to_address, subject, trigger_name, source_event_id, send_after) "
              "SELECT user_id, to_address, subject, trigger_name, -g, send_after FROM microtrigger.outbox, generate_series(1, 2) g "
              "WHERE id = (SELECT min(id) FROM microtrigger.outbox WHERE trigger_name = 'f_once')",
              "INSERT INTO microtrigger.decisions (at, user_id, trigger_name, outcome, source_event_id) "
              "VALUES (now(), 'u1', 'f_each', 'queued', -1)",
              # a firing left waiting, a firing missing, an outcome changed
              "UPDATE microtrigger.firings SET state = 'waiting', due_at = 'infinity' "
              "WHERE id = (SELECT max(id) FROM microtrigger.firings WHERE trigger_name = 'f_once')",
              "DELETE FROM microtrigger.firings WHERE id = (SELECT max(id) FROM microtrigger.firings WHERE trigger_name = 'f_each')",
              # f_once fired for fewer users than had events
              "DELETE FROM microtrigger.firings WHERE trigger_name = 'f_once' AND user_id = "
              "(SELECT user_id FROM microtrigger.firings WHERE trigger_name = 'f_once' GROUP BY 1 HAVING count(*) = 1 LIMIT 1)")
    sabotage_crash(cluster)


def sabotage_crash(cluster):
    """A crash restart the kill count does not know of (MT_FAULT_SABOTAGE=1)."""
    session = cluster.session("postgres", "SELECT pg_catalog.pg_sleep(60)", "mt_fault_sabotage")
    pid = wait_until(lambda: cluster.try_q("postgres", "SELECT pid FROM pg_stat_activity "
                                                       "WHERE application_name = 'mt_fault_sabotage'"), 20, 0.01)
    cluster.kill9(int(pid))
    session.wait(timeout=60)


def kill_summary(label, kills, mid):
    """One comment line about a scenario's kills."""
    if not kills:
        note("%s: no kill" % label)
        return
    waits = [k["after"] for k in kills]
    recov = [k["recovery"] for k in kills]
    note("%s: %d kills (%d with work in flight), %.2f-%.2f s into the work, crash restart %.1f-%.1f s"
         % (label, len(kills), mid, min(waits), max(waits), min(recov), max(recov)))


def engine_kill_checks(cluster, label, kills, mid, restarts_before):
    """The kills really happened: enough of them mid-transaction, each a crash restart."""
    kill_summary(label, kills, mid)
    check_true("%s: at least %d kills -9 landed mid-transaction" % (label, KILLS), mid >= KILLS,
               "only %d of %d kills" % (mid, len(kills)))
    check("%s: every kill was a crash restart of the cluster" % label,
          cluster.ready_count() - restarts_before, len(kills))


def scenario_worker(cluster, rng):
    """kill -9 of the microtrigger worker mid-batch while it drains a backlog of events."""
    label, db = "worker", "postgres"            # microtrigger.database
    cluster.q(db, *ENGINE_SETUP)
    restarts_before = cluster.ready_count()
    cluster.q(db, "INSERT INTO microtrigger.events (user_id, event_type) SELECT 'u' || i, 'ping' "
                  "FROM generate_series(1, %d) i" % USERS)
    busy = ("SELECT pid FROM pg_stat_activity WHERE backend_type = 'microtrigger worker' "
            "AND backend_xid IS NOT NULL LIMIT 1")
    kills, mid, fed = [], 0, set()
    deadline = time.monotonic() + KILL_LOOP_BUDGET
    while mid < KILLS and time.monotonic() < deadline:
        waiting = int(cluster.q(db, "SELECT count(*) FROM microtrigger.firings WHERE state = 'waiting'"))
        if waiting < 150:
            insert_events(cluster, db, rng, 300)        # more work: a kill needs a batch to hit
        elif len(kills) % 5 == 4 and len(kills) not in fed:
            fed.add(len(kills))                         # events of users who have some already,
            insert_events(cluster, db, rng, 100)        # ingested between crashes
        if not wait_until(lambda: cluster.try_q(db, busy), 20, 0.01):
            details.append("%s: the worker never got busy" % label)
            continue
        delay = rng.uniform(0.0, 0.3)
        time.sleep(delay)
        pid = cluster.try_q(db, busy)
        if not pid:
            continue                                    # between two batches: try again
        recovery = cluster.kill9(int(pid))
        if recovery is None:
            continue
        mid += 1
        kills.append({"after": delay, "recovery": recovery})
        details.append("%s kill %d: pid %s, %.3f s after busy, restart %.2f s" % (label, len(kills), pid, delay, recovery))
        wait_until(lambda: cluster.try_q(db, "SELECT count(*) FROM pg_stat_activity "
                                             "WHERE backend_type = 'microtrigger worker'") == "1", 30)
    settled = wait_until(lambda: cluster.try_q(db, "SELECT count(*) FROM microtrigger.firings WHERE state = 'waiting'") == "0",
                         SETTLE_BUDGET, 0.2)
    check_true("%s: the restarted worker settles the backlog by itself" % label, settled,
               "firings still waiting after %d s" % SETTLE_BUDGET)
    if SABOTAGE:
        sabotage_engine(cluster, db)
    engine_kill_checks(cluster, label, kills, mid, restarts_before)
    engine_checks(cluster, db, label)


def scenario_sessions(cluster, rng):
    """kill -9 of backends running run_pending(now()) mid-run (no worker serves this database)."""
    label, db = "sessions", "mt_fault_sessions"
    cluster.q("postgres", "CREATE DATABASE " + db)
    cluster.q(db, *ENGINE_SETUP)
    restarts_before = cluster.ready_count()
    run = "SELECT microtrigger.run_pending(now())"
    busy = ("SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'mt_fault_rp' "
            "AND state = 'active' AND backend_xid IS NOT NULL")
    kills, mid, completed, rounds = [], 0, 0, 0
    deadline = time.monotonic() + KILL_LOOP_BUDGET
    while mid < KILLS and time.monotonic() < deadline:
        rounds += 1
        insert_events(cluster, db, rng, rng.randint(50, 150))
        sessions = [cluster.session(db, run, "mt_fault_rp") for _ in range(2)]
        if rounds % 4 == 0:
            # every fourth round is not killed: its runs commit, so kills hit a mix of fresh
            # work and work that earlier killed runs left waiting
            for s in sessions:
                s.wait(timeout=300)
            completed += 1
            continue
        pids = wait_until(lambda: cluster.try_q(db, busy), 20, 0.01)
        delay = rng.uniform(0.0, 0.4)
        time.sleep(delay)
        pids = cluster.try_q(db, busy) if pids else None
        recovery = cluster.kill9(int(rng.choice(pids.split()))) if pids else None
        for s in sessions:
            s.wait(timeout=300)
        if recovery is None:
            completed += 1
            continue
        mid += 1
        kills.append({"after": delay, "recovery": recovery})
        details.append("%s kill %d: round %d, %.3f s after busy, restart %.2f s" % (label, len(kills), rounds, delay, recovery))
    note("%s: %d rounds, %d of them ran to the end" % (label, rounds, completed))
    cluster.q(db, run, timeout=600)                     # the final run, not killed
    if SABOTAGE:
        sabotage_engine(cluster, db)
    engine_kill_checks(cluster, label, kills, mid, restarts_before)
    engine_checks(cluster, db, label)


# --- delivery ---------------------------------------------------------------------------------

def server_ids(outdir):
    """The Message-IDs the server has received so far, in order (one per message)."""
    try:
        with open(os.path.join(outdir, "ids.log")) as f:
            return f.read().split()
    except OSError:
        return []


def queue_rows(cluster, db, n):
    """n more due outbox rows."""
    cluster.q(db, "INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after) "
                  "SELECT 'd' || g, 'd' || g || '@example.com', 'Fault ' || g, 'Hello ' || g, now() "
                  "FROM generate_series(coalesce((SELECT max(id) FROM microtrigger.outbox), 0) + 1, "
                  "coalesce((SELECT max(id) FROM microtrigger.outbox), 0) + %d) g" % n)


def scenario_deliver(cluster, rng, outdir, label="deliver", options=""):
    """kill -9 of CALL deliver_loop() mid-batch while it sends; then recovery and a final drain.
    options are the killed sessions' PGOPTIONS."""
    db = "mt_fault_" + label
    cluster.q("postgres", "CREATE DATABASE " + db)
    cluster.q(db, "CREATE EXTENSION IF NOT EXISTS microtrigger")
    restarts_before = cluster.ready_count()
    base = len(server_ids(outdir))                  # what earlier scenarios sent is not ours
    queue_rows(cluster, db, 400)
    # each DATA reply waits 20 ms after the server has stored the message: a kill then often
    # lands between the server's acceptance and the sender's record, the duplicate window
    with open(os.path.join(outdir, "control.json"), "w") as f:
        f.write('{"stall_data": 0.02}')
    loop = "CALL microtrigger.deliver_loop('60 seconds', 20)"
    kills, mid, lives = [], 0, []
    deadline = time.monotonic() + KILL_LOOP_BUDGET
    while mid < KILLS and time.monotonic() < deadline:
        if int(cluster.q(db, "SELECT count(*) FROM microtrigger.outbox WHERE status = 'queued'")) < 60:
            queue_rows(cluster, db, 200)
        life_start = cluster.q(db, "SELECT clock_timestamp()")
        first = len(server_ids(outdir))
        session = cluster.session(db, loop, "mt_fault_dl", options)
        pid = wait_until(lambda: cluster.try_q(db, "SELECT pid FROM pg_stat_activity WHERE application_name = 'mt_fault_dl'"),
                         20, 0.01)
        target = rng.randint(1, 30)                     # messages the server receives before the kill
        started = time.monotonic()
        if not pid or not wait_until(lambda: len(server_ids(outdir)) - first >= target, 20, 0.002):
            details.append("%s: the loop sent fewer than %d messages in 20 s" % (label, target))
            session.terminate()
            session.wait()
            continue
        jitter = rng.uniform(0.0, 0.03)
        time.sleep(jitter)
        killed_at = time.monotonic()
        recovery = cluster.kill9(int(pid))
        session.wait(timeout=60)
        if recovery is None:
            details.append("%s: the loop had ended before its kill" % label)
            continue
        # rows this life claimed and never recorded: it died mid-batch
        left = int(cluster.q(db, "SELECT count(*) FROM microtrigger.outbox WHERE status = 'sending' "
                                 "AND claimed_at >= '%s'" % life_start))
        lives.append((first - base, len(server_ids(outdir)) - base))
        mid += 1 if left > 0 else 0
        kills.append({"after": killed_at - started, "recovery": recovery})
        details.append("%s kill %d: after %d messages + %.3f s, %d rows left sending, restart %.2f s"
                       % (label, len(kills), target, jitter, left, recovery))
    kill_summary(label, kills, mid)
    check_true("%s: at least %d kills -9 landed mid-batch (claimed rows left sending)" % (label, KILLS),
               mid >= KILLS, "only %d of %d kills" % (mid, len(kills)))

    # recovery (sending_timeout) and retries (backoff) happen in the final, unkilled drain
    with open(os.path.join(outdir, "control.json"), "w") as f:
        f.write("{}")
    drain_start = time.monotonic()
    unsettled = "SELECT count(*) FROM microtrigger.outbox WHERE status IN ('queued', 'sending')"
    while time.monotonic() - drain_start < SETTLE_BUDGET and cluster.q(db, unsettled) != "0":
        cluster.q(db, "CALL microtrigger.deliver_loop('3 seconds', 20)")
    note("%s: final drain took %.1f s" % (label, time.monotonic() - drain_start))

    if SABOTAGE:
        cluster.q(db, "UPDATE microtrigger.outbox SET status = 'dead' WHERE id = (SELECT max(id) FROM microtrigger.outbox)",
                  "UPDATE microtrigger.outbox SET message_id = '<lost@faults.example>' WHERE id = 1")
        with open(os.path.join(outdir, "ids.log"), "a") as f:
            f.write("<stray@faults.example>\n")
            f.write((server_ids(outdir)[base] + "\n" + server_ids(outdir)[base + 1] + "\n") * len(kills))
        sabotage_crash(cluster)
    check("%s: every kill was a crash restart of the cluster" % label, cluster.ready_count() - restarts_before, len(kills))

    rows = [line.split("|") for line in
            cluster.q(db, "SELECT id, status, coalesce(message_id, ''), attempts, coalesce(last_error, '') "
                          "FROM microtrigger.outbox").splitlines()]
    ids = server_ids(outdir)[base:]
    row_ids = {r[2] for r in rows}
    seen = {}
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
    statuses = {}
    for r in rows:
        statuses[r[1]] = statuses.get(r[1], 0) + 1
    note("%s: %d outbox rows %s; the server received %d messages, %d distinct; most attempts of a row: %d"
         % (label, len(rows), statuses, len(ids), len(seen), max(int(r[3]) for r in rows)))
    charged = sum(1 for r in rows if int(r[3]) > seen.get(r[2], 0) + 1)
    note("%s: %d rows had more attempts than copies received + 1 (claimed by killed batches that never tried them)"
         % (label, charged))
    check("%s: every outbox row ends sent" % label, statuses.get("sent", 0), len(rows))
    dead = [r for r in rows if r[1] == "dead"]
    check_true("%s: no row dead" % label, not dead,
               "; ".join("row %s dead after %s attempts, %d copies received (%s)" % (r[0], r[3], seen.get(r[2], 0), r[4])
                         for r in dead[:5]))
    missing = [r[0] for r in rows if r[2] not in seen]
    check_true("%s: the server saw every row's Message-ID at least once" % label, not missing,
               "%d rows never reached the server (ids %s)" % (len(missing), missing[:10]))
    stray = [i for i in seen if i not in row_ids]
    check_true("%s: the server received no message that is not an outbox row's" % label, not stray,
               "unknown Message-IDs %s" % stray[:5])
    duplicates = len(ids) - len(seen)
    check_true("%s: duplicates (%d) at most the number of kills (%d)" % (label, duplicates, len(kills)),
               duplicates <= len(kills), "%d duplicates for %d kills" % (duplicates, len(kills)))
    # a message a killed life sent and a later life sent again was in flight at that kill
    worst = []
    for n, (first, last) in enumerate(lives):
        own = ids[first:last]
        later = set(ids[last:])
        again = {i for i in own if i in later}
        if len(again) > 1 or len(own) != len(set(own)):
            worst.append("kill %d: %d sent again, %d twice in the same run" % (n + 1, len(again), len(own) - len(set(own))))
    check_true("%s: each kill duplicated at most the one message in flight" % label, not worst, "; ".join(worst[:5]))


def rcpt_log(outdir):
    """The RCPT TO addresses the server has seen so far, in order (one per message tried)."""
    try:
        with open(os.path.join(outdir, "rcpt.log")) as f:
            return f.read().split()
    except OSError:
        return []


def scenario_batch(cluster, rng, outdir):
    """The same batch killed max_attempts times while its first message waits at RCPT TO (so no
    message is accepted): the rows the kills never reached must not pay for them."""
    label, db = "batch", "mt_fault_batch"
    cluster.q("postgres", "CREATE DATABASE " + db)
    cluster.q(db, "CREATE EXTENSION IF NOT EXISTS microtrigger")
    restarts_before = cluster.ready_count()
    queue_rows(cluster, db, 40)
    max_attempts = int(cluster.q(db, "SHOW microtrigger.max_attempts"))
    ids_before = len(server_ids(outdir))
    with open(os.path.join(outdir, "control.json"), "w") as f:
        f.write('{"stall_rcpt": 30}')
    loop = "CALL microtrigger.deliver_loop('60 seconds', 20)"
    # the claim recovers rows left sending for sending_timeout, then claims the oldest first
    recoverable = ("SELECT count(*) FROM microtrigger.outbox WHERE status = 'sending' AND claimed_at >= "
                   "clock_timestamp() - current_setting('microtrigger.sending_timeout')::interval")
    in_flight, kills = [], 0
    for n in range(max_attempts):
        if not wait_until(lambda: cluster.q(db, recoverable) == "0", 30, 0.1):
            break
        tried = len(rcpt_log(outdir))
        session = cluster.session(db, loop, "mt_fault_batch")
        pid = wait_until(lambda: cluster.try_q(db, "SELECT pid FROM pg_stat_activity WHERE application_name = 'mt_fault_batch'"),
                         20, 0.01)
        if not pid or not wait_until(lambda: len(rcpt_log(outdir)) > tried, 20, 0.005):
            session.terminate()
            session.wait()
            break
        time.sleep(rng.uniform(0.0, 0.05))
        recovery = cluster.kill9(int(pid))
        session.wait(timeout=60)
        if recovery is None:
            break
        kills += 1
        in_flight.append(rcpt_log(outdir)[tried])
        details.append("%s kill %d: %s waiting at RCPT TO, %s rows left sending, restart %.2f s"
                       % (label, kills, in_flight[-1], cluster.q(db, "SELECT count(*) FROM microtrigger.outbox "
                                                                   "WHERE status = 'sending'"), recovery))
    with open(os.path.join(outdir, "control.json"), "w") as f:
        f.write("{}")
    check("%s: the same batch was killed max_attempts (%d) times" % (label, max_attempts), kills, max_attempts)
    drain_start = time.monotonic()
    unsettled = "SELECT count(*) FROM microtrigger.outbox WHERE status IN ('queued', 'sending')"
    while time.monotonic() - drain_start < SETTLE_BUDGET and cluster.q(db, unsettled) != "0":
        cluster.q(db, "CALL microtrigger.deliver_loop('3 seconds', 20)")
    if SABOTAGE:
        cluster.q(db, "UPDATE microtrigger.outbox SET status = 'dead' WHERE id = (SELECT max(id) FROM microtrigger.outbox)")
        with open(os.path.join(outdir, "ids.log"), "a") as f:
            f.write((server_ids(outdir)[-1] + "\n") * 2)
        sabotage_crash(cluster)
    check("%s: every kill was a crash restart of the cluster" % label, cluster.ready_count() - restarts_before, kills)
    rows = [line.split("|") for line in cluster.q(
        db, "SELECT to_address, status, attempts, coalesce(last_error, '') FROM microtrigger.outbox ORDER BY id").splitlines()]
    hit = set(in_flight)
    spared = [r for r in rows if r[0] not in hit]
    statuses = {}
    for r in spared:
        statuses[r[1]] = statuses.get(r[1], 0) + 1
    note("%s: in flight at the kills: %s; the other %d rows ended %s, attempts %s"
         % (label, sorted(hit), len(spared), statuses, sorted({int(r[2]) for r in spared})))
    dead = [r for r in spared if r[1] == "dead"]
    check_true("%s: no row the kills never tried is dead" % label, not dead,
               "%d rows dead (%s: %s)" % (len(dead), dead[0][0], dead[0][3]) if dead else "")
    check("%s: every row the kills never tried ends sent" % label, statuses.get("sent", 0), len(spared))
    ids = server_ids(outdir)[ids_before:]
    check("%s: no message was accepted twice (none got past RCPT TO while killed)" % label, len(ids) - len(set(ids)), 0)


def main():
    """Sets up the cluster and the SMTP server, runs the scenarios, prints the result line."""
    work = tempfile.mkdtemp(prefix="faults.", dir=os.environ.get("MT_TMP", "/tmp"))
    os.chmod(work, 0o755)
    outdir = os.path.join(work, "smtp")
    os.makedirs(outdir)
    note("seed %d (MT_FAULT_SEED=%d replays the random timing), %d kills per scenario" % (SEED, SEED, KILLS))
    server = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "counting_smtp.py"), str(SMTP_PORT), outdir],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "smtp.log"), "w"))
    cluster = Cluster(os.path.join(work, "pg"))
    started = time.monotonic()
    try:
        if not wait_until(lambda: os.path.exists(os.path.join(outdir, "ready")), 20):
            raise RuntimeError("the SMTP server did not start on port %d" % SMTP_PORT)
        cluster.init("""
port = %d
listen_addresses = ''
unix_socket_directories = '%s'
shared_preload_libraries = 'microtrigger'
microtrigger.database = 'postgres'
microtrigger.batch_size = 50
microtrigger.naptime = '1s'
microtrigger.smtp_url = 'smtp://127.0.0.1:%d/faults.test'
microtrigger.from_address = 'Faults <faults@faults.example>'
microtrigger.sending_timeout = '2s'
microtrigger.retry_base_delay = '1s'
microtrigger.retry_max_delay = '2s'
restart_after_crash = on
fsync = off
# synchronous_commit stays on (deliver_async turns it off in its session): with off, a crash
# restart loses the commits of the last moments
timezone = 'UTC'
%s
""" % (PORT, cluster.sock, SMTP_PORT, os.environ.get("MT_FAULT_EXTRA_CONF", "")))
        for name in SCENARIOS:
            rng = random.Random("%d:%s" % (SEED, name))
            t = time.monotonic()
            if name == "worker":
                scenario_worker(cluster, rng)
            elif name == "sessions":
                scenario_sessions(cluster, rng)
            elif name == "deliver":
                scenario_deliver(cluster, rng, outdir)
            elif name == "deliver_async":
                # the same with synchronous_commit = off in the delivering session, a common
                # setting: delivery's own commits must still survive a crash restart
                scenario_deliver(cluster, rng, outdir, name, "-c synchronous_commit=off")
            elif name == "batch":
                scenario_batch(cluster, rng, outdir)
            else:
                nok("scenario " + name, "unknown")
            note("%s: %.0f s" % (name, time.monotonic() - t))
    except Exception as e:  # a broken setup or a cluster that does not come back is one failure
        nok("the fault suite ran to the end", "%s: %s" % (type(e).__name__, e))
    finally:
        cluster.stop()
        server.terminate()
        server.wait()
    if failed:
        for line in details:
            note(line)
        try:
            note("server log tail:\n" + "".join(cluster.log_text().splitlines(True)[-30:]))
        except OSError:
            pass
    note("total %.0f s" % (time.monotonic() - started))
    if os.environ.get("MT_KEEP"):
        note("kept " + work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("faults: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
