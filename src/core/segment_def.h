/*
 * segment_def.h: segment definitions (API.md "Segments") parsed from JSON (json-c), validated
 * with JSON-path error messages and compiled. No PostgreSQL dependency: regexes are checked by
 * the caller (mt_condition_check_regexes), as for triggers.
 *
 *   {"include": [clause...], "exclude": [clause...], "profile": condition, "description": text}
 *
 * A clause is {event, condition, within, count} (definition.h's MtClause): `within` is optional
 * and means all history when left out; `count` defaults to {"$gte": 1}.
 */
#ifndef MT_SEGMENT_DEF_H
#define MT_SEGMENT_DEF_H

#include <stdbool.h>

#include "definition.h"

struct json_object;

/* The event types a segment records about itself; they never define a segment. */
#define MT_SEGMENT_ENTER_EVENT "segment_enter"
#define MT_SEGMENT_EXIT_EVENT "segment_exit"

/* A compiled segment. */
typedef struct MtSegment
{
	char	   *name;
	MtClause   *include;		/* every one must hold */
	int			n_include;
	MtClause   *exclude;		/* none may hold */
	int			n_exclude;
	MtCondition *profile;		/* over the contact; NULL: no contact needed */

	/* derived, for indexing and loading a user's events */
	char	  **event_types;	/* sorted, distinct types named by the clauses */
	int			n_event_types;
	bool		any_type;		/* some clause takes events of every type */
	bool		all_history;	/* some clause has no window */
	MtDuration	longest_within; /* the longest window of a windowed clause */
	int			anchor;			/* first include clause that needs an event; -1: none */
} MtSegment;

/* Parses and validates a segment definition; NULL with *err filled when it is not valid. */
extern MtSegment *mt_segment_compile(const char *name, struct json_object *def, MtError *err);

/* Frees a compiled segment (NULL allowed). */
extern void mt_segment_free(MtSegment *segment);

/* Is the event type one that segment maintenance records (segment_enter, segment_exit)? */
extern bool mt_segment_is_own_event(const char *event_type, int len);

#endif
