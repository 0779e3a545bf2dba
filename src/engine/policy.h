/*
 * policy.h: the decide stage of acting — rules over what the load stage read, in C. Its one
 * cooldown rule is here; caps, send windows, holdouts and experiments go beside it.
 */
#ifndef MT_POLICY_H
#define MT_POLICY_H

#include "postgres.h"

#include "utils/timestamp.h"

#include "pgtime.h"

#include "act_load.h"
#include "definition.h"
#include "send_window.h"

/*
 * The cooldown window around an event time: (from, to), both open; false when the trigger has
 * no cooldown. The one definition of the window, for ingest's pre-check and run_pending alike.
 */
extern bool mt_policy_cooldown_window(TimestampTz event_at, MtDuration cooldown, TimestampTz *from,
									  TimestampTz *to);

/*
 * The cooldown rule: has another firing of the trigger for the user, inside the window around
 * event_at, queued an email? Checked against the loaded (and, as the batch goes on, noted) queued
 * firings; the firing itself does not count.
 */
extern bool mt_policy_in_cooldown(const MtActData *data, const MtTrigger *trigger, const char *user_id,
								  int64 firing_id, TimestampTz event_at);

/*
 * Consent: records the decision (no_contact, unsubscribed, no_email, suppressed) and returns its
 * outcome when the contact may not be mailed; NULL when it may be.
 */
extern const char *mt_contact_refusal(const MtContact *contact, const MtDecisionKey *key,
									  TimestampTz as_of);

/*
 * Staleness: true (and the decision `stale` recorded, its detail the trigger time, the lateness
 * and the max_lateness) when as_of is later than max_lateness after trigger_time. max_lateness
 * is the timing's (has_max_lateness) or microtrigger.max_lateness. Transactional email too.
 */
extern bool mt_policy_stale(const MtTiming *timing, TimestampTz trigger_time, const MtDecisionKey *key,
							TimestampTz as_of);

/*
 * When one email goes, and the moment it will be rendered for (docs/timing.md, "The order of the
 * timing rules"): from `due` (trigger time + delay, or a journey step's time), the optimal send
 * time within its horizon (send_time), then the send window or quiet hours (not for
 * transactional email), in the contact's zone.
 */
typedef struct MtSendPlan
{
	TimestampTz send_after;		/* the outbox row's send_after */
	TimestampTz held_until;		/* a window held it until then (== send_after); 0: not held */
	int			optimal;		/* send_time optimal asked: 1 chosen, 0 too little history; -1 not asked */
	TimestampTz moment;			/* when it will be sent: max(send_after, as_of) */
	bool		has_local;		/* the moment's local fields (false: out of years 1..9999) */
	MtLocalTime local;			/* the moment in the contact's zone */
	pg_tz	   *tz;				/* the contact's zone (UTC without a contact) */
	const char *zone;
} MtSendPlan;

/* Plans one email (see MtSendPlan); `timing` is the merged timing of the email. */
extern void mt_policy_send_plan(const MtTiming *timing, const MtContact *contact, const char *user_id,
								TimestampTz due, TimestampTz as_of, MtSendPlan *out);

/*
 * Fatigue (API.md "Frequency caps and priority"): may one more email (timing merged, planned)
 * go to the user? capped: no, `rule` (the cap's name, or "signal") and `winner` (the trigger or
 * sequence whose email keeps its place) say why. Else `victim`, when not NULL, is a queued,
 * unsent email of lower priority it replaces if it is queued (mt_policy_replace).
 */
typedef struct MtFatigue
{
	bool		capped;
	const char *rule;
	const char *winner;
	MtUserMail *victim;
	const char *victim_rule;
} MtFatigue;

/*
 * Decides fatigue for an email of `trigger_name` (NULL for a journey step) on source event
 * `source_event_id` (0: none) for a user as loaded. One email per (user, signal): a trigger's
 * email and another trigger's on the same event, unless both are transactional; then every
 * frequency_caps row of its category (not for transactional email).
 */
extern void mt_policy_fatigue(const MtActData *data, MtLoadedUser *user, const MtTiming *timing,
							  const char *trigger_name, int64 source_event_id, const MtSendPlan *plan,
							  MtFatigue *out);

/* Records a capped decision of the new email (key) from the verdict. */
extern void mt_policy_record_capped(const MtFatigue *verdict, const MtDecisionKey *key, TimestampTz as_of);

/*
 * After the new email (key, outbox_id: 0 while a batch keeps its writes) was queued: cancels the
 * victim (its decision `capped` names the rule and the winner) and notes the new email in the
 * user's mails.
 */
extern void mt_policy_after_queued(MtActData *data, MtLoadedUser *user, const MtFatigue *verdict, const MtTiming *timing,
								   const MtDecisionKey *key, int64 outbox_id, const MtSendPlan *plan,
								   TimestampTz as_of);

#endif
