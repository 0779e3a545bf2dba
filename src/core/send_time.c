/*
 * send_time.c: the profile of a user's engagement by local hour of week and the choice of the
 * best hour within a horizon (send_time.h). No PostgreSQL dependency.
 */
#include <math.h>
#include <string.h>

#include "send_time.h"

/* The weight at age 0 of an event of that type. */
double
mt_send_time_type_weight(const char *event_type)
{
	if (event_type != NULL && strcmp(event_type, "email_click") == 0)
		return MT_SEND_TIME_WEIGHT_CLICK;
	if (event_type != NULL && strcmp(event_type, "email_open") == 0)
		return MT_SEND_TIME_WEIGHT_OPEN;
	return MT_SEND_TIME_WEIGHT_SITE;
}

/* What is left of a weight after age_seconds: halved every half-life. */
double
mt_send_time_decay(double age_seconds)
{
	if (!(age_seconds > 0))
		return 1.0;
	return exp2(-age_seconds / (MT_SEND_TIME_HALF_LIFE_DAYS * 86400.0));
}

/* The weight of an event of that type and age. */
double
mt_send_time_event_weight(const char *event_type, double age_seconds)
{
	return mt_send_time_type_weight(event_type) * mt_send_time_decay(age_seconds);
}

/* The hour of week of a local weekday (0 = Monday) and hour, or -1. */
int
mt_hour_of_week(int weekday, int hour)
{
	if (weekday < 0 || weekday > 6 || hour < 0 || hour > 23)
		return -1;
	return weekday * 24 + hour;
}

/* The profile: neighbour smoothing (1/4, 1/2, 1/4, circular), then pooling over the days. */
void
mt_send_time_smooth(const double raw[MT_SEND_TIME_HOURS], double profile[MT_SEND_TIME_HOURS])
{
	double		near[MT_SEND_TIME_HOURS];
	double		by_hour[24] = {0};

	for (int h = 0; h < MT_SEND_TIME_HOURS; h++)
	{
		double		before = raw[(h + MT_SEND_TIME_HOURS - 1) % MT_SEND_TIME_HOURS];
		double		after = raw[(h + 1) % MT_SEND_TIME_HOURS];

		near[h] = 0.25 * before + 0.5 * raw[h] + 0.25 * after;
		by_hour[h % 24] += near[h];
	}
	for (int h = 0; h < MT_SEND_TIME_HOURS; h++)
		profile[h] = (1.0 - MT_SEND_TIME_DAY_POOL) * near[h] + MT_SEND_TIME_DAY_POOL * by_hour[h % 24] / 7.0;
}

/* The total weight. */
double
mt_send_time_history(const double profile[MT_SEND_TIME_HOURS])
{
	double		total = 0;

	for (int h = 0; h < MT_SEND_TIME_HOURS; h++)
		total += profile[h];
	return total;
}

/*
 * The offset of the best of n_hours hours from start_how. Ties keep the earliest; weights within
 * a billionth of the history of each other are equal (sums in another order round differently).
 */
MtSendTimeChoice
mt_send_time_best(const double profile[MT_SEND_TIME_HOURS], int start_how, int n_hours, int *offset)
{
	double		history = mt_send_time_history(profile);
	double		best;

	*offset = 0;
	if (start_how < 0 || start_how >= MT_SEND_TIME_HOURS || n_hours < 1)
		return MT_SEND_TIME_BAD_INPUT;
	if (!(history >= MT_SEND_TIME_MIN_HISTORY))
		return MT_SEND_TIME_TOO_LITTLE;
	best = profile[start_how];
	for (int k = 1; k < n_hours; k++)
	{
		double		w = profile[(start_how + k) % MT_SEND_TIME_HOURS];

		if (w - best > 1e-9 * history)
		{
			best = w;
			*offset = k;
		}
	}
	return MT_SEND_TIME_CHOSEN;
}
