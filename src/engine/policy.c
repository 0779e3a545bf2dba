/*
 * policy.c: the decide stage of acting (policy.h): decisions made in C over the rows the load
 * stage read, with no SQL of their own.
 */
#include "postgres.h"

#include "common/int.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "decisions.h"
#include "definition.h"
#include "local_time.h"
#include "policy.h"

/* The cooldown window around event_at (see policy.h). */
bool
mt_policy_cooldown_window(TimestampTz event_at, MtDuration cooldown, TimestampTz *from, TimestampTz *to)
{
	if (cooldown <= 0)
		return false;
	*from = mt_time_add_saturated(event_at, -cooldown);
	*to = mt_time_add_saturated(event_at, cooldown);
	return true;
}

/* The cooldown rule (see policy.h). */
bool
mt_policy_in_cooldown(const MtActData *data, const MtTrigger *trigger, const char *user_id,
					  int64 firing_id, TimestampTz event_at)
{
	TimestampTz from;
	TimestampTz to;

	if (!mt_policy_cooldown_window(event_at, trigger->cooldown, &from, &to))
		return false;
	for (int i = 0; i < data->n_queued; i++)
	{
		const MtQueuedFiring *q = &data->queued[i];

		if (q->firing_id != firing_id && q->event_at > from && q->event_at < to &&
			strcmp(q->user_id, user_id) == 0 && strcmp(q->trigger_name, trigger->name) == 0)
			return true;
	}
	return false;
}

/* Consent: records why a contact may not be mailed and returns the outcome; NULL when it may be. */
const char *
mt_contact_refusal(const MtContact *contact, const MtDecisionKey *key, TimestampTz as_of)
{
	if (!contact->found)
	{
		mt_record_decision(key, as_of, "no_contact", mt_detail1("reason", "no row in microtrigger.contacts"));
		return "no_contact";
	}
	if (contact->unsubscribed)
	{
		mt_record_decision(key, as_of, "unsubscribed", NULL);
		return "unsubscribed";
	}
	if (contact->email == NULL || contact->email[0] == '\0')
	{
		mt_record_decision(key, as_of, "no_email", NULL);
		return "no_email";
	}
	if (contact->suppressed_reason != NULL)
	{
		mt_record_decision(key, as_of, "suppressed", mt_detail1("reason", contact->suppressed_reason));
		return "suppressed";
	}
	return NULL;
}

/*
 * A duration of microseconds >= 0 as text in PostgreSQL's interval style, whatever the session's
 * IntervalStyle: "1 day 14:00:00", "03:00:00", "2 days 00:00:00.5".
 */
static char *
duration_text(int64 usecs)
{
	int64		days = usecs / USECS_PER_DAY;
	int64		rest = usecs % USECS_PER_DAY;
	int64		secs = rest / USECS_PER_SEC;
	int64		frac = rest % USECS_PER_SEC;
	char	   *clock = psprintf("%02d:%02d:%02d", (int) (secs / 3600), (int) (secs / 60 % 60), (int) (secs % 60));

	if (frac != 0)
	{
		char	   *f = psprintf(".%06d", (int) frac);
		int			len = strlen(f);

		while (len > 1 && f[len - 1] == '0')
			f[--len] = '\0';
		clock = psprintf("%s%s", clock, f);
	}
	if (days == 0)
		return clock;
	return psprintf(INT64_FORMAT " day%s %s", days, days == 1 ? "" : "s", clock);
}

/* Staleness (see policy.h). */
bool
mt_policy_stale(const MtTiming *timing, TimestampTz trigger_time, const MtDecisionKey *key,
				TimestampTz as_of)
{
	int64		max_lateness = timing && timing->has_max_lateness ? timing->max_lateness
		: mt_default_max_lateness();
	int64		lateness;
	const char *keys[3] = {"trigger_time", "lateness", "max_lateness"};
	const char *texts[3];

	if (pg_sub_s64_overflow(as_of, trigger_time, &lateness))
		lateness = PG_INT64_MAX;	/* (from before the beginning of time: stale) */
	if (lateness <= max_lateness)
		return false;
	texts[0] = DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(trigger_time)));
	texts[1] = duration_text(lateness);
	texts[2] = duration_text(max_lateness);
	mt_record_decision(key, as_of, "stale", mt_detail_object(3, keys, texts));
	return true;
}
