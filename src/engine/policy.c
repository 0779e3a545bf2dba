/*
 * policy.c: the decide stage of acting (policy.h): decisions made in C over the rows the load
 * stage read, with no SQL of their own.
 */
#include "postgres.h"

#include "decisions.h"
#include "definition.h"
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
