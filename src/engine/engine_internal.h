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
	TimestampTz held_until;		/* a send window or quiet hours held it until then; 0: not held */
	int			optimal;		/* send_time optimal: 1 chosen, 0 too little history; -1 not asked */
	const char *category;		/* frequency caps: its category, priority, transactional */
	int			priority;
	bool		transactional;
	int64	   *written_id;		/* non-NULL: gets the outbox id when written at once (0 in a batch) */
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


/* Chooses, checks, renders and queues one send_email action; true when an email was queued. */
extern bool mt_queue_email(const MtAction *action, const MtEmailJob *job, Jsonb *context,
						   TimestampTz as_of);

#endif
