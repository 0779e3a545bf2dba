# The background worker: acts on immediate triggers without anyone calling run_pending, closes
# absence windows at their deadline, shows in pg_stat_activity, reloads on SIGHUP, exits cleanly
# on SIGTERM and is restarted, and a kill -9 mid-batch loses and doubles nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'microtrigger'
microtrigger.database = 'postgres'
microtrigger.naptime = '2s'
microtrigger.batch_size = 50
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION microtrigger;
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('hi', 'Hi {{user_id}}', 'Hello');
INSERT INTO microtrigger.contacts (user_id, email) SELECT 'u' || i, 'u' || i || '@example.com' FROM generate_series(1, 3000) i;
INSERT INTO microtrigger.triggers (name, definition) VALUES
  ('ping', '{"event": "ping", "cooldown": 0, "actions": [{"send_email": {"template": "hi"}}]}'),
  ('bulk', '{"event": "bulk", "cooldown": 0, "actions": [{"send_email": {"template": "hi"}}]}'),
  ('cart', '{"event": "add_to_cart", "unless": {"event": "checkout", "within": "2 seconds"}, "actions": [{"send_email": {"template": "hi"}}]}');
});

# 1. an immediate trigger's email appears with nobody calling run_pending
my $worker_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'microtrigger worker'});
ok($worker_pid =~ /^\d+$/, 'the worker shows in pg_stat_activity by name');
$node->safe_psql('postgres', q{SELECT microtrigger.track('u1', 'ping')});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM microtrigger.outbox WHERE trigger_name = 'ping'}),
	'an immediate trigger is acted on by the worker');

# 2. an absence window is closed by the worker at its deadline
$node->safe_psql('postgres', q{SELECT microtrigger.track('u2', 'add_to_cart')});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM microtrigger.outbox WHERE trigger_name = 'cart'}),
	'an absence window fires when it closes');
my $late = $node->safe_psql('postgres', q{
	SELECT extract(epoch FROM o.created_at - f.due_at) < 2
	FROM microtrigger.outbox o JOIN microtrigger.firings f ON f.trigger_name = o.trigger_name AND f.source_event_id = o.source_event_id
	WHERE o.trigger_name = 'cart'});
is($late, 't', 'the window is acted on within 2 s of its deadline (the naptime)');

# 3. SIGHUP reloads the configuration; the worker stays
$node->safe_psql('postgres', q{ALTER SYSTEM SET microtrigger.naptime = '3s'});
$node->reload;
$node->safe_psql('postgres', q{SELECT microtrigger.track('u3', 'ping')});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM microtrigger.outbox WHERE trigger_name = 'ping'}),
	'the worker keeps working after a reload');
is($node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'microtrigger worker'}),
	$worker_pid, 'same worker after SIGHUP');

# 4. SIGTERM: the worker exits cleanly and is started again (no crash recovery)
$node->safe_psql('postgres', qq{SELECT pg_terminate_backend($worker_pid)});
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'microtrigger worker' AND pid <> $worker_pid}),
	'a new worker starts after SIGTERM');
ok(!$node->log_contains('terminating any other active server processes'), 'SIGTERM was not a crash');

# 5. kill -9 of the worker mid-batch loses and doubles nothing
$worker_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'microtrigger worker'});
$node->safe_psql('postgres', q{
	INSERT INTO microtrigger.events (user_id, event_type) SELECT 'u' || i, 'bulk' FROM generate_series(1, 3000) i});
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM microtrigger.outbox WHERE trigger_name = 'bulk'});
kill 'KILL', $worker_pid;
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 3000 FROM microtrigger.outbox WHERE trigger_name = 'bulk'}),
	'after kill -9 and crash recovery every firing is acted on');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM microtrigger.firings WHERE trigger_name = 'bulk' AND state = 'waiting'}),
	'0', 'no firing is left waiting');
is($node->safe_psql('postgres', q{
	SELECT count(*) - count(DISTINCT source_event_id) FROM microtrigger.outbox WHERE trigger_name = 'bulk'}),
	'0', 'no email is doubled');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM microtrigger.decisions WHERE trigger_name = 'bulk' AND outcome = 'queued'}),
	'3000', 'exactly one queued decision per firing');

$node->stop;
done_testing();
