/*
 * track.h: engagement tracking. track_record.c verifies a token and records one hit (open, click,
 * unsubscribe) as an event; http_server.c is the background worker that serves the tracking
 * routes on libmicrohttpd; both use the tokens of src/deliver (unsubscribe.c).
 */
#ifndef MT_TRACK_H
#define MT_TRACK_H

#include "postgres.h"

/* What a hit is. */
typedef enum MtHitKind
{
	MT_HIT_OPEN,				/* email_open */
	MT_HIT_CLICK,				/* email_click, with the link's URL */
	MT_HIT_UNSUBSCRIBE			/* email_unsubscribe, and the contact is unsubscribed */
} MtHitKind;

/*
 * Verifies token (of link number link for a click, else the row's own token) and records one
 * event for it; inside a transaction, SPI connected. False, recording nothing, for a malformed
 * or forged token, an outbox row that no longer exists, or a link that is not a tracked link of
 * the row's html. For a click *url gets the link's URL (palloc'd in the caller's context).
 */
extern bool mt_track_record(MtHitKind kind, const char *token, int link, char **url);

/* True when token is a genuine row token (the unsubscribe page checks it before showing). */
extern bool mt_track_token_valid(const char *token);

/* Defines the tracking server's settings and, when preloaded with http_port set, registers it. */
extern void mt_track_init(void);

#endif
