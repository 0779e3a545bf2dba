#!/usr/bin/env bash
# The official Mustache spec (required modules + ~inheritance) through the SQL function
# microtrigger.render(), so the jsonb binding meets every case. Each failure prints a NOTICE;
# last line: "mustache-spec-sql: N passed, M failed".
set -u
cd "$MT_BUILD"
db=mustache_spec_sql
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || {
    echo "mustache-spec-sql: 0 passed, 1 failed"; exit 1; }
psql -X -q -d "$db" -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || { echo "mustache-spec-sql: 0 passed, 1 failed"; exit 1; }
CREATE EXTENSION microtrigger;
CREATE TABLE spec_result (file text, name text, ok boolean);
-- Runs every case of one spec file; a case that raises an error counts as a failure.
CREATE FUNCTION run_spec(spec jsonb, file text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t jsonb;
    got text;
BEGIN
    FOR t IN SELECT * FROM jsonb_array_elements(spec->'tests') LOOP
        BEGIN
            got := microtrigger.render(t->>'template', t->'data', coalesce(t->'partials', '{}'));
        EXCEPTION WHEN others THEN
            got := NULL;
            RAISE NOTICE 'FAIL %: %: error %', file, t->>'name', SQLERRM;
        END;
        IF got IS DISTINCT FROM t->>'expected' AND got IS NOT NULL THEN
            RAISE NOTICE 'FAIL %: %: expected % got %', file, t->>'name',
                to_jsonb(t->>'expected'), to_jsonb(got);
        END IF;
        INSERT INTO spec_result VALUES (file, t->>'name', got IS NOT DISTINCT FROM t->>'expected');
    END LOOP;
END $$;
SQL
for f in comments delimiters interpolation inverted partials sections '~inheritance'; do
    echo "SELECT run_spec(:'spec'::jsonb, :'file');" |
        psql -X -q -d "$db" -v ON_ERROR_STOP=1 -v file="$f" \
             -v spec="$(cat "test/spec/mustache/$f.json")" >/dev/null
done
# a spec file that did not run at all counts as one failure
psql -X -At -d "$db" -c "SELECT format('mustache-spec-sql: %s passed, %s failed',
    count(*) FILTER (WHERE ok),
    count(*) FILTER (WHERE NOT ok) + 7 - count(DISTINCT file)) FROM spec_result"
