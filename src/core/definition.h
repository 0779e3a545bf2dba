/*
 * definition.h: trigger definitions (API.md "Trigger definitions") parsed from JSON (json-c),
 * validated with JSON-path error messages and compiled. No PostgreSQL dependency: the checks
 * that need the database (templates and sequences exist, regexes compile, the context query
 * parses) are done by the caller with the names this module collects.
 */
#ifndef MT_DEFINITION_H
#define MT_DEFINITION_H

#include <stdbool.h>
#include <stdint.h>

#include "condition.h"
#include "mterror.h"
#include "send_window.h"

struct json_object;

/* Microseconds, as PostgreSQL's TimestampTz arithmetic uses. */
typedef int64_t MtDuration;

#define MT_USECS_PER_SEC INT64_C(1000000)

/*
 * The longest duration a definition may give (delay, cooldown, within, wait, reentry,
 * min_duration): 10 years of 365.25 days. Longer ones are refused when the row is written.
 */
#define MT_DURATION_MAX_SECONDS INT64_C(315576000)
#define MT_DURATION_MAX (MT_DURATION_MAX_SECONDS * MT_USECS_PER_SEC)

/*
 * Times are microseconds since 2000-01-01 as in PostgreSQL's TimestampTz. The finite ones lie
 * in [MT_TIME_MIN, MT_TIME_END) (MIN_TIMESTAMP and END_TIMESTAMP of datatype/timestamp.h:
 * 4714-11-24 BC to 294276-12-31 AD); -infinity and infinity are the two int64 extremes. The
 * PostgreSQL side asserts at compile time that these equal its own.
 */
#define MT_TIME_MIN INT64_C(-211813488000000000)
#define MT_TIME_END INT64_C(9223371331200000000)
#define MT_TIME_NOBEGIN INT64_MIN
#define MT_TIME_NOEND INT64_MAX

/* Is t a finite timestamp (not ±infinity, not out of range)? */
extern bool mt_time_is_finite(int64_t t);

/*
 * t + d (d may be negative) into *out: false, leaving *out alone, when t is not finite or the
 * result falls outside the finite range. The check every time stored in a row must pass.
 */
extern bool mt_time_add(int64_t t, MtDuration d, int64_t *out);

/*
 * t + d saturated: a result before the finite range is -infinity, one past it infinity; a t
 * that is ±infinity stays. For the bounds of windows, which may reach past either end.
 */
extern int64_t mt_time_add_saturated(int64_t t, MtDuration d);

/* A comparison a count must pass, e.g. {"$gte": 3}: every term must hold. */
typedef enum MtCountOp
{
	MT_COUNT_EQ, MT_COUNT_NE, MT_COUNT_GT, MT_COUNT_GTE, MT_COUNT_LT, MT_COUNT_LTE
} MtCountOp;

typedef struct MtCountTerm
{
	MtCountOp	op;
	int64_t		value;
} MtCountTerm;

/*
 * An event clause over a time window: a history clause, an absence (unless) clause, an exit.
 * event types: none = any type.
 */
typedef struct MtClause
{
	char	  **event_types;
	int			n_event_types;
	MtCondition *condition;		/* NULL: any event of those types */
	MtDuration	within;			/* 0 when the clause kind allows no window */
	bool		has_within;
	MtCountTerm *count;			/* history: every term must hold (default $gte 1) */
	int			n_count;
	char	  **same;			/* params that must be equal in both events */
	int			n_same;
} MtClause;

/* A content variant: the first whose condition holds over the render context wins. */
typedef struct MtVariant
{
	MtCondition *when;
	char	   *template_name;
} MtVariant;

/*
 * When an email goes relative to its trigger time (docs/timing.md): at it (held by the send
 * window), or at the hour within `send_time_within` when the user has engaged most.
 */
typedef enum MtSendTimeKind
{
	MT_SEND_TIME_TRIGGER = 0,
	MT_SEND_TIME_OPTIMAL
} MtSendTimeKind;

#define MT_PRIORITY_DEFAULT 50
#define MT_CATEGORY_DEFAULT "marketing"
#define MT_OPTIMAL_WITHIN_DEFAULT (INT64_C(86400) * MT_USECS_PER_SEC)

/*
 * The timing and fatigue keys of a trigger, or of one send_email action or sequence step (which
 * override the trigger's): has_* says the key was given. What the policy stage reads; the
 * defaults (priority 50, not transactional, category "marketing", microtrigger.quiet_hours,
 * send at trigger time, microtrigger.max_lateness) apply to keys given nowhere.
 */
typedef struct MtTiming
{
	bool		has_priority;
	int			priority;		/* 0..100 */
	bool		has_transactional;
	bool		transactional;
	char	   *category;		/* NULL: not given */
	bool		has_send_window;
	MtSendWindow send_window;
	bool		has_send_time;
	MtSendTimeKind send_time;
	MtDuration	send_time_within;	/* optimal: the horizon (1 hour to 7 days) */
	bool		has_max_lateness;
	MtDuration	max_lateness;	/* > 0 */
} MtTiming;

/* The keys mt_parse_timing reads, NULL-terminated (for the callers' lists of known keys). */
extern const char *const mt_timing_keys[];

/*
 * Reads the timing keys present in a JSON object (others are left to the caller) into *out;
 * errors name the path (e.g. "$.priority", "$.steps[0].send_email.send_window.hours[1]").
 */
extern bool mt_parse_timing(struct json_object *json, const char *path, MtTiming *out, MtError *err);

/*
 * The keys of `inner` (an action or step; may be NULL) over those of `outer` (the trigger; may be
 * NULL) into *out, which borrows `category`. Then the effective values are:
 *   priority:       out.has_priority ? out.priority : MT_PRIORITY_DEFAULT
 *   transactional:  out.transactional (exempt from caps, windows, quiet hours, holdouts)
 *   category:       out.category ? out.category : MT_CATEGORY_DEFAULT
 *   window:         out.has_send_window ? out.send_window : microtrigger.quiet_hours (if set)
 *   max_lateness:   out.has_max_lateness ? out.max_lateness : microtrigger.max_lateness
 */
extern void mt_timing_merge(const MtTiming *outer, const MtTiming *inner, MtTiming *out);

typedef enum MtActionKind
{
	MT_ACTION_SEND_EMAIL,
	MT_ACTION_START_SEQUENCE
} MtActionKind;

typedef struct MtAction
{
	MtActionKind kind;
	/* send_email: a template by name, or inline parts */
	char	   *template_name;
	char	   *subject;
	char	   *preheader;
	char	   *content;		/* inline HTML */
	char	   *text;			/* inline plain text */
	MtVariant  *variants;
	int			n_variants;
	MtTiming	timing;			/* send_email: its own timing keys (over the trigger's) */
	/* start_sequence */
	char	   *sequence_name;
} MtAction;

/*
 * A goal (API.md "goal"): the events that count as a conversion of a trigger's or sequence's
 * emails. clause holds the event types (required), the condition (NULL: any event of those
 * types) and within (required, > 0: how long after an email's send_after a goal event is
 * attributed to it); revenue names the goal event's param that holds the amount (NULL: none).
 */
typedef struct MtGoal
{
	MtClause	clause;
	char	   *revenue;
} MtGoal;

/* Parses a goal object at path (e.g. "$.goal") into *out; errors name the JSON path. */
extern bool mt_parse_goal(struct json_object *json, const char *path, MtGoal *out, MtError *err);

/* Frees what a goal owns (not the goal itself). */
extern void mt_goal_free_contents(MtGoal *goal);

/*
 * Is text (len bytes, not NUL-terminated) a plain decimal number as a revenue param may hold:
 * optional spaces and sign, digits with an optional fraction, an optional exponent of at most
 * 3 digits, at most 100 bytes; not NaN or Infinity. What PostgreSQL's numeric then reads exactly.
 */
extern bool mt_goal_revenue_valid(const char *text, size_t len);

/* A compiled trigger. */
typedef struct MtTrigger
{
	char	   *name;
	char	  **event_types;	/* none: evaluated on every event */
	int			n_event_types;
	MtCondition *condition;		/* never NULL ({} when absent) */
	MtClause   *history;
	int			n_history;
	bool		has_session;
	int			session_min_depth;
	MtDuration	session_min_duration;
	bool		has_unless;
	MtClause	unless;
	char	   *context_sql;	/* NULL: no enrichment */
	MtDuration	delay;
	MtDuration	cooldown;
	MtTiming	timing;			/* priority, transactional, category, send_window, ... */
	MtAction   *actions;
	int			n_actions;
	int			n_branches;		/* conditional branches (variants) in its emails, for a notice */
	bool		has_goal;
	MtGoal		goal;			/* what counts as a conversion of its emails */
} MtTrigger;

/* Parses and validates a trigger definition; NULL with *err filled when it is not valid. */
extern MtTrigger *mt_trigger_compile(const char *name, struct json_object *def, MtError *err);

/*
 * The times a firing of the trigger on an event at occurred_at needs: *due_at, when it is due
 * (the event, or the end of its unless window), and *send_after, that + delay. NULL when both
 * are finite timestamps; else the field that puts them out of range: "occurred_at" (the event
 * is at ±infinity), "$.unless.within" or "$.delay".
 */
extern const char *mt_trigger_schedule(const MtTrigger *trigger, int64_t occurred_at,
									   int64_t *due_at, int64_t *send_after);

/* Why a firing, email or journey step cannot be scheduled, for the decision ("occurred_at" or a field). */
extern const char *mt_unschedulable_reason(const char *field);

/* Frees a compiled trigger (NULL allowed). */
extern void mt_trigger_free(MtTrigger *trigger);

/*
 * A duration: a number of seconds (>= 0) or an interval string such as "30 minutes",
 * "1 day 2 hours", "90s", "01:30:00". Months count as 30 days and years as 365.25 days,
 * as PostgreSQL's interval arithmetic on epochs does. mt_parse_duration refuses one longer
 * than MT_DURATION_MAX; mt_parse_duration_text only refuses what it cannot read.
 */
extern bool mt_parse_duration(struct json_object *value, const char *path, MtDuration *out,
							  MtError *err);
extern bool mt_parse_duration_text(const char *text, MtDuration *out);

/* Parses an event clause; `kind` names it in messages ("history", "unless", "exit"). */
extern bool mt_parse_clause(struct json_object *json, const char *path, const char *kind,
							bool allow_count, bool require_within, MtClause *out, MtError *err);

/* Does a count pass every term of the clause? */
extern bool mt_count_passes(const MtClause *clause, int64_t count);

/* Does event_type pass the clause's list (an empty list passes any type)? */
extern bool mt_clause_accepts_type(const MtClause *clause, const char *event_type, int len);

/* Shared by the definition parsers (triggers, sequences, segments). */
extern const char *mt_json_type_phrase(struct json_object *value);
extern bool mt_check_known_keys(struct json_object *object, const char *path, const char *what,
								const char *const *allowed, MtError *err);
extern bool mt_parse_nonempty_string(struct json_object *value, const char *path, const char *what,
									 char **out, MtError *err);
extern MtCondition *mt_parse_condition(struct json_object *value, const char *path, MtError *err);
extern bool mt_parse_send_email(struct json_object *json, const char *path, MtAction *action,
								MtError *err);
/* Frees what a send_email action owns (not the action itself). */
extern void mt_action_free_contents(MtAction *action);

/* Frees what a clause owns. */
extern void mt_clause_free_contents(MtClause *clause);

#endif
