/*
 * definition.c: parse, validate and compile trigger definitions (json-c in, MtTrigger out).
 * No PostgreSQL dependency; every error names the JSON path and the reason.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "definition.h"
#include "mtalloc.h"

#define PATH_MAX_LEN 512

/* A copy of a json-c string. */
static char *
copy_json_string(struct json_object *value)
{
	return mt_strndup(json_object_get_string(value), (size_t) json_object_get_string_len(value));
}

/* The JSON type of a value, for messages ("a number", "an array", ...). */
const char *
mt_json_type_phrase(struct json_object *value)
{
	switch (json_object_get_type(value))
	{
		case json_type_null:
			return "null";
		case json_type_boolean:
			return "a boolean";
		case json_type_double:
		case json_type_int:
			return "a number";
		case json_type_object:
			return "an object";
		case json_type_array:
			return "an array";
		case json_type_string:
			return "a string";
	}
	return "a value";
}

/* Fails with "unknown key" unless key is one of the NULL-terminated allowed names. */
bool
mt_check_known_keys(struct json_object *object, const char *path, const char *what,
				 const char *const *allowed, MtError *err)
{
	json_object_object_foreach(object, key, value)
	{
		bool		known = false;
		char		child[PATH_MAX_LEN];

		(void) value;
		for (int i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				known = true;
		if (!known)
		{
			mt_path_key(child, sizeof(child), path, key);
			return mt_error_set(err, child, "unknown key \"%s\" in %s", key, what);
		}
	}
	return true;
}

/* A non-empty string, copied into *out. */
bool
mt_parse_nonempty_string(struct json_object *value, const char *path, const char *what,
					  char **out, MtError *err)
{
	if (!json_object_is_type(value, json_type_string))
		return mt_error_set(err, path, "%s must be a string, not %s", what, mt_json_type_phrase(value));
	if (json_object_get_string_len(value) == 0)
		return mt_error_set(err, path, "%s must not be empty", what);
	*out = copy_json_string(value);
	return true;
}

/* One event type name or a non-empty array of them. */
static bool
parse_event_types(struct json_object *value, const char *path, char ***types, int *n_types,
				  MtError *err)
{
	if (json_object_is_type(value, json_type_string))
	{
		*types = mt_alloc(sizeof(char *));
		*n_types = 1;
		return mt_parse_nonempty_string(value, path, "an event type", &(*types)[0], err);
	}
	if (!json_object_is_type(value, json_type_array) || json_object_array_length(value) == 0)
		return mt_error_set(err, path, "event must be an event type or a non-empty array of them, not %s",
							mt_json_type_phrase(value));
	*n_types = (int) json_object_array_length(value);
	*types = mt_alloc(sizeof(char *) * (size_t) *n_types);
	for (int i = 0; i < *n_types; i++)
	{
		char		child[PATH_MAX_LEN];

		mt_path_index(child, sizeof(child), path, i);
		if (!mt_parse_nonempty_string(json_object_array_get_idx(value, (size_t) i), child,
								   "an event type", &(*types)[i], err))
			return false;
	}
	return true;
}

/* Parse "HH:MM[:SS[.frac]]" into microseconds; false when s is not of that shape. */
static bool
parse_clock_duration(const char *s, MtDuration *out)
{
	int			hours,
				minutes;
	double		seconds = 0;
	int			consumed = 0;

	if (sscanf(s, "%d:%d%n", &hours, &minutes, &consumed) < 2 || hours < 0 || minutes < 0 || minutes > 59)
		return false;
	if (s[consumed] == ':')
	{
		int			more = 0;

		if (sscanf(s + consumed + 1, "%lf%n", &seconds, &more) < 1 || seconds < 0 || seconds >= 60)
			return false;
		consumed += 1 + more;
	}
	while (isspace((unsigned char) s[consumed]))
		consumed++;
	if (s[consumed] != '\0')
		return false;
	*out = ((MtDuration) hours * 3600 + minutes * 60) * MT_USECS_PER_SEC +
		(MtDuration) llround(seconds * 1e6);
	return true;
}

/* The microseconds one unit of an interval string stands for; 0 when unknown. */
static double
unit_microseconds(const char *unit, size_t len)
{
	static const struct
	{
		const char *name;
		double		usecs;
	}			units[] = {
		{"us", 1}, {"usec", 1}, {"usecs", 1}, {"microsecond", 1}, {"microseconds", 1},
		{"ms", 1e3}, {"msec", 1e3}, {"msecs", 1e3}, {"millisecond", 1e3}, {"milliseconds", 1e3},
		{"s", 1e6}, {"sec", 1e6}, {"secs", 1e6}, {"second", 1e6}, {"seconds", 1e6},
		{"m", 60e6}, {"min", 60e6}, {"mins", 60e6}, {"minute", 60e6}, {"minutes", 60e6},
		{"h", 3600e6}, {"hr", 3600e6}, {"hrs", 3600e6}, {"hour", 3600e6}, {"hours", 3600e6},
		{"d", 86400e6}, {"day", 86400e6}, {"days", 86400e6},
		{"w", 604800e6}, {"week", 604800e6}, {"weeks", 604800e6},
		{"mon", 2592000e6}, {"mons", 2592000e6}, {"month", 2592000e6}, {"months", 2592000e6},
		{"y", 31557600e6}, {"yr", 31557600e6}, {"yrs", 31557600e6}, {"year", 31557600e6},
		{"years", 31557600e6},
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].name) == len && strncasecmp(units[i].name, unit, len) == 0)
			return units[i].usecs;
	return 0;
}

/*
 * Parse an interval string: "30 minutes", "1 day 2 hours", "90s", "1.5 hours", "01:30:00",
 * or a bare number of seconds. Negative or unknown forms are refused.
 */
bool
mt_parse_duration_text(const char *text, MtDuration *out)
{
	const char *p = text;
	double		total = 0;
	bool		any = false;

	while (isspace((unsigned char) *p))
		p++;
	if (strchr(p, ':') != NULL)
		return parse_clock_duration(p, out);
	while (*p != '\0')
	{
		char	   *end;
		double		amount;
		const char *unit;
		size_t		unit_len;
		double		per_unit;

		if (!(isdigit((unsigned char) *p) || *p == '.'))
			return false;
		amount = strtod(p, &end);
		if (end == p || !isfinite(amount) || amount < 0)
			return false;
		p = end;
		while (isspace((unsigned char) *p))
			p++;
		unit = p;
		while (isalpha((unsigned char) *p))
			p++;
		unit_len = (size_t) (p - unit);
		if (unit_len == 0)
		{
			/* a bare number is seconds, only when it is the whole string */
			if (any || *p != '\0')
				return false;
			per_unit = 1e6;
		}
		else if ((per_unit = unit_microseconds(unit, unit_len)) == 0)
			return false;
		total += amount * per_unit;
		any = true;
		while (isspace((unsigned char) *p) || *p == ',')
			p++;
	}
	if (!any || total > 1e17)
		return false;
	*out = (MtDuration) llround(total);
	return true;
}

/* The error of a duration longer than MT_DURATION_MAX. */
static bool
duration_too_long(const char *path, MtError *err)
{
	return mt_error_set(err, path, "a duration may be at most 10 years (%lld seconds)",
						(long long) MT_DURATION_MAX_SECONDS);
}

/* A duration value: seconds as a JSON number, or an interval string; at most MT_DURATION_MAX. */
bool
mt_parse_duration(struct json_object *value, const char *path, MtDuration *out, MtError *err)
{
	if (json_object_is_type(value, json_type_int) || json_object_is_type(value, json_type_double))
	{
		double		seconds = json_object_get_double(value);

		if (!isfinite(seconds) || seconds < 0)
			return mt_error_set(err, path, "a duration must be a non-negative number of seconds");
		if (seconds > (double) MT_DURATION_MAX_SECONDS)
			return duration_too_long(path, err);
		*out = (MtDuration) llround(seconds * 1e6);
		return true;
	}
	if (json_object_is_type(value, json_type_string))
	{
		if (!mt_parse_duration_text(json_object_get_string(value), out))
			return mt_error_set(err, path, "bad duration \"%s\" (use e.g. \"30 minutes\", \"1 day\" or a number of seconds)",
								json_object_get_string(value));
		if (*out > MT_DURATION_MAX)
			return duration_too_long(path, err);
		return true;
	}
	return mt_error_set(err, path, "a duration must be a string such as \"30 minutes\" or a number of seconds, not %s",
						mt_json_type_phrase(value));
}

/* Is t a finite timestamp? */
bool
mt_time_is_finite(int64_t t)
{
	return t >= MT_TIME_MIN && t < MT_TIME_END;
}

/* t + d when both t and the result are finite timestamps. */
bool
mt_time_add(int64_t t, MtDuration d, int64_t *out)
{
	int64_t		result;

	if (!mt_time_is_finite(t) || __builtin_add_overflow(t, d, &result) || !mt_time_is_finite(result))
		return false;
	*out = result;
	return true;
}

/* t + d, -infinity below the finite range and infinity above it; ±infinity stays. */
int64_t
mt_time_add_saturated(int64_t t, MtDuration d)
{
	int64_t		result;

	if (t == MT_TIME_NOBEGIN || t == MT_TIME_NOEND)
		return t;
	if (__builtin_add_overflow(t, d, &result))
		return d < 0 ? MT_TIME_NOBEGIN : MT_TIME_NOEND;
	if (result < MT_TIME_MIN)
		return MT_TIME_NOBEGIN;
	if (result >= MT_TIME_END)
		return MT_TIME_NOEND;
	return result;
}

/* The count operator a name stands for ("$gte" or "gte"); false when unknown. */
static bool
count_op_from_name(const char *name, MtCountOp *op)
{
	static const struct
	{
		const char *name;
		MtCountOp	op;
	}			ops[] = {
		{"eq", MT_COUNT_EQ}, {"ne", MT_COUNT_NE}, {"gt", MT_COUNT_GT},
		{"gte", MT_COUNT_GTE}, {"lt", MT_COUNT_LT}, {"lte", MT_COUNT_LTE},
	};

	if (name[0] == '$')
		name++;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(name, ops[i].name) == 0)
		{
			*op = ops[i].op;
			return true;
		}
	return false;
}

/* A non-negative integer count operand. */
static bool
parse_count_value(struct json_object *value, const char *path, int64_t *out, MtError *err)
{
	if (json_object_is_type(value, json_type_int))
	{
		*out = json_object_get_int64(value);
		if (*out >= 0)
			return true;
	}
	else if (json_object_is_type(value, json_type_double))
	{
		double		d = json_object_get_double(value);

		if (d >= 0 && d == floor(d) && d < 9e15)
		{
			*out = (int64_t) d;
			return true;
		}
	}
	return mt_error_set(err, path, "a count must be a non-negative integer");
}

/* count: a number (exactly that many) or {"$gte": 3, "$lt": 10}. */
static bool
parse_count(struct json_object *value, const char *path, MtClause *clause, MtError *err)
{
	if (!json_object_is_type(value, json_type_object))
	{
		clause->count = mt_alloc(sizeof(MtCountTerm));
		clause->n_count = 1;
		clause->count[0].op = MT_COUNT_EQ;
		return parse_count_value(value, path, &clause->count[0].value, err);
	}
	if (json_object_object_length(value) == 0)
		return mt_error_set(err, path, "count needs at least one comparison such as {\"$gte\": 3}");
	clause->count = mt_alloc(sizeof(MtCountTerm) * (size_t) json_object_object_length(value));
	{
		json_object_object_foreach(value, key, operand)
		{
		char		child[PATH_MAX_LEN];
		MtCountTerm *term = &clause->count[clause->n_count];

		mt_path_key(child, sizeof(child), path, key);
		if (!count_op_from_name(key, &term->op))
			return mt_error_set(err, child, "unknown count operator \"%s\" (use $eq, $ne, $gt, $gte, $lt or $lte)", key);
		if (!parse_count_value(operand, child, &term->value, err))
			return false;
		clause->n_count++;
		}
	}
	return true;
}

/* same: a param name or an array of them. */
static bool
parse_same(struct json_object *value, const char *path, MtClause *clause, MtError *err)
{
	if (json_object_is_type(value, json_type_string))
	{
		clause->same = mt_alloc(sizeof(char *));
		clause->n_same = 1;
		return mt_parse_nonempty_string(value, path, "a param name", &clause->same[0], err);
	}
	if (!json_object_is_type(value, json_type_array) || json_object_array_length(value) == 0)
		return mt_error_set(err, path, "same must be a param name or a non-empty array of them, not %s",
							mt_json_type_phrase(value));
	clause->n_same = (int) json_object_array_length(value);
	clause->same = mt_alloc(sizeof(char *) * (size_t) clause->n_same);
	for (int i = 0; i < clause->n_same; i++)
	{
		char		child[PATH_MAX_LEN];

		mt_path_index(child, sizeof(child), path, i);
		if (!mt_parse_nonempty_string(json_object_array_get_idx(value, (size_t) i), child,
								   "a param name", &clause->same[i], err))
			return false;
	}
	return true;
}

/* A condition object at path; NULL (and an error) when not an object or not valid. */
MtCondition *
mt_parse_condition(struct json_object *value, const char *path, MtError *err)
{
	if (!json_object_is_type(value, json_type_object))
	{
		mt_error_set(err, path, "a condition must be a JSON object, not %s", mt_json_type_phrase(value));
		return NULL;
	}
	return mt_condition_compile(value, path, err);
}

/* An event clause: {"event", "condition", "within", "count", "same"} as its kind allows. */
bool
mt_parse_clause(struct json_object *json, const char *path, const char *kind,
				bool allow_count, bool require_within, MtClause *out, MtError *err)
{
	static const char *const with_count[] = {"event", "condition", "within", "count", NULL};
	static const char *const with_same[] = {"event", "condition", "within", "same", NULL};
	struct json_object *value;
	char		child[PATH_MAX_LEN];

	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(json, json_type_object))
		return mt_error_set(err, path, "%s must be an object, not %s", kind, mt_json_type_phrase(json));
	if (!mt_check_known_keys(json, path, kind, allow_count ? with_count : with_same, err))
		return false;
	if (json_object_object_get_ex(json, "event", &value))
	{
		mt_path_key(child, sizeof(child), path, "event");
		if (!parse_event_types(value, child, &out->event_types, &out->n_event_types, err))
			return false;
	}
	if (json_object_object_get_ex(json, "condition", &value))
	{
		mt_path_key(child, sizeof(child), path, "condition");
		if ((out->condition = mt_parse_condition(value, child, err)) == NULL)
			return false;
	}
	if (out->n_event_types == 0 && out->condition == NULL)
		return mt_error_set(err, path, "%s needs an event or a condition", kind);
	if (json_object_object_get_ex(json, "within", &value))
	{
		mt_path_key(child, sizeof(child), path, "within");
		if (!mt_parse_duration(value, child, &out->within, err))
			return false;
		if (out->within <= 0)
			return mt_error_set(err, child, "within must be longer than zero");
		out->has_within = true;
	}
	else if (require_within)
		return mt_error_set(err, path, "%s needs \"within\" (e.g. \"30 minutes\")", kind);
	if (allow_count && json_object_object_get_ex(json, "count", &value))
	{
		mt_path_key(child, sizeof(child), path, "count");
		if (!parse_count(value, child, out, err))
			return false;
	}
	else if (allow_count)
	{
		out->count = mt_alloc(sizeof(MtCountTerm));
		out->n_count = 1;
		out->count[0].op = MT_COUNT_GTE;
		out->count[0].value = 1;
	}
	if (!allow_count && json_object_object_get_ex(json, "same", &value))
	{
		mt_path_key(child, sizeof(child), path, "same");
		if (!parse_same(value, child, out, err))
			return false;
	}
	return true;
}

/* A goal: {"event", "within", "condition", "revenue"}; event and within are required. */
bool
mt_parse_goal(struct json_object *json, const char *path, MtGoal *out, MtError *err)
{
	static const char *const keys[] = {"event", "within", "condition", "revenue", NULL};
	struct json_object *value;
	char		child[PATH_MAX_LEN];

	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(json, json_type_object))
		return mt_error_set(err, path, "goal must be an object, not %s", mt_json_type_phrase(json));
	if (!mt_check_known_keys(json, path, "a goal", keys, err))
		return false;
	if (!json_object_object_get_ex(json, "event", &value))
		return mt_error_set(err, path, "a goal needs \"event\" (the event type of a conversion, e.g. \"purchase\")");
	mt_path_key(child, sizeof(child), path, "event");
	if (!parse_event_types(value, child, &out->clause.event_types, &out->clause.n_event_types, err))
		return false;
	if (!json_object_object_get_ex(json, "within", &value))
		return mt_error_set(err, path, "a goal needs \"within\" (e.g. \"7 days\")");
	mt_path_key(child, sizeof(child), path, "within");
	if (!mt_parse_duration(value, child, &out->clause.within, err))
		return false;
	if (out->clause.within <= 0)
		return mt_error_set(err, child, "within must be longer than zero");
	out->clause.has_within = true;
	if (json_object_object_get_ex(json, "condition", &value))
	{
		mt_path_key(child, sizeof(child), path, "condition");
		if ((out->clause.condition = mt_parse_condition(value, child, err)) == NULL)
			return false;
	}
	if (json_object_object_get_ex(json, "revenue", &value))
	{
		mt_path_key(child, sizeof(child), path, "revenue");
		if (!mt_parse_nonempty_string(value, child, "revenue (a param name)", &out->revenue, err))
			return false;
	}
	return true;
}

/* Frees what a goal owns. */
void
mt_goal_free_contents(MtGoal *goal)
{
	mt_clause_free_contents(&goal->clause);
	mt_free(goal->revenue);
	goal->revenue = NULL;
}

/* Is text a plain decimal number (sign, digits, fraction, short exponent)? */
bool
mt_goal_revenue_valid(const char *text, size_t len)
{
	size_t		i = 0;
	size_t		digits = 0;
	size_t		exp_digits = 0;

	if (len > 100)
		return false;
	while (i < len && text[i] == ' ')
		i++;
	if (i < len && (text[i] == '+' || text[i] == '-'))
		i++;
	while (i < len && isdigit((unsigned char) text[i]))
		i++, digits++;
	if (i < len && text[i] == '.')
	{
		i++;
		while (i < len && isdigit((unsigned char) text[i]))
			i++, digits++;
	}
	if (digits == 0)
		return false;
	if (i < len && (text[i] == 'e' || text[i] == 'E'))
	{
		i++;
		if (i < len && (text[i] == '+' || text[i] == '-'))
			i++;
		while (i < len && isdigit((unsigned char) text[i]))
			i++, exp_digits++;
		if (exp_digits == 0 || exp_digits > 3)
			return false;
	}
	while (i < len && text[i] == ' ')
		i++;
	return i == len;
}

/* Does count satisfy every term? */
bool
mt_count_passes(const MtClause *clause, int64_t count)
{
	for (int i = 0; i < clause->n_count; i++)
	{
		int64_t		v = clause->count[i].value;
		bool		ok = false;

		switch (clause->count[i].op)
		{
			case MT_COUNT_EQ:
				ok = count == v;
				break;
			case MT_COUNT_NE:
				ok = count != v;
				break;
			case MT_COUNT_GT:
				ok = count > v;
				break;
			case MT_COUNT_GTE:
				ok = count >= v;
				break;
			case MT_COUNT_LT:
				ok = count < v;
				break;
			case MT_COUNT_LTE:
				ok = count <= v;
				break;
		}
		if (!ok)
			return false;
	}
	return true;
}

/* Is the event type one the clause names (or does the clause take any)? */
bool
mt_clause_accepts_type(const MtClause *clause, const char *event_type, int len)
{
	if (clause->n_event_types == 0)
		return true;
	for (int i = 0; i < clause->n_event_types; i++)
		if ((int) strlen(clause->event_types[i]) == len &&
			memcmp(clause->event_types[i], event_type, (size_t) len) == 0)
			return true;
	return false;
}

/* session: {"min_depth": pages, "min_duration": duration}. */
static bool
parse_session(struct json_object *json, const char *path, MtTrigger *trigger, MtError *err)
{
	static const char *const keys[] = {"min_depth", "min_duration", NULL};
	struct json_object *value;
	char		child[PATH_MAX_LEN];

	if (!json_object_is_type(json, json_type_object))
		return mt_error_set(err, path, "session must be an object, not %s", mt_json_type_phrase(json));
	if (!mt_check_known_keys(json, path, "session", keys, err))
		return false;
	if (json_object_object_length(json) == 0)
		return mt_error_set(err, path, "session needs min_depth or min_duration");
	if (json_object_object_get_ex(json, "min_depth", &value))
	{
		int64_t		depth;

		mt_path_key(child, sizeof(child), path, "min_depth");
		if (!parse_count_value(value, child, &depth, err))
			return false;
		if (depth > 1000000)
			return mt_error_set(err, child, "min_depth is too large");
		trigger->session_min_depth = (int) depth;
	}
	if (json_object_object_get_ex(json, "min_duration", &value))
	{
		mt_path_key(child, sizeof(child), path, "min_duration");
		if (!mt_parse_duration(value, child, &trigger->session_min_duration, err))
			return false;
	}
	trigger->has_session = true;
	return true;
}

/* The timing and fatigue keys (API.md "Trigger definitions"). */
const char *const mt_timing_keys[] = {"priority", "transactional", "category", "send_window",
"send_time", "max_lateness", NULL};

/* send_time: "optimal" or {"optimal": true|false, "within": duration}. */
static bool
parse_send_time(struct json_object *value, const char *path, MtTiming *out, MtError *err)
{
	static const char *const keys[] = {"optimal", "within", NULL};
	static const char *const usage = "send_time must be \"optimal\" or {\"optimal\": true, \"within\": \"24 hours\"}";
	struct json_object *item;
	char		child[PATH_MAX_LEN];

	out->has_send_time = true;
	out->send_time_within = MT_OPTIMAL_WITHIN_DEFAULT;
	if (json_object_is_type(value, json_type_string))
	{
		if (strcmp(json_object_get_string(value), "optimal") != 0)
			return mt_error_set(err, path, "%s", usage);
		out->send_time = MT_SEND_TIME_OPTIMAL;
		return true;
	}
	if (!json_object_is_type(value, json_type_object))
		return mt_error_set(err, path, "%s", usage);
	if (!mt_check_known_keys(value, path, "send_time", keys, err))
		return false;
	mt_path_key(child, sizeof(child), path, "optimal");
	if (!json_object_object_get_ex(value, "optimal", &item))
		return mt_error_set(err, path, "%s", usage);
	if (!json_object_is_type(item, json_type_boolean))
		return mt_error_set(err, child, "optimal must be true or false, not %s", mt_json_type_phrase(item));
	out->send_time = json_object_get_boolean(item) ? MT_SEND_TIME_OPTIMAL : MT_SEND_TIME_TRIGGER;
	if (json_object_object_get_ex(value, "within", &item))
	{
		mt_path_key(child, sizeof(child), path, "within");
		if (out->send_time != MT_SEND_TIME_OPTIMAL)
			return mt_error_set(err, child, "within is the horizon of an optimal send time: it needs \"optimal\": true");
		if (!mt_parse_duration(item, child, &out->send_time_within, err))
			return false;
		if (out->send_time_within < 3600 * MT_USECS_PER_SEC || out->send_time_within > 7 * 86400 * MT_USECS_PER_SEC)
			return mt_error_set(err, child, "within must be from 1 hour to 7 days");
	}
	return true;
}

/* The timing keys of an object (trigger, send_email action, sequence step). */
bool
mt_parse_timing(struct json_object *json, const char *path, MtTiming *out, MtError *err)
{
	struct json_object *value;
	char		child[PATH_MAX_LEN];

	if (json_object_object_get_ex(json, "priority", &value))
	{
		mt_path_key(child, sizeof(child), path, "priority");
		if (!json_object_is_type(value, json_type_int) || json_object_get_int64(value) < 0 ||
			json_object_get_int64(value) > 100)
			return mt_error_set(err, child, "priority must be an integer from 0 to 100 (default 50), not %s",
								json_object_is_type(value, json_type_int) || json_object_is_type(value, json_type_double) ?
								json_object_get_string(value) : mt_json_type_phrase(value));
		out->has_priority = true;
		out->priority = (int) json_object_get_int64(value);
	}
	if (json_object_object_get_ex(json, "transactional", &value))
	{
		mt_path_key(child, sizeof(child), path, "transactional");
		if (!json_object_is_type(value, json_type_boolean))
			return mt_error_set(err, child, "transactional must be true or false, not %s", mt_json_type_phrase(value));
		out->has_transactional = true;
		out->transactional = json_object_get_boolean(value);
	}
	if (json_object_object_get_ex(json, "category", &value))
	{
		mt_path_key(child, sizeof(child), path, "category");
		if (!mt_parse_nonempty_string(value, child, "category", &out->category, err))
			return false;
		if (strlen(out->category) > 100)
			return mt_error_set(err, child, "category is longer than 100 bytes");
	}
	if (json_object_object_get_ex(json, "send_window", &value))
	{
		mt_path_key(child, sizeof(child), path, "send_window");
		if (!mt_send_window_parse(value, child, &out->send_window, err))
			return false;
		out->has_send_window = true;
	}
	if (json_object_object_get_ex(json, "send_time", &value))
	{
		mt_path_key(child, sizeof(child), path, "send_time");
		if (!parse_send_time(value, child, out, err))
			return false;
	}
	if (json_object_object_get_ex(json, "max_lateness", &value))
	{
		mt_path_key(child, sizeof(child), path, "max_lateness");
		if (!mt_parse_duration(value, child, &out->max_lateness, err))
			return false;
		if (out->max_lateness <= 0)
			return mt_error_set(err, child, "max_lateness must be more than 0");
		out->has_max_lateness = true;
	}
	if (out->has_transactional && out->transactional)
	{
		if (out->has_send_window)
			return mt_error_set(err, path, "a transactional email is exempt from send windows: leave out send_window or transactional");
		if (out->has_send_time && out->send_time == MT_SEND_TIME_OPTIMAL)
			return mt_error_set(err, path, "a transactional email goes at its trigger time: leave out send_time or transactional");
	}
	return true;
}

/* The keys of inner over those of outer. */
void
mt_timing_merge(const MtTiming *outer, const MtTiming *inner, MtTiming *out)
{
	static const MtTiming none = {0};

	if (outer == NULL)
		outer = &none;
	if (inner == NULL)
		inner = &none;
	*out = *outer;
	if (inner->has_priority)
	{
		out->has_priority = true;
		out->priority = inner->priority;
	}
	if (inner->has_transactional)
	{
		out->has_transactional = true;
		out->transactional = inner->transactional;
	}
	if (inner->category)
		out->category = inner->category;
	if (inner->has_send_window)
	{
		out->has_send_window = true;
		out->send_window = inner->send_window;
	}
	if (inner->has_send_time)
	{
		out->has_send_time = true;
		out->send_time = inner->send_time;
		out->send_time_within = inner->send_time_within;
	}
	if (inner->has_max_lateness)
	{
		out->has_max_lateness = true;
		out->max_lateness = inner->max_lateness;
	}
}

/* One variant: {"when": condition, "template": name}. */
static bool
parse_variant(struct json_object *json, const char *path, MtVariant *variant, MtError *err)
{
	static const char *const keys[] = {"when", "template", NULL};
	struct json_object *value;
	char		child[PATH_MAX_LEN];

	if (!json_object_is_type(json, json_type_object))
		return mt_error_set(err, path, "a variant must be an object, not %s", mt_json_type_phrase(json));
	if (!mt_check_known_keys(json, path, "a variant", keys, err))
		return false;
	if (!json_object_object_get_ex(json, "when", &value))
		return mt_error_set(err, path, "a variant needs \"when\" (a condition over the render context)");
	mt_path_key(child, sizeof(child), path, "when");
	if ((variant->when = mt_parse_condition(value, child, err)) == NULL)
		return false;
	if (!json_object_object_get_ex(json, "template", &value))
		return mt_error_set(err, path, "a variant needs \"template\"");
	mt_path_key(child, sizeof(child), path, "template");
	return mt_parse_nonempty_string(value, child, "template", &variant->template_name, err);
}

/* send_email: a template by name or inline parts, with optional variants. */
bool
mt_parse_send_email(struct json_object *json, const char *path, MtAction *action, MtError *err)
{
	static const char *const keys[] = {"template", "subject", "preheader", "content", "text",
		"variants", "priority", "transactional", "category", "send_window", "send_time", "max_lateness",
	NULL};
	static const char *const inline_keys[] = {"subject", "preheader", "content", "text"};
	char	  **inline_fields[] = {&action->subject, &action->preheader, &action->content, &action->text};
	struct json_object *value;
	char		child[PATH_MAX_LEN];

	action->kind = MT_ACTION_SEND_EMAIL;
	if (!json_object_is_type(json, json_type_object))
		return mt_error_set(err, path, "send_email must be an object, not %s", mt_json_type_phrase(json));
	if (!mt_check_known_keys(json, path, "send_email", keys, err))
		return false;
	if (json_object_object_get_ex(json, "template", &value))
	{
		mt_path_key(child, sizeof(child), path, "template");
		if (!mt_parse_nonempty_string(value, child, "template", &action->template_name, err))
			return false;
	}
	for (int i = 0; i < 4; i++)
	{
		if (!json_object_object_get_ex(json, inline_keys[i], &value))
			continue;
		mt_path_key(child, sizeof(child), path, inline_keys[i]);
		if (!json_object_is_type(value, json_type_string))
			return mt_error_set(err, child, "%s must be a string, not %s", inline_keys[i],
								mt_json_type_phrase(value));
		*inline_fields[i] = copy_json_string(value);
	}
	if (action->template_name && (action->subject || action->content || action->text || action->preheader))
		return mt_error_set(err, path, "send_email takes a template or inline subject/content, not both");
	if (!action->template_name && !action->subject)
		return mt_error_set(err, path, "send_email needs a template or an inline subject");
	if (action->subject && !action->content && !action->text)
		return mt_error_set(err, path, "an inline send_email needs content (HTML) or text");
	if (!mt_parse_timing(json, path, &action->timing, err))
		return false;
	if (json_object_object_get_ex(json, "variants", &value))
	{
		mt_path_key(child, sizeof(child), path, "variants");
		if (!json_object_is_type(value, json_type_array) || json_object_array_length(value) == 0)
			return mt_error_set(err, child, "variants must be a non-empty array");
		action->n_variants = (int) json_object_array_length(value);
		action->variants = mt_alloc(sizeof(MtVariant) * (size_t) action->n_variants);
		for (int i = 0; i < action->n_variants; i++)
		{
			char		item[PATH_MAX_LEN];

			mt_path_index(item, sizeof(item), child, i);
			if (!parse_variant(json_object_array_get_idx(value, (size_t) i), item,
							   &action->variants[i], err))
				return false;
		}
	}
	return true;
}

/* One action: {"send_email": {...}} or {"start_sequence": NAME}. */
static bool
parse_action(struct json_object *json, const char *path, MtAction *action, MtError *err)
{
	struct json_object *value;
	char		child[PATH_MAX_LEN];

	if (!json_object_is_type(json, json_type_object) || json_object_object_length(json) != 1)
		return mt_error_set(err, path, "an action must be an object with one key: send_email or start_sequence");
	if (json_object_object_get_ex(json, "send_email", &value))
	{
		mt_path_key(child, sizeof(child), path, "send_email");
		return mt_parse_send_email(value, child, action, err);
	}
	if (json_object_object_get_ex(json, "start_sequence", &value))
	{
		mt_path_key(child, sizeof(child), path, "start_sequence");
		action->kind = MT_ACTION_START_SEQUENCE;
		return mt_parse_nonempty_string(value, child, "start_sequence", &action->sequence_name, err);
	}
	{
		json_object_object_foreach(json, key, unused)
		{
			(void) unused;
			mt_path_key(child, sizeof(child), path, key);
			return mt_error_set(err, child, "unknown action \"%s\" (use send_email or start_sequence)", key);
		}
	}
	return false;
}

/* history: an array of clauses (a single clause object is accepted too). */
static bool
parse_history(struct json_object *json, const char *path, MtTrigger *trigger, MtError *err)
{
	if (json_object_is_type(json, json_type_object))
	{
		trigger->history = mt_alloc(sizeof(MtClause));
		trigger->n_history = 1;
		return mt_parse_clause(json, path, "a history clause", true, true, &trigger->history[0], err);
	}
	if (!json_object_is_type(json, json_type_array) || json_object_array_length(json) == 0)
		return mt_error_set(err, path, "history must be a non-empty array of clauses, not %s",
							mt_json_type_phrase(json));
	trigger->n_history = (int) json_object_array_length(json);
	trigger->history = mt_alloc(sizeof(MtClause) * (size_t) trigger->n_history);
	for (int i = 0; i < trigger->n_history; i++)
	{
		char		child[PATH_MAX_LEN];

		mt_path_index(child, sizeof(child), path, i);
		if (!mt_parse_clause(json_object_array_get_idx(json, (size_t) i), child, "a history clause",
							 true, true, &trigger->history[i], err))
			return false;
	}
	return true;
}

/* The body of mt_trigger_compile: fills trigger, returns false on the first error. */
static bool
parse_trigger(struct json_object *def, MtTrigger *trigger, MtError *err)
{
	static const char *const keys[] = {"event", "condition", "history", "session", "unless",
		"context", "delay", "cooldown", "actions", "description", "priority", "transactional",
	"category", "send_window", "send_time", "max_lateness", "goal", NULL};
	struct json_object *value;

	if (!json_object_is_type(def, json_type_object))
		return mt_error_set(err, "$", "a trigger definition must be a JSON object, not %s",
							mt_json_type_phrase(def));
	if (!mt_check_known_keys(def, "$", "a trigger definition", keys, err))
		return false;
	if (json_object_object_get_ex(def, "description", &value) &&
		!json_object_is_type(value, json_type_string))
		return mt_error_set(err, "$.description", "description must be a string");
	if (json_object_object_get_ex(def, "event", &value) &&
		!parse_event_types(value, "$.event", &trigger->event_types, &trigger->n_event_types, err))
		return false;
	if (json_object_object_get_ex(def, "condition", &value))
	{
		if ((trigger->condition = mt_parse_condition(value, "$.condition", err)) == NULL)
			return false;
	}
	else
	{
		struct json_object *empty = json_object_new_object();

		trigger->condition = mt_condition_compile(empty, "$.condition", err);
		json_object_put(empty);
		if (trigger->condition == NULL)
			return false;
	}
	/* no "event": the condition may pin event_type; else the trigger sees every event */
	if (trigger->n_event_types == 0)
		trigger->n_event_types = mt_condition_required_values(trigger->condition, "event_type",
															  &trigger->event_types);
	if (json_object_object_get_ex(def, "history", &value) &&
		!parse_history(value, "$.history", trigger, err))
		return false;
	if (json_object_object_get_ex(def, "session", &value) &&
		!parse_session(value, "$.session", trigger, err))
		return false;
	if (json_object_object_get_ex(def, "unless", &value))
	{
		if (!mt_parse_clause(value, "$.unless", "unless", false, true, &trigger->unless, err))
			return false;
		trigger->has_unless = true;
	}
	if (json_object_object_get_ex(def, "context", &value) &&
		!mt_parse_nonempty_string(value, "$.context", "context", &trigger->context_sql, err))
		return false;
	if (json_object_object_get_ex(def, "delay", &value) &&
		!mt_parse_duration(value, "$.delay", &trigger->delay, err))
		return false;
	trigger->cooldown = 86400 * MT_USECS_PER_SEC;
	if (json_object_object_get_ex(def, "cooldown", &value) &&
		!mt_parse_duration(value, "$.cooldown", &trigger->cooldown, err))
		return false;
	if (!mt_parse_timing(def, "$", &trigger->timing, err))
		return false;
	if (json_object_object_get_ex(def, "goal", &value))
	{
		if (!mt_parse_goal(value, "$.goal", &trigger->goal, err))
			return false;
		trigger->has_goal = true;
	}
	if (!json_object_object_get_ex(def, "actions", &value))
		return mt_error_set(err, "$", "a trigger needs \"actions\" (e.g. [{\"send_email\": {\"template\": \"welcome\"}}])");
	if (!json_object_is_type(value, json_type_array) || json_object_array_length(value) == 0)
		return mt_error_set(err, "$.actions", "actions must be a non-empty array, not %s",
							mt_json_type_phrase(value));
	trigger->n_actions = (int) json_object_array_length(value);
	trigger->actions = mt_alloc(sizeof(MtAction) * (size_t) trigger->n_actions);
	for (int i = 0; i < trigger->n_actions; i++)
	{
		char		child[PATH_MAX_LEN];

		mt_path_index(child, sizeof(child), "$.actions", i);
		if (!parse_action(json_object_array_get_idx(value, (size_t) i), child, &trigger->actions[i], err))
			return false;
		trigger->n_branches += trigger->actions[i].n_variants;
	}
	return true;
}

/* Parse, validate and compile a trigger definition. */
MtTrigger *
mt_trigger_compile(const char *name, struct json_object *def, MtError *err)
{
	MtTrigger  *trigger = mt_alloc(sizeof(MtTrigger));

	trigger->name = mt_strndup(name, strlen(name));
	if (!parse_trigger(def, trigger, err))
	{
		mt_trigger_free(trigger);
		return NULL;
	}
	return trigger;
}

/* When a firing on an event at occurred_at is due and may send; NULL, or the field at fault. */
const char *
mt_trigger_schedule(const MtTrigger *trigger, int64_t occurred_at, int64_t *due_at,
					int64_t *send_after)
{
	if (!mt_time_is_finite(occurred_at))
		return "occurred_at";
	*due_at = occurred_at;
	if (trigger->has_unless && !mt_time_add(occurred_at, trigger->unless.within, due_at))
		return "$.unless.within";
	if (!mt_time_add(*due_at, trigger->delay, send_after))
		return "$.delay";
	return NULL;
}

/* The error text of an unschedulable decision. */
const char *
mt_unschedulable_reason(const char *field)
{
	if (strcmp(field, "occurred_at") == 0)
		return "the event is at infinity or -infinity: it is on no timeline, so no rule acts on it";
	return "the time this gives is past 294276-12-31, the last timestamp PostgreSQL can store";
}

/* Free a NULL-terminated-by-count string array. */
static void
free_strings(char **strings, int n)
{
	for (int i = 0; i < n; i++)
		mt_free(strings[i]);
	mt_free(strings);
}

/* Free everything a clause owns (not the clause itself). */
void
mt_clause_free_contents(MtClause *clause)
{
	free_strings(clause->event_types, clause->n_event_types);
	mt_condition_free(clause->condition);
	mt_free(clause->count);
	free_strings(clause->same, clause->n_same);
	memset(clause, 0, sizeof(*clause));
}

/* Free what an action owns. */
void
mt_action_free_contents(MtAction *a)
{
	mt_free(a->template_name);
	mt_free(a->subject);
	mt_free(a->preheader);
	mt_free(a->content);
	mt_free(a->text);
	mt_free(a->sequence_name);
	mt_free(a->timing.category);
	for (int v = 0; v < a->n_variants; v++)
	{
		mt_condition_free(a->variants[v].when);
		mt_free(a->variants[v].template_name);
	}
	mt_free(a->variants);
	memset(a, 0, sizeof(*a));
}

/* Free a compiled trigger and all it owns. */
void
mt_trigger_free(MtTrigger *trigger)
{
	if (trigger == NULL)
		return;
	mt_free(trigger->name);
	free_strings(trigger->event_types, trigger->n_event_types);
	mt_condition_free(trigger->condition);
	for (int i = 0; i < trigger->n_history; i++)
		mt_clause_free_contents(&trigger->history[i]);
	mt_free(trigger->history);
	mt_clause_free_contents(&trigger->unless);
	mt_free(trigger->context_sql);
	mt_free(trigger->timing.category);
	for (int i = 0; i < trigger->n_actions; i++)
		mt_action_free_contents(&trigger->actions[i]);
	mt_free(trigger->actions);
	mt_goal_free_contents(&trigger->goal);
	mt_free(trigger);
}
