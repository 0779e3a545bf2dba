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
#include "send_time_sql.h"

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

/*
 * Can local time be had for t, with room for a window search (three weeks) after it? Years 1 to
 * 9999 only; the ends of time (170_time_limits) are planned without local time.
 */
static bool
local_range(TimestampTz t)
{
	int64		s;

	if (TIMESTAMP_NOT_FINITE(t))
		return false;
	s = t / USECS_PER_SEC + MT_UNIX_EPOCH_OFFSET;
	return s >= INT64_C(-62135596800) + 86400 && s < INT64_C(253402300800) - 60 * 86400;
}

/* Plans one email (see policy.h). */
void
mt_policy_send_plan(const MtTiming *timing, const MtContact *contact, const char *user_id,
					TimestampTz due, TimestampTz as_of, MtSendPlan *out)
{
	MtSendWindow window;
	bool		has_window = false;
	TimestampTz from = Max(due, as_of);		/* an email acted on late cannot go before now */

	memset(out, 0, sizeof(*out));
	out->send_after = due;
	out->optimal = -1;
	out->zone = contact && contact->found && contact->timezone ? contact->timezone : "UTC";
	out->tz = mt_zone_lookup(out->zone, "contact timezone");
	if (!timing->transactional)
	{
		if (timing->has_send_window)
		{
			window = timing->send_window;
			has_window = true;
		}
		else
			has_window = mt_quiet_hours_window(&window);
	}
	if (local_range(from))
	{
		if (!timing->transactional && timing->has_send_time && timing->send_time == MT_SEND_TIME_OPTIMAL)
		{
			MtSendTimeResult r;
			int64		within = timing->send_time_within > 0 ? timing->send_time_within
				: MT_OPTIMAL_WITHIN_DEFAULT;

			mt_optimal_send_time(user_id, out->zone, from, within, as_of, &r);
			out->optimal = r.optimal ? 1 : 0;
			if (r.send_at > from)
				out->send_after = from = r.send_at;
		}
		if (has_window && local_range(from))
		{
			TimestampTz next = mt_window_next(&window, out->tz, from);

			if (next > from)
				out->send_after = out->held_until = next;
		}
	}
	out->moment = Max(out->send_after, as_of);
	if ((out->has_local = local_range(out->moment)))
		mt_local_time_of(out->moment, out->tz, &out->local);
}
