# Shared by test/run.sh and test/demo/run.sh: install what is needed, build microtrigger into a
# private copy of PostgreSQL 15, and start a throwaway cluster on a private port and socket dir.
# Nothing outside $MT_TMP is changed apart from the Debian packages.

MT_PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-cron libjson-c-dev libcurl4-openssl-dev
 libgumbo-dev libmicrohttpd-dev pkg-config make gcc bc libipc-run-perl python3-aiosmtpd nodejs clang wrk uap-core libyaml-dev libpcre2-dev"
PG_SYSTEM_BIN=/usr/lib/postgresql/15/bin

# mt_log MESSAGE: progress to stderr, so stdout stays the report.
mt_log() { printf '%s\n' "[microtrigger] $*" >&2; }

# mt_as_postgres CMD...: run a command as the postgres OS user (PostgreSQL refuses root).
mt_as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
    else
        "$@"
    fi
}

# mt_install_packages: apt-get what the build, the demo and the tests need (skipped when present).
mt_install_packages() {
    local missing="" wanted="$MT_PACKAGES"
    # npm: Debian's package, unless the installed nodejs already ships it (NodeSource builds do)
    command -v npm >/dev/null 2>&1 || wanted="$wanted npm"
    for p in $wanted; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        mt_log "missing packages:$missing (run as root to install them)"; return 1
    fi
    mt_log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 && apt-get install -y -q $wanted >&2
}

# mt_setup: copy the tree, build, install into a private PostgreSQL root and start a cluster.
# Exports MT_TMP, MT_BUILD, MT_BIN, PGHOST, PGPORT, PGUSER, PGDATABASE.
mt_setup() {
    local src="$1"
    MT_PORT=${MT_PORT:-54329}
    MT_TMP=$(mktemp -d /tmp/microtrigger.XXXXXX)
    chmod 755 "$MT_TMP"
    MT_BUILD="$MT_TMP/build"
    mkdir -p "$MT_BUILD" "$MT_TMP/pg/usr/lib/postgresql" "$MT_TMP/pg/usr/share/postgresql" "$MT_TMP/sock"
    (cd "$src" && tar --exclude=./.git --exclude='*.o' --exclude='*.so' -cf - .) | (cd "$MT_BUILD" && tar -xf -)
    # A private copy of PostgreSQL: its binaries find share/ and lib/ relative to themselves,
    # so the extension is installed there, never into the system directories.
    cp -a /usr/lib/postgresql/15 "$MT_TMP/pg/usr/lib/postgresql/"
    cp -a /usr/share/postgresql/15 "$MT_TMP/pg/usr/share/postgresql/"
    MT_BIN="$MT_TMP/pg/usr/lib/postgresql/15/bin"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$MT_TMP"
    mt_log "building in $MT_BUILD"
    if ! mt_as_postgres make -s -C "$MT_BUILD" >"$MT_TMP/build.log" 2>&1; then
        cat "$MT_TMP/build.log" >&2; mt_log "build failed"; return 1
    fi
    mt_as_postgres make -s -C "$MT_BUILD" install DESTDIR="$MT_TMP/pg" >>"$MT_TMP/build.log" 2>&1 || {
        cat "$MT_TMP/build.log" >&2; mt_log "install failed"; return 1; }
    mt_as_postgres "$MT_BIN/initdb" -D "$MT_TMP/data" -U postgres --no-sync -E UTF8 --locale=C.UTF-8 \
        >"$MT_TMP/initdb.log" 2>&1 || { cat "$MT_TMP/initdb.log" >&2; return 1; }
    # test/regress.conf (what `make installcheck` uses), then this cluster's own lines
    cat "$MT_BUILD/test/regress.conf" >>"$MT_TMP/data/postgresql.conf"
    cat >>"$MT_TMP/data/postgresql.conf" <<CONF
port = $MT_PORT
listen_addresses = ''
unix_socket_directories = '$MT_TMP/sock'
cron.database_name = '${MT_CRON_DB:-contrib_regression}'
microtrigger.database = '${MT_WORKER_DB:-postgres}'
max_wal_size = '4GB'
shared_buffers = '512MB'
maintenance_work_mem = '256MB'
${MT_EXTRA_CONF:-}
CONF
    mt_as_postgres "$MT_BIN/pg_ctl" -D "$MT_TMP/data" -l "$MT_TMP/server.log" -w start >/dev/null || {
        cat "$MT_TMP/server.log" >&2; return 1; }
    export MT_TMP MT_BUILD MT_BIN MT_PORT
    export PGHOST="$MT_TMP/sock" PGPORT="$MT_PORT" PGUSER=postgres PGDATABASE=postgres
    trap mt_teardown EXIT
}

# mt_teardown: stop the cluster and remove the throwaway files (kept with MT_KEEP=1).
mt_teardown() {
    [ -n "${MT_TMP:-}" ] || return 0
    mt_as_postgres "$MT_BIN/pg_ctl" -D "$MT_TMP/data" -m immediate stop >/dev/null 2>&1
    if [ -n "${MT_KEEP:-}" ]; then mt_log "kept $MT_TMP"; else rm -rf "$MT_TMP"; fi
}
