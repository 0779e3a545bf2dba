/*
 * http_server.c: the tracking server, a background worker on GNU libmicrohttpd. It is off unless
 * microtrigger.http_port is set (when preloaded), listens on microtrigger.http_listen and serves
 * microtrigger.database. libmicrohttpd runs without threads of its own (external epoll): its
 * epoll descriptor is waited on together with the worker's latch, and every request handler runs
 * on the worker's main thread, so every PostgreSQL call does.
 *
 * Routes: GET /o/{token} (1x1 GIF, email_open), GET /c/{token}/{n} (302 to link n of the row's
 * own html, email_click), GET /u/{token} (the unsubscribe page), POST /u/{token} (RFC 8058
 * one-click, email_unsubscribe), GET /healthz, GET /report (placeholder behind
 * microtrigger.report_token). A hit is one short transaction, committed before the answer is
 * queued, so a restart loses no hit that was answered. A bad token gets 404 and records nothing.
 * Limits: request memory (headers) per connection, body size, connections overall and per IP,
 * and requests per second per IP.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "microtrigger.h"
#include "track.h"

PGDLLEXPORT void mt_http_main(Datum arg);

/* Settings, defined by mt_track_init(). */
static int	mt_http_port = 0;			/* microtrigger.http_port: 0 = off */
static char *mt_http_listen = NULL;		/* microtrigger.http_listen */
static char *mt_report_token = NULL;	/* microtrigger.report_token: empty = /report is 404 */
static int	mt_http_rate_limit = 100;	/* microtrigger.http_rate_limit: requests/s per IP, 0 = off */
static int	mt_http_max_connections = 1000; /* microtrigger.http_max_connections */
static int	mt_http_connections_per_ip = 64;	/* microtrigger.http_connections_per_ip */

#define MAX_BODY_BYTES 4096		/* a one-click POST body is "List-Unsubscribe=One-Click" */
#define REQUEST_MEMORY (16 * 1024)	/* headers and request line of one connection */
#define RATE_SLOTS 4096

/* The 1x1 transparent GIF of /o. */
static const unsigned char pixel_gif[] = {
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b
};

/* One IP's token bucket (slots by hash; a collision shares a bucket, which only limits sooner). */
typedef struct RateSlot
{
	uint64		key;
	double		tokens;
	TimestampTz at;
} RateSlot;

static RateSlot rate_slots[RATE_SLOTS];

/* Per-request state, kept between the handler's calls for one request. */
typedef struct RequestState
{
	size_t		body_bytes;
	bool		too_large;
} RequestState;

static MemoryContext request_memory = NULL;

/* Defines the settings and registers the server when preloaded with a port. */
void
mt_track_init(void)
{
	BackgroundWorker worker;
	bool		preloading = process_shared_preload_libraries_in_progress;

	/* PGC_POSTMASTER only while the postmaster loads us (see worker.c on microtrigger.database) */
	DefineCustomIntVariable("microtrigger.http_port",
							"TCP port of the tracking server; 0 turns it off.",
							NULL, &mt_http_port, 0, 0, 65535,
							preloading ? PGC_POSTMASTER : PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.http_listen",
							   "Address the tracking server listens on.",
							   NULL, &mt_http_listen, "127.0.0.1",
							   preloading ? PGC_POSTMASTER : PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.report_token",
							   "Bearer token of GET /report; empty: the route answers 404.",
							   NULL, &mt_report_token, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.http_rate_limit",
							"Requests per second one IP address may make to the tracking server (429 beyond); 0: no limit.",
							NULL, &mt_http_rate_limit, 100, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.http_max_connections",
							"Connections the tracking server holds open at once.",
							NULL, &mt_http_max_connections, 1000, 1, 100000,
							preloading ? PGC_POSTMASTER : PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.http_connections_per_ip",
							"Connections one IP address may hold open to the tracking server; 0: no limit.",
							NULL, &mt_http_connections_per_ip, 64, 0, 100000,
							preloading ? PGC_POSTMASTER : PGC_SIGHUP, 0, NULL, NULL, NULL);
	if (!preloading || mt_http_port == 0)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "microtrigger");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "mt_http_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "microtrigger http");
	snprintf(worker.bgw_type, BGW_MAXLEN, "microtrigger http");
	RegisterBackgroundWorker(&worker);
}

/* True when the client may make one more request now (token bucket per IP). */
static bool
rate_allows(const struct sockaddr *addr)
{
	uint64		key = 1469598103934665603ULL;
	const unsigned char *bytes;
	size_t		len;
	RateSlot   *slot;
	TimestampTz now;

	if (mt_http_rate_limit <= 0 || addr == NULL)
		return true;
	if (addr->sa_family == AF_INET6)
	{
		bytes = (const unsigned char *) &((const struct sockaddr_in6 *) addr)->sin6_addr;
		len = 16;
	}
	else
	{
		bytes = (const unsigned char *) &((const struct sockaddr_in *) addr)->sin_addr;
		len = 4;
	}
	for (size_t i = 0; i < len; i++)
		key = (key ^ bytes[i]) * 1099511628211ULL;
	slot = &rate_slots[key % RATE_SLOTS];
	now = GetCurrentTimestamp();
	if (slot->key != key || slot->at == 0)
	{
		slot->key = key;
		slot->tokens = mt_http_rate_limit;
		slot->at = now;
	}
	slot->tokens = Min((double) mt_http_rate_limit,
					   slot->tokens + (double) (now - slot->at) / 1e6 * mt_http_rate_limit);
	slot->at = now;
	if (slot->tokens < 1.0)
		return false;
	slot->tokens -= 1.0;
	return true;
}

/* Queues a response of bytes (copied) with a content type and status. */
static enum MHD_Result
respond(struct MHD_Connection *connection, unsigned int status, const char *type,
		const void *bytes, size_t len, const char *location)
{
	struct MHD_Response *response = MHD_create_response_from_buffer(len, (void *) bytes, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (response == NULL)
		return MHD_NO;
	if (type)
		MHD_add_response_header(response, "Content-Type", type);
	MHD_add_response_header(response, "Cache-Control", "no-store");
	MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
	if (location)
		MHD_add_response_header(response, "Location", location);
	ret = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return ret;
}

/* Queues a short plain-text response. */
static enum MHD_Result
respond_text(struct MHD_Connection *connection, unsigned int status, const char *text)
{
	return respond(connection, status, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

/* What one hit's transaction produced. */
typedef struct HitResult
{
	bool		ok;				/* the token verified and the hit is committed */
	bool		failed;			/* an error: logged, rolled back */
	char		url[4096];		/* a click's target */
} HitResult;

/*
 * Runs one unit of work in its own transaction, committed before returning; an error is logged,
 * rolled back and reported as failed (the worker carries on).
 */
static void
run_hit(MtHitKind kind, const char *token, int link, bool check_only, bool healthz, HitResult *result)
{
	MemoryContext old = MemoryContextSwitchTo(request_memory);

	memset(result, 0, offsetof(HitResult, url) + 1);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		char	   *url = NULL;

		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_connect() != SPI_OK_CONNECT)
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not connect to SPI")));
		pgstat_report_activity(STATE_RUNNING, "microtrigger http");
		if (healthz)
			result->ok = SPI_execute("SELECT 1", true, 1) == SPI_OK_SELECT;
		else if (check_only)
			result->ok = mt_track_token_valid(token);
		else
			result->ok = mt_track_record(kind, token, link, &url);
		if (url)
			strlcpy(result->url, url, sizeof(result->url));
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(request_memory);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		result->ok = false;
		result->failed = true;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(old);
	MemoryContextReset(request_memory);
}

/* Compares two strings in time that does not depend on where they differ. */
static bool
secret_equal(const char *a, const char *b)
{
	size_t		la = strlen(a);
	size_t		lb = strlen(b);
	unsigned char diff = (la != lb);

	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char) (a[i] ^ b[i]);
	return diff == 0;
}

/* GET /report: 404 without a report token configured, 401 without the right one. */
static enum MHD_Result
serve_report(struct MHD_Connection *connection)
{
	const char *auth = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
	const char *query = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "token");
	bool		allowed = false;
	static const char page[] = "<!doctype html><html><head><meta charset=\"utf-8\"><title>microtrigger report</title>"
		"</head><body><h1>microtrigger report</h1><p>The report is not built yet.</p></body></html>";

	if (mt_report_token == NULL || mt_report_token[0] == '\0')
		return respond_text(connection, MHD_HTTP_NOT_FOUND, "not found\n");
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0 && secret_equal(auth + 7, mt_report_token))
		allowed = true;
	if (query && secret_equal(query, mt_report_token))
		allowed = true;
	if (!allowed)
	{
		struct MHD_Response *response = MHD_create_response_from_buffer(13, (void *) "unauthorized\n",
																		 MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		MHD_add_response_header(response, "WWW-Authenticate", "Bearer realm=\"microtrigger\"");
		ret = MHD_queue_response(connection, MHD_HTTP_UNAUTHORIZED, response);
		MHD_destroy_response(response);
		return ret;
	}
	return respond(connection, MHD_HTTP_OK, "text/html; charset=utf-8", page, strlen(page), NULL);
}

/* The unsubscribe page of a genuine token: a button that POSTs the one-click form. */
static enum MHD_Result
serve_unsubscribe_page(struct MHD_Connection *connection, bool done)
{
	const char *page = done
		? "<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribed</title></head>"
		"<body><p>You are unsubscribed and will get no more of these emails.</p></body></html>"
		: "<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head>"
		"<body><form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
		"<p>Stop getting these emails?</p><button type=\"submit\">Unsubscribe</button></form></body></html>";

	return respond(connection, MHD_HTTP_OK, "text/html; charset=utf-8", page, strlen(page), NULL);
}

/* A token as it may appear in a path: base64url and one dot, at most 1024 bytes. */
static bool
token_shaped(const char *token, size_t len)
{
	if (len == 0 || len > 1024)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = token[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* libmicrohttpd's handler: called for headers, then for each body chunk, then once more. */
static enum MHD_Result
handle_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
			   const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	RequestState *state = *con_cls;
	bool		is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool		is_post = strcmp(method, "POST") == 0;
	char		token[1025];
	HitResult	result;
	const union MHD_ConnectionInfo *info;

	if (state == NULL)
	{
		state = calloc(1, sizeof(RequestState));
		if (state == NULL)
			return MHD_NO;
		*con_cls = state;
		return MHD_YES;			/* headers only so far */
	}
	if (*upload_data_size > 0)
	{
		state->body_bytes += *upload_data_size;
		if (state->body_bytes > MAX_BODY_BYTES)
			state->too_large = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (state->too_large)
		return respond_text(connection, MHD_HTTP_CONTENT_TOO_LARGE, "request too large\n");

	info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!rate_allows(info ? info->client_addr : NULL))
		return respond_text(connection, MHD_HTTP_TOO_MANY_REQUESTS, "too many requests\n");

	if (is_get && strcmp(url, "/healthz") == 0)
	{
		run_hit(MT_HIT_OPEN, NULL, 0, false, true, &result);
		return result.ok ? respond_text(connection, MHD_HTTP_OK, "ok\n")
			: respond_text(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "database not answering\n");
	}
	if (is_get && strcmp(url, "/report") == 0)
		return serve_report(connection);

	if (strncmp(url, "/o/", 3) == 0 && is_get && token_shaped(url + 3, strlen(url + 3)))
	{
		strlcpy(token, url + 3, sizeof(token));
		run_hit(MT_HIT_OPEN, token, 0, false, false, &result);
		if (result.ok)
			return respond(connection, MHD_HTTP_OK, "image/gif", pixel_gif, sizeof(pixel_gif), NULL);
	}
	else if (strncmp(url, "/c/", 3) == 0 && is_get)
	{
		const char *slash = strchr(url + 3, '/');
		char	   *end;
		long		link;

		if (slash && token_shaped(url + 3, slash - (url + 3)) && slash[1] >= '1' && slash[1] <= '9')
		{
			errno = 0;
			link = strtol(slash + 1, &end, 10);
			if (*end == '\0' && errno == 0 && link <= 1000000)
			{
				memcpy(token, url + 3, slash - (url + 3));
				token[slash - (url + 3)] = '\0';
				run_hit(MT_HIT_CLICK, token, (int) link, false, false, &result);
				if (result.ok)
					return respond(connection, MHD_HTTP_FOUND, "text/plain; charset=utf-8", "", 0, result.url);
			}
		}
	}
	else if (strncmp(url, "/u/", 3) == 0 && (is_get || is_post) && token_shaped(url + 3, strlen(url + 3)))
	{
		strlcpy(token, url + 3, sizeof(token));
		run_hit(MT_HIT_UNSUBSCRIBE, token, 0, is_get, false, &result);
		if (result.ok)
			return serve_unsubscribe_page(connection, is_post);
	}
	else
		return respond_text(connection, MHD_HTTP_NOT_FOUND, "not found\n");

	if (result.failed)
		return respond_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
	return respond_text(connection, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Frees the per-request state when a request ends. */
static void
request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

/* Logs libmicrohttpd's own messages. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char		buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	ereport(LOG, (errmsg("microtrigger http: %s", buf)));
}

/* Starts libmicrohttpd on http_listen:http_port (external epoll, no threads). */
static struct MHD_Daemon *
start_daemon(void)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	struct sockaddr *addr;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *daemon;

	memset(&v4, 0, sizeof(v4));
	memset(&v6, 0, sizeof(v6));
	if (inet_pton(AF_INET, mt_http_listen, &v4.sin_addr) == 1)
	{
		v4.sin_family = AF_INET;
		v4.sin_port = htons((uint16) mt_http_port);
		addr = (struct sockaddr *) &v4;
	}
	else if (inet_pton(AF_INET6, mt_http_listen, &v6.sin6_addr) == 1)
	{
		v6.sin6_family = AF_INET6;
		v6.sin6_port = htons((uint16) mt_http_port);
		addr = (struct sockaddr *) &v6;
		flags |= MHD_USE_IPv6;
	}
	else
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("microtrigger.http_listen \"%s\" is not an IPv4 or IPv6 address", mt_http_listen)));
	daemon = MHD_start_daemon(flags, (uint16) mt_http_port, NULL, NULL, handle_request, NULL,
							  MHD_OPTION_SOCK_ADDR, addr,
							  MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
							  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) REQUEST_MEMORY,
							  MHD_OPTION_CONNECTION_LIMIT, (unsigned int) mt_http_max_connections,
							  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) mt_http_connections_per_ip,
							  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 10,
							  MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
							  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
							  MHD_OPTION_END);
	if (daemon == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("microtrigger http could not listen on %s:%d", mt_http_listen, mt_http_port)));
	return daemon;
}

/* The server's entry point: the latch loop that drives libmicrohttpd. */
void
mt_http_main(Datum arg)
{
	const char *database = GetConfigOption("microtrigger.database", false, false);
	struct MHD_Daemon *daemon;
	const union MHD_DaemonInfo *info;
	int			epoll_fd;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(database, NULL, 0);
	/* a superuser connection: names resolve in pg_catalog only, never in a writable schema */
	SetConfigOption("search_path", MT_SAFE_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
	request_memory = AllocSetContextCreate(TopMemoryContext, "microtrigger http request",
										   ALLOCSET_DEFAULT_SIZES);

	daemon = start_daemon();
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL)
		ereport(FATAL, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("microtrigger http: no epoll descriptor")));
	epoll_fd = info->epoll_fd;
	ereport(LOG, (errmsg("microtrigger http listening on %s:%d for database \"%s\"",
						 mt_http_listen, mt_http_port, database)));

	for (;;)
	{
		MHD_UNSIGNED_LONG_LONG mhd_timeout;
		long		timeout = 1000;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (MHD_get_timeout(daemon, &mhd_timeout) == MHD_YES)
			timeout = (long) Min(mhd_timeout, (MHD_UNSIGNED_LONG_LONG) 1000);
		(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 epoll_fd, timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		MHD_run(daemon);
		pgstat_report_stat(false);
	}
}
