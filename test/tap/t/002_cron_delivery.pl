# End to end with the real scheduler: an event lands, the worker queues the email, the pg_cron job
# microtrigger-deliver (scheduled by CREATE EXTENSION) sends it to an SMTP server on 127.0.0.1.
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $smtp_dir = tempdir(CLEANUP => 1);
my $smtp_port = PostgreSQL::Test::Cluster::get_free_port();
my $server_script = "$FindBin::RealBin/../../delivery/smtp_server.py";
my $smtp_pid = fork();
if ($smtp_pid == 0)
{
	open(STDOUT, '>', "$smtp_dir/server.log");
	open(STDERR, '>&', \*STDOUT);
	exec('/usr/bin/python3', $server_script, $smtp_port, $smtp_dir) or die "exec: $!";
}
for (1 .. 100) { last if -f "$smtp_dir/ready"; select(undef, undef, undef, 0.1); }
ok(-f "$smtp_dir/ready", 'the SMTP server is up');

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,microtrigger'
cron.database_name = 'postgres'
cron.host = '@{[ $node->host ]}'
cron.use_background_workers = on
max_worker_processes = 20
microtrigger.database = 'postgres'
microtrigger.smtp_url = 'smtp://127.0.0.1:$smtp_port'
microtrigger.from_address = 'Acme <hello\@acme.example>'
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_cron;
CREATE EXTENSION microtrigger;
INSERT INTO microtrigger.templates (name, subject, text_body, html_body) VALUES
  ('hi', 'Hello {{first_name}}', 'Hi {{first_name}}', '<p>Hi {{first_name}}</p>');
INSERT INTO microtrigger.contacts (user_id, email, attributes) VALUES ('c1', 'c1@example.com', '{"first_name": "Cleo"}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
  ('hello', '{"event": "signup", "actions": [{"send_email": {"template": "hi"}}]}');
});
is($node->safe_psql('postgres',
	q{SELECT string_agg(jobname, ',' ORDER BY jobname) FROM cron.job WHERE jobname LIKE 'microtrigger-%'}),
	'microtrigger-deliver,microtrigger-maintain', 'CREATE EXTENSION scheduled the pg_cron jobs');

$node->safe_psql('postgres', q{SELECT microtrigger.track('c1', 'signup')});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM microtrigger.outbox WHERE status IN ('queued', 'sending', 'sent')}),
	'the worker queued the email');
# the job runs every minute and then keeps draining for most of it
ok($node->poll_query_until('postgres', q{SELECT status = 'sent' FROM microtrigger.outbox}),
	'the pg_cron job delivered it');
my $received = 0;
if (open(my $log, '<', "$smtp_dir/log.jsonl")) { $received++ while <$log>; close($log); }
is($received, 1, 'the SMTP server received exactly one message');
ok($node->safe_psql('postgres',
	q{SELECT count(*) FROM cron.job_run_details WHERE command LIKE '%deliver_loop%' AND status IN ('running', 'succeeded')}) >= 1,
	'pg_cron recorded the run');

$node->stop;
kill 'TERM', $smtp_pid;
waitpid($smtp_pid, 0);
done_testing();
