/*
 * engine_internal.h: what the engine's files share — the contact, the event, the render context,
 * and queuing one email (used by triggers and by sequence steps alike). SPI helpers are in
 * spi_util.h, decisions in decisions.h (included here for the engine's files).
 */
#ifndef MT_ENGINE_INTERNAL_H
#define MT_ENGINE_INTERNAL_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "condition_eval.h"
#include "decisions.h"
#include "definition.h"
#include "spi_util.h"

/* One email to queue: its decision key, its outbox key and when it may be sent. */
typedef struct MtEmailJob
{
	MtDecisionKey key;
	int64		journey_id;		/* 0 for a trigger's email */
	int			step;			/* the journey step (journey emails) */
	int			action_index;	/* the trigger action (trigger emails) */
	const char *to_address;
	TimestampTz send_after;
	Oid			reader;			/* the owner of the trigger or sequence: whose templates it may use */
	struct MtActData *loaded;	/* the batch's templates (act_load.h); NULL: read them by SQL */
} MtEmailJob;

/* The contact of a user, its consent and suppression. */
typedef struct MtContact
{
	bool		found;
	char	   *email;
	bool		unsubscribed;
	char	   *suppressed_reason;	/* NULL: not suppressed */
	char	   *timezone;
	Jsonb	   *attributes;		/* an object */
} MtContact;

extern MtContact mt_load_contact(const char *user_id);

/* Records the decision and returns its outcome when the contact may not be mailed; else NULL. */
extern const char *mt_contact_refusal(const MtContact *contact, const MtDecisionKey *key,
									  TimestampTz as_of);

/* Loads an event as a document (and its params); false when it is gone. */
extern bool mt_load_event(int64 event_id, const char *user_id, MtDocument *doc, Jsonb **params);

/*
 * The render context of one journey step (or firing), built in C (render_context.c) from its
 * event and its user, loaded together by one act_load.c call (which does it for a whole batch of
 * firings); NULL when the event is gone.
 */
extern Jsonb *mt_build_render_context(int64 event_id, const char *user_id, const char *trigger_name,
									  Jsonb *profile, TimestampTz as_of);

/* Chooses, checks, renders and queues one send_email action; true when an email was queued. */
extern bool mt_queue_email(const MtAction *action, const MtEmailJob *job, Jsonb *context,
						   TimestampTz as_of);

#endif
