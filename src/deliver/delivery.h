/*
 * delivery.h: what the delivery files (deliver.c, deliver_sql.c, unsubscribe.c) share: their
 * settings and the unsubscribe token. The public entry points are SQL functions (60_delivery.sql).
 */
#ifndef MT_DELIVERY_H
#define MT_DELIVERY_H

#include "postgres.h"

/* Defines the delivery settings below; called from _PG_init. */
extern void mt_delivery_init(void);

/* delivery GUCs, defined in deliver.c by mt_delivery_init() */
extern char *mt_smtp_url;				/* microtrigger.smtp_url: empty = nothing is sent */
extern char *mt_from_address;			/* microtrigger.from_address */
extern char *mt_unsubscribe_url;		/* microtrigger.unsubscribe_url: base of the one-click link */
extern char *mt_smtp_username;			/* microtrigger.smtp_username (superuser-only) */
extern char *mt_smtp_ca_file;			/* microtrigger.smtp_ca_file */
extern char *mt_smtp_password;			/* microtrigger.smtp_password (superuser-only) */
extern char *mt_unsubscribe_secret;		/* microtrigger.unsubscribe_secret (superuser-only) */
extern char *mt_unsubscribe_mailto;		/* microtrigger.unsubscribe_mailto */
extern char *mt_tracking_url;			/* microtrigger.tracking_url: base of click and open links; empty = off */
extern bool mt_track_opens;				/* microtrigger.track_opens: add the open pixel */
extern int	mt_max_attempts;			/* microtrigger.max_attempts */
extern int	mt_retry_base_delay_s;		/* microtrigger.retry_base_delay */
extern int	mt_retry_max_delay_s;		/* microtrigger.retry_max_delay */
extern int	mt_sending_timeout_s;		/* microtrigger.sending_timeout */
extern int	mt_smtp_timeout_ms;			/* microtrigger.smtp_timeout */
extern int	mt_smtp_connections;		/* microtrigger.smtp_connections: senders per call */

/* The most SMTP connections (delivery processes) one call may use. */
#define MT_MAX_SMTP_CONNECTIONS 16

/* One delivery run: claims, sends and records batches; see deliver.c. */
typedef struct MtDeliveryRun
{
	bool		in_procedure;	/* commit with SPI_commit (CALL); else own transactions (worker) */
	int			batch_size;
	int			sent;			/* messages the server accepted, over all batches */
	int			claimed;		/* rows claimed by the last batch */
	bool		server_down;	/* the last batch found no SMTP session possible, or the outage
								 * backoff in microtrigger.delivery_state still running */
	bool		state_on_record;	/* delivery_state held failures when the batch read it */
	struct MtSmtpSession *smtp; /* opened on the first message, reused after */
	MemoryContext memory;		/* lives as long as the run; batches use a child reset each time */
	MemoryContext step_memory;	/* current in a step, and again after its commit */
} MtDeliveryRun;

/* Claims up to batch_size due rows, sends them and records each result; returns how many were sent. */
extern int	mt_deliver_batch(MtDeliveryRun *run);

/* Sets search_path = pg_catalog, pg_temp for the rest of the current transaction. */
extern void mt_delivery_safe_search_path(void);

/* Closes the SMTP session of a run (safe to call twice). */
extern void mt_delivery_run_end(MtDeliveryRun *run);

/*
 * The HMAC key of unsubscribe tokens: the secret GUC, else the installation's secret (needs SPI).
 * Allocated in, and returns with, the caller's memory context.
 */
extern char *mt_unsubscribe_key(void);

/* The unsubscribe token of (user, outbox row) under key, palloc'd and URL-safe. */
extern char *mt_unsubscribe_token(const char *key, const char *user_id, int64 outbox_id);

/*
 * The token of link number link of (user, outbox row): its MAC also binds the number, so a token
 * of one link cannot open another. Link 0 is the row's own token (= mt_unsubscribe_token).
 */
extern char *mt_link_token(const char *key, const char *user_id, int64 outbox_id, int link);

/* True when token is a genuine token of link number link (0: the row's); fills what it names. */
extern bool mt_token_verify(const char *key, const char *token, int link, int64 *outbox_id, char **user_id);

#endif
