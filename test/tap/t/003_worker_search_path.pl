# The background worker runs as a superuser: functions an attacker plants in public (which it may
# write, as before PostgreSQL 15) never run in it, even when the database's search_path puts
# public first. Each planted function logs a WARNING and returns a marker that would show in the
# email.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('search_path');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'microtrigger'
microtrigger.database = 'postgres'
microtrigger.naptime = '1s'
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION microtrigger;
CREATE ROLE attacker;
GRANT CREATE ON SCHEMA public TO attacker;
CREATE TABLE public.crm (user_id text PRIMARY KEY, plan text);
INSERT INTO public.crm VALUES ('u1', 'pro');
SET ROLE attacker;
CREATE FUNCTION public.note(planted text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'planted % ran as % (superuser: %)', planted, current_user,
    (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user); END $$;
CREATE FUNCTION public.to_jsonb(timestamp) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM public.note('to_jsonb(timestamp)'); RETURN '"PLANTED"'; END $$;
CREATE FUNCTION public.to_jsonb(record) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM public.note('to_jsonb(record)'); RETURN '{"plan": "PLANTED"}'; END $$;
CREATE FUNCTION public.jsonb_build_object(text, text, text, text, text, text, text, text) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN PERFORM public.note('jsonb_build_object(8 text)'); RETURN '{}'; END $$;
CREATE FUNCTION public.jsonb_object_agg(text, boolean) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM public.note('jsonb_object_agg'); RETURN '{"PLANTED": true}'; END $$;
RESET ROLE;
ALTER DATABASE postgres SET search_path = public, pg_catalog;
});
# the worker picks up the database setting when it next connects
$node->restart;

$node->safe_psql('postgres', q{
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('u1', 'u1@example.com');
INSERT INTO microtrigger.templates (name, subject, html_body) VALUES
 ('hi', 'Hi {{user_id}} on {{plan}}', '<p>{{event.occurred_at}}|{{#segments.seen}}member{{/segments.seen}}</p>');
INSERT INTO microtrigger.segments (name, definition) VALUES
 ('seen', '{"include": [{"event": "visit", "within": "30 days"}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES ('visit', '{"event": "visit", "cooldown": 0,
  "context": "SELECT plan FROM public.crm WHERE user_id = $1",
  "actions": [{"send_email": {"template": "hi"}}]}');
-- a minute back: before the segment's clock, so ingest counts it at once
SELECT microtrigger.track('u1', 'visit', '{}', now() - interval '1 minute');
});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM microtrigger.outbox}),
	'the worker acts on the event');
like($node->safe_psql('postgres', q{SELECT subject || ' ' || html_body FROM microtrigger.outbox}),
	qr/^Hi u1 on pro <p>\d{4}-\d\d-\d\dT\d\d:\d\d:[0-9.]+\+00:00\|member<\/p>$/,
	'the email is built with the built-in functions');
ok(!$node->log_contains('WARNING:  planted'), 'no planted function ran in the worker');

$node->stop;
done_testing();
