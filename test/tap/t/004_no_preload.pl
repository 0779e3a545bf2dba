# Without shared_preload_libraries the extension works in every backend (README, API.md): CREATE
# EXTENSION, matching and run_pending in a session that loads the library on first use. It used to
# kill that session with FATAL (a PGC_POSTMASTER setting defined after startup).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->append_conf('postgresql.conf', qq{microtrigger.database = 'postgres'\n});
$node->start;

my ($ret, $out, $err) = $node->psql('postgres', q{
CREATE EXTENSION microtrigger;
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('hi', 'Hi {{user_id}}', 'x');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('u1', 'u1@example.com');
INSERT INTO microtrigger.triggers (name, definition) VALUES
  ('ping', '{"event": "ping", "actions": [{"send_email": {"template": "hi"}}]}');
SELECT microtrigger.track('u1', 'ping', '{}', '2026-11-02 09:00+00');
SELECT microtrigger.run_pending('2026-11-02 09:01+00');
SELECT subject FROM microtrigger.outbox;
SHOW microtrigger.database;
});
is($ret, 0, 'CREATE EXTENSION and the engine work in a backend that loads the library itself');
like($out, qr/Hi u1/, 'run_pending queued the email');
unlike($err, qr/FATAL|ERROR/, 'no error');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'microtrigger worker'}),
	'0', 'no worker runs without preloading');

$node->stop;
done_testing();
