/*
 * act_load.h: the load stage of acting (claim -> load -> policy -> enrich -> render -> write):
 * what a batch of firings needs, read in a few set-based statements (= ANY arrays) instead of a
 * handful of queries per firing (or journey step) — events, contacts with consent and
 * suppression, segment memberships, last_page, templates and the cooldown state.
 */
#ifndef MT_ACT_LOAD_H
#define MT_ACT_LOAD_H

#include "postgres.h"

#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "engine_internal.h"
#include "mustache.h"

/* An events row. */
typedef struct MtLoadedEvent
{
	int64		id;
	char	   *user_id;
	char	   *event_type;
	char	   *session_id;		/* NULL: none */
	TimestampTz occurred_at;
	Jsonb	   *params;
} MtLoadedEvent;

/*
 * One of a user's emails as frequency caps and the one-email-per-signal rule see it: the outbox
 * rows that count (not cancelled or dead), then those the batch queues (outbox_id 0 while a batch
 * keeps its writes).
 */
typedef struct MtUserMail
{
	int64		outbox_id;
	TimestampTz send_after;		/* when it goes: the later of send_after and the as_of that queued it */
	char	   *category;
	int			priority;
	bool		transactional;
	bool		queued;			/* status queued: not yet sent, so it may be replaced */
	bool		cancelled;		/* replaced by a later email of this run */
	int64		source_event_id;	/* 0: none */
	char	   *trigger_name;
	char	   *sequence_name;
} MtUserMail;

/* A frequency_caps row. */
typedef struct MtCapRule
{
	char	   *name;
	int			max_emails;
	char	   *category;
	int			calendar;		/* 'd', 'w', 'm', or 0: rolling */
	int64		rolling;		/* rolling: the interval in microseconds */
} MtCapRule;

/* What is known of one user: the contact, its segments and its last page. */
typedef struct MtLoadedUser
{
	char	   *user_id;
	MtContact	contact;
	char	  **segments;
	int			n_segments;
	char	   *last_page;		/* NULL: no page_view up to as_of (or no url) */
	MtUserMail *mails;			/* frequency caps and signals (see MtUserMail) */
	int			n_mails;
	int			mails_cap;
	const char *latest_device;	/* of the latest event up to as_of with a device or user_agent
								 * param (mt_event_device); NULL: none, or a bot */
} MtLoadedUser;

/* A templates row, with its parts compiled on first use. */
typedef struct MtLoadedTemplate
{
	char	   *name;
	Oid			owner;
	char	   *parts[4];		/* subject, preheader, html_body, text_body (NULL: none) */
	ArrayType  *required;
	bool		compiled[4];	/* tried to compile parts[i] */
	MtmTemplate *tmpl[4];		/* NULL after a try: it does not compile */
	MemoryContext cxt;			/* where they are compiled: the batch's */
} MtLoadedTemplate;

/* A queued firing of a (trigger, user): what the cooldown is checked against. */
typedef struct MtQueuedFiring
{
	char	   *trigger_name;
	char	   *user_id;
	int64		firing_id;
	TimestampTz event_at;
} MtQueuedFiring;

/* Everything one batch loaded, in the batch's memory context (arrays sorted for bsearch). */
typedef struct MtActData MtActData;
struct MtActData
{
	MtLoadedEvent *events;
	int			n_events;
	MtLoadedUser *users;
	int			n_users;
	MtLoadedTemplate *templates;
	int			n_templates;
	MtQueuedFiring *queued;		/* loaded, then appended as the batch queues emails */
	int			n_queued;
	int			queued_cap;
	char	   *unsubscribe_key;
	MtCapRule  *caps;			/* every frequency_caps row */
	int			n_caps;
	Datum		mail_users;		/* the text[] of the users whose mails were loaded */
	Datum		mail_events;	/* the int8[] of the batch's events (signals) */
	TimestampTz as_of;
	MemoryContext cxt;			/* the batch's: where the data lives */
};

/* What to load: the batch's events, users, templates and cooldown windows. */
typedef struct MtActRequest
{
	int64	   *event_ids;
	int			n_event_ids;
	char	  **user_ids;
	int			n_user_ids;
	char	  **template_names;	/* grown by mt_act_want_action_templates */
	int			n_template_names;
	int			template_cap;
	/* cooldown: one (trigger, user, from, to) per firing whose trigger has one */
	char	  **cd_triggers;
	char	  **cd_users;
	TimestampTz *cd_from;
	TimestampTz *cd_to;
	int			n_cooldowns;
	bool		want_key;		/* read the unsubscribe key once for the batch */
} MtActRequest;

/* Adds the templates a send_email action may use (its own and its variants') to the request. */
extern void mt_act_want_action_templates(MtActRequest *request, const MtAction *action);

/* Loads what the request names, as of as_of (the caller is in SPI). */
extern MtActData *mt_act_load(const MtActRequest *request, TimestampTz as_of);

/* The loaded row of an event, user or template; NULL when there is none. */
extern MtLoadedEvent *mt_act_event(const MtActData *data, int64 id);
extern MtLoadedUser *mt_act_user(const MtActData *data, const char *user_id);
extern MtLoadedTemplate *mt_act_template(const MtActData *data, const char *name);

/*
 * The device of an event (API.md "render context"): its `device` param (a string), else its
 * `user_agent` param classified (a bot: none); NULL when neither gives one.
 */
extern const char *mt_event_device(Jsonb *params);

/* An event's device, else its user's latest (as loaded); NULL when there is none. */
extern const char *mt_act_device(const MtLoadedEvent *event, const MtLoadedUser *user);

/*
 * Reads the users' mails again (a failed batch was rolled back: what it noted is gone), in the
 * caller's memory context.
 */
extern void mt_act_reload_mails(MtActData *data);

/* Notes an email the batch queued for a user (later emails of the batch count it). */
extern MtUserMail *mt_act_note_mail(struct MtActData *data, MtLoadedUser *user, const MtUserMail *mail);

/* Remembers that a firing queued an email (later firings of the batch see it in the cooldown). */
extern void mt_act_note_queued(MtActData *data, const char *trigger_name, const char *user_id,
							   int64 firing_id, TimestampTz event_at);

#endif
