/*
 * segment_def.c: parse, validate and compile segment definitions (json-c in, MtSegment out).
 * No PostgreSQL dependency; every error names the JSON path and the reason. Clauses are parsed
 * by definition.c's mt_parse_clause, so they read exactly as trigger history clauses do.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "mtalloc.h"
#include "segment_def.h"

#define PATH_MAX_LEN 512

/* Is the event type one that segment maintenance itself records? */
bool
mt_segment_is_own_event(const char *event_type, int len)
{
	return (len == (int) strlen(MT_SEGMENT_ENTER_EVENT) &&
			memcmp(event_type, MT_SEGMENT_ENTER_EVENT, (size_t) len) == 0) ||
		(len == (int) strlen(MT_SEGMENT_EXIT_EVENT) &&
		 memcmp(event_type, MT_SEGMENT_EXIT_EVENT, (size_t) len) == 0);
}

/*
 * One clause: parsed as a history clause with an optional window. A clause without "event"
 * takes the types its condition pins (event_type), else every type. Segment events are refused:
 * a segment defined by entering segments would feed on its own output.
 */
static bool
parse_segment_clause(struct json_object *json, const char *path, const char *kind,
					 MtClause *clause, MtError *err)
{
	char		child[PATH_MAX_LEN];

	if (!mt_parse_clause(json, path, kind, true, false, clause, err))
		return false;
	if (clause->n_event_types == 0 && clause->condition != NULL)
		clause->n_event_types = mt_condition_required_values(clause->condition, "event_type",
															 &clause->event_types);
	for (int i = 0; i < clause->n_event_types; i++)
		if (mt_segment_is_own_event(clause->event_types[i], (int) strlen(clause->event_types[i])))
		{
			mt_path_key(child, sizeof(child), path, "event");
			return mt_error_set(err, child, "\"%s\" events cannot define a segment (they are recorded by segments)",
								clause->event_types[i]);
		}
	return true;
}

/* include / exclude: a non-empty array of clauses (a single clause object is accepted too). */
static bool
parse_clause_list(struct json_object *json, const char *path, const char *key, const char *kind,
				  MtClause **clauses, int *n_clauses, MtError *err)
{
	if (json_object_is_type(json, json_type_object))
	{
		*clauses = mt_alloc(sizeof(MtClause));
		*n_clauses = 1;
		return parse_segment_clause(json, path, kind, &(*clauses)[0], err);
	}
	if (!json_object_is_type(json, json_type_array) || json_object_array_length(json) == 0)
		return mt_error_set(err, path, "%s must be a non-empty array of clauses, not %s", key,
							json_object_is_type(json, json_type_array) ? "an empty array" : mt_json_type_phrase(json));
	*n_clauses = (int) json_object_array_length(json);
	*clauses = mt_alloc(sizeof(MtClause) * (size_t) *n_clauses);
	for (int i = 0; i < *n_clauses; i++)
	{
		char		child[PATH_MAX_LEN];

		mt_path_index(child, sizeof(child), path, i);
		if (!parse_segment_clause(json_object_array_get_idx(json, (size_t) i), child, kind,
								  &(*clauses)[i], err))
			return false;
	}
	return true;
}

/* qsort comparator for C strings. */
static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Adds the clauses' types, windows and "any type" to the segment's derived summary. */
static void
summarize_clauses(MtSegment *segment, const MtClause *clauses, int n, char **types, int *n_types)
{
	for (int i = 0; i < n; i++)
	{
		const MtClause *c = &clauses[i];

		if (c->n_event_types == 0)
			segment->any_type = true;
		if (!c->has_within)
			segment->all_history = true;
		else if (c->within > segment->longest_within)
			segment->longest_within = c->within;
		for (int t = 0; t < c->n_event_types; t++)
			types[(*n_types)++] = c->event_types[t];
	}
}

/* Fills the derived fields: distinct sorted types, any_type, windows, the anchor clause. */
static void
derive_summary(MtSegment *segment)
{
	int			total = 0;
	int			n = 0;
	char	  **types;

	for (int i = 0; i < segment->n_include; i++)
		total += segment->include[i].n_event_types;
	for (int i = 0; i < segment->n_exclude; i++)
		total += segment->exclude[i].n_event_types;
	types = mt_alloc(sizeof(char *) * (size_t) (total + 1));
	summarize_clauses(segment, segment->include, segment->n_include, types, &n);
	summarize_clauses(segment, segment->exclude, segment->n_exclude, types, &n);
	qsort(types, (size_t) n, sizeof(char *), compare_strings);
	segment->event_types = mt_alloc(sizeof(char *) * (size_t) (n + 1));
	for (int i = 0; i < n; i++)
		if (segment->n_event_types == 0 ||
			strcmp(segment->event_types[segment->n_event_types - 1], types[i]) != 0)
			segment->event_types[segment->n_event_types++] = mt_strndup(types[i], strlen(types[i]));
	mt_free(types);

	segment->anchor = -1;
	for (int i = 0; i < segment->n_include && segment->anchor < 0; i++)
		if (!mt_count_passes(&segment->include[i], 0))
			segment->anchor = i;
}

/* The body of mt_segment_compile: fills segment, returns false on the first error. */
static bool
parse_segment(struct json_object *def, MtSegment *segment, MtError *err)
{
	struct json_object *value;

	if (!json_object_is_type(def, json_type_object))
		return mt_error_set(err, "$", "a segment definition must be a JSON object, not %s",
							mt_json_type_phrase(def));
	{
		json_object_object_foreach(def, key, unused)
		{
		char		child[PATH_MAX_LEN];

		(void) unused;
		if (strcmp(key, "include") != 0 && strcmp(key, "exclude") != 0 &&
			strcmp(key, "profile") != 0 && strcmp(key, "description") != 0)
		{
			mt_path_key(child, sizeof(child), "$", key);
			return mt_error_set(err, child, "unknown key \"%s\" in a segment definition (use include, exclude, profile or description)", key);
		}
		}
	}
	if (json_object_object_get_ex(def, "description", &value) &&
		!json_object_is_type(value, json_type_string))
		return mt_error_set(err, "$.description", "description must be a string");
	if (json_object_object_get_ex(def, "include", &value) &&
		!parse_clause_list(value, "$.include", "include", "an include clause", &segment->include,
						   &segment->n_include, err))
		return false;
	if (json_object_object_get_ex(def, "exclude", &value) &&
		!parse_clause_list(value, "$.exclude", "exclude", "an exclude clause", &segment->exclude,
						   &segment->n_exclude, err))
		return false;
	if (json_object_object_get_ex(def, "profile", &value))
	{
		if (!json_object_is_type(value, json_type_object))
			return mt_error_set(err, "$.profile", "a condition must be a JSON object, not %s",
								mt_json_type_phrase(value));
		if ((segment->profile = mt_condition_compile(value, "$.profile", err)) == NULL)
			return false;
	}
	if (segment->n_include == 0 && segment->profile == NULL)
		return mt_error_set(err, "$", "a segment needs \"include\" clauses or a \"profile\"");
	derive_summary(segment);
	/*
	 * Who can be a member must be known: users with an event of an anchor clause, or contacts
	 * matching the profile. Include clauses that all pass with no event at all ({"$lt": 3})
	 * would make every user ever seen a member.
	 */
	if (segment->anchor < 0 && segment->profile == NULL)
		return mt_error_set(err, "$.include", "at least one include clause must require an event (a count that 0 does not pass), or the segment needs a \"profile\"");
	return true;
}

/* Parse, validate and compile a segment definition. */
MtSegment *
mt_segment_compile(const char *name, struct json_object *def, MtError *err)
{
	MtSegment  *segment = mt_alloc(sizeof(MtSegment));

	segment->name = mt_strndup(name, strlen(name));
	if (!parse_segment(def, segment, err))
	{
		mt_segment_free(segment);
		return NULL;
	}
	return segment;
}

/* Free a compiled segment and all it owns. */
void
mt_segment_free(MtSegment *segment)
{
	if (segment == NULL)
		return;
	mt_free(segment->name);
	for (int i = 0; i < segment->n_include; i++)
		mt_clause_free_contents(&segment->include[i]);
	mt_free(segment->include);
	for (int i = 0; i < segment->n_exclude; i++)
		mt_clause_free_contents(&segment->exclude[i]);
	mt_free(segment->exclude);
	mt_condition_free(segment->profile);
	for (int i = 0; i < segment->n_event_types; i++)
		mt_free(segment->event_types[i]);
	mt_free(segment->event_types);
	mt_free(segment);
}
