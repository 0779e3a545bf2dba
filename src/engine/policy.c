/*
 * policy.c: the decide stage of acting (policy.h): decisions made in C over the rows the load
 * stage read, with no SQL of their own.
 */
#include "postgres.h"

#include "common/int.h"
#include "utils/datetime.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "act_write.h"
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

/* The effective category and priority of a merged timing. */
static const char *
timing_category(const MtTiming *timing)
{
	return timing->category ? timing->category : MT_CATEGORY_DEFAULT;
}

/* The effective priority of a merged timing. */
static int
timing_priority(const MtTiming *timing)
{
	return timing->has_priority ? timing->priority : MT_PRIORITY_DEFAULT;
}

/* The instant of local midnight starting a civil date in tz. */
static TimestampTz
local_midnight(int year, int month, int day, pg_tz *tz)
{
	Timestamp	wall = (Timestamp) (date2j(year, month, day) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;

	return mt_local_to_utc(wall, tz);
}

/*
 * The period of a cap around the new email: a calendar day, ISO week or month containing its
 * moment in the contact's zone, [from, to); or a rolling interval, (moment - i, moment + i).
 */
static void
cap_period(const MtCapRule *cap, const MtSendPlan *plan, TimestampTz *from, TimestampTz *to, bool *open_from)
{
	const MtLocalTime *l = &plan->local;
	int			y = l->year,
				m = l->month,
				d = l->day;

	*open_from = false;
	if (!cap->calendar || !plan->has_local)
	{
		int64		i = cap->calendar ? (cap->calendar == 'd' ? 1 : cap->calendar == 'w' ? 7 : 31) * USECS_PER_DAY
			: cap->rolling;

		*from = mt_time_add_saturated(plan->moment, -i);
		*to = mt_time_add_saturated(plan->moment, i);
		*open_from = true;
		return;
	}
	if (cap->calendar == 'd')
	{
		*from = local_midnight(y, m, d, plan->tz);
		j2date(date2j(y, m, d) + 1, &y, &m, &d);
		*to = local_midnight(y, m, d, plan->tz);
	}
	else if (cap->calendar == 'w')
	{
		j2date(date2j(y, m, d) - l->weekday, &y, &m, &d);
		*from = local_midnight(y, m, d, plan->tz);
		j2date(date2j(y, m, d) + 7, &y, &m, &d);
		*to = local_midnight(y, m, d, plan->tz);
	}
	else
	{
		*from = local_midnight(y, m, 1, plan->tz);
		*to = m == 12 ? local_midnight(y + 1, 1, 1, plan->tz) : local_midnight(y, m + 1, 1, plan->tz);
	}
}

/* The name an email is known by in a decision: its trigger's, else its sequence's. */
static const char *
mail_name(const MtUserMail *mail)
{
	return mail->sequence_name ? mail->sequence_name : mail->trigger_name;
}

/* Fatigue (see policy.h). */
void
mt_policy_fatigue(const MtActData *data, MtLoadedUser *user, const MtTiming *timing,
				  const char *trigger_name, int64 source_event_id, const MtSendPlan *plan, MtFatigue *out)
{
	int			priority = timing_priority(timing);
	const char *category = timing_category(timing);

	memset(out, 0, sizeof(*out));
	if (user == NULL)
		return;
	/* one email per (user, signal): the other trigger's email on the same event */
	if (trigger_name != NULL && source_event_id != 0)
		for (int i = 0; i < user->n_mails; i++)
		{
			MtUserMail *m = &user->mails[i];

			if (m->cancelled || m->source_event_id != source_event_id || m->sequence_name != NULL ||
				m->trigger_name == NULL || strcmp(m->trigger_name, trigger_name) == 0 ||
				(m->transactional && timing->transactional))
				continue;
			if (m->priority >= priority || !m->queued || out->victim != NULL)
			{
				out->capped = true;
				out->rule = "signal";
				out->winner = mail_name(m);
				return;
			}
			out->victim = m;
			out->victim_rule = "signal";
		}
	if (timing->transactional)
		return;
	for (int c = 0; c < data->n_caps; c++)
	{
		const MtCapRule *cap = &data->caps[c];
		TimestampTz from;
		TimestampTz to;
		bool		open_from;
		int			count = 0;
		MtUserMail *lowest = NULL;
		const MtUserMail *kept = NULL;

		if (strcmp(cap->category, category) != 0)
			continue;
		cap_period(cap, plan, &from, &to, &open_from);
		for (int i = 0; i < user->n_mails; i++)
		{
			MtUserMail *m = &user->mails[i];

			if (m->cancelled || m == out->victim || m->transactional || strcmp(m->category, category) != 0 ||
				m->send_after >= to || (open_from ? m->send_after <= from : m->send_after < from))
				continue;
			count++;
			if (m->queued && m->priority < priority &&
				(lowest == NULL || m->priority < lowest->priority ||
				 (m->priority == lowest->priority && m->send_after > lowest->send_after)))
				lowest = m;
			if (kept == NULL || m->priority > kept->priority)
				kept = m;
		}
		if (count < cap->max_emails)
			continue;
		if (count == cap->max_emails && lowest != NULL && out->victim == NULL)
		{
			out->victim = lowest;
			out->victim_rule = cap->name;
			continue;
		}
		out->capped = true;
		out->rule = cap->name;
		out->winner = kept ? mail_name(kept) : NULL;
		out->victim = NULL;
		return;
	}
}

/* Records a capped decision of the new email (see policy.h). */
void
mt_policy_record_capped(const MtFatigue *verdict, const MtDecisionKey *key, TimestampTz as_of)
{
	const char *keys[2] = {strcmp(verdict->rule, "signal") == 0 ? "signal" : "cap", "winner"};
	const char *texts[2] = {strcmp(verdict->rule, "signal") == 0 ? psprintf(INT64_FORMAT, key->source_event_id)
		: verdict->rule, verdict->winner};

	mt_record_decision(key, as_of, "capped", mt_detail_object(2, keys, texts));
}

/* Cancels the victim and notes the new email (see policy.h). */
void
mt_policy_after_queued(MtActData *data, MtLoadedUser *user, const MtFatigue *verdict, const MtTiming *timing,
					   const MtDecisionKey *key, int64 outbox_id, const MtSendPlan *plan, TimestampTz as_of)
{
	MtUserMail	mail = {0};

	if (user == NULL)
		return;
	if (verdict->victim != NULL)
	{
		MtUserMail *v = verdict->victim;
		MtDecisionKey vkey = {key->user_id, v->trigger_name, v->sequence_name, v->source_event_id};
		bool		signal = strcmp(verdict->victim_rule, "signal") == 0;
		const char *keys[3] = {signal ? "signal" : "cap", "winner", "outbox_id"};
		const char *texts[3] = {signal ? psprintf(INT64_FORMAT, v->source_event_id) : verdict->victim_rule,
			key->sequence_name ? key->sequence_name : key->trigger_name, psprintf(INT64_FORMAT, v->outbox_id)};

		if (v->outbox_id == 0)
			/* queued by this batch and not written yet: the batch is replayed one by one */
			ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							errmsg("an email of this batch is replaced by priority before it is written")));
		mt_write_cancel(v->outbox_id, psprintf("capped: %s (replaced by %s)", texts[0], texts[1]));
		mt_record_decision(&vkey, as_of, "capped", mt_detail_object(3, keys, texts));
		v->cancelled = true;
	}
	mail.outbox_id = outbox_id;
	mail.send_after = plan->moment;
	mail.category = (char *) timing_category(timing);
	mail.priority = timing_priority(timing);
	mail.transactional = timing->transactional;
	mail.queued = true;
	mail.source_event_id = key->source_event_id;
	mail.trigger_name = (char *) key->trigger_name;
	mail.sequence_name = (char *) key->sequence_name;
	(void) mt_act_note_mail(data, user, &mail);
}
