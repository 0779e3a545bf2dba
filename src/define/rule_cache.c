/*
 * rule_cache.c: compiled triggers cached per backend, indexed by event type and literal values.
 *
 * Index: rules are grouped by event type (plus one group for rules that take any type). In each
 * group, the top-level param most often constrained by a literal (url = "...", url starts with
 * "/pricing") becomes the group's key: its rules sit in sorted arrays by literal, so an event looks
 * its value up once and meets only the rules that can match it. Rules without such a literal
 * are always evaluated.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "def_cache.h"
#include "event_history.h"
#include "jsonc_bridge.h"
#include "rule_cache.h"
#include "spi_util.h"

/* A rule filed under one literal of the group's key. */
typedef struct LiteralEntry
{
	const char *value;
	size_t		len;
	MtRule	   *rule;
} LiteralEntry;

/* All prefix entries of one literal length, sorted by value. */
typedef struct PrefixLength
{
	size_t		len;
	LiteralEntry *entries;
	int			n_entries;
} PrefixLength;

/* The rules of one event type (or of any type). */
typedef struct RuleGroup
{
	char	   *event_type;		/* NULL for the any-type group */
	MtRule	  **always;			/* rules evaluated whatever the key holds */
	int			n_always;
	char	   *key;			/* the indexed param; NULL when none */
	LiteralEntry *equals;		/* sorted by value */
	int			n_equals;
	PrefixLength *prefixes;		/* one per distinct prefix length, ascending */
	int			n_prefix_lengths;
	MtRule	  **keyed;			/* every rule indexed under key (for non-string values) */
	int			n_keyed;
} RuleGroup;

typedef struct RuleCache
{
	MtRule	  **rules;			/* sorted by name */
	int			n_rules;
	RuleGroup  *groups;			/* typed groups, sorted by event_type */
	int			n_groups;
	RuleGroup	any_type;
} RuleCache;

static void *build_rules(SPITupleTable *rows, uint64 n_rows);

/* The enabled triggers, compiled (def_cache.h: rebuilt after any change to microtrigger.triggers). */
static MtDefCache rules_cache = {
	.name = "microtrigger rule cache",
	.table = "triggers",
	.query = "SELECT name, definition, owner::oid FROM microtrigger.triggers WHERE enabled ORDER BY name",
	.build = build_rules,
};

/* The compiled rules as they are (NULL before the first mt_rulecache_ensure). */
#define rule_cache ((RuleCache *) mt_def_cache_data(&rules_cache))

/* Order rules by trigger name. */
static int
compare_rules_by_name(const void *a, const void *b)
{
	return strcmp((*(MtRule *const *) a)->trigger->name, (*(MtRule *const *) b)->trigger->name);
}

/* Order literal entries by bytes, then length. */
static int
compare_literal(const char *a, size_t alen, const char *b, size_t blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* qsort comparator for LiteralEntry. */
static int
compare_entries(const void *a, const void *b)
{
	const LiteralEntry *x = a;
	const LiteralEntry *y = b;

	return compare_literal(x->value, x->len, y->value, y->len);
}

/* qsort comparator for prefix buckets: by literal length, ascending. */
static int
compare_prefix_lengths(const void *a, const void *b)
{
	size_t		x = ((const PrefixLength *) a)->len;
	size_t		y = ((const PrefixLength *) b)->len;

	return (x > y) - (x < y);
}

/* What one rule's condition says about the literals of top-level fields. */
typedef struct RuleLiterals
{
	List	   *fields;			/* char *, one per literal */
	List	   *kinds;			/* int MtLiteralKind */
	List	   *values;			/* text copies */
} RuleLiterals;

/* Collects a rule's literal constraints (skipping the event fields, handled elsewhere). */
static void
collect_literal(void *arg, const char *field, MtLiteralKind kind, const char *value, size_t len)
{
	RuleLiterals *lits = arg;

	if (strcmp(field, "event_type") == 0 || strcmp(field, "user_id") == 0 ||
		strcmp(field, "session_id") == 0 || strcmp(field, "occurred_at") == 0)
		return;
	lits->fields = lappend(lits->fields, pstrdup(field));
	lits->kinds = lappend_int(lits->kinds, kind);
	lits->values = lappend(lits->values, cstring_to_text_with_len(value, (int) len));
}

/* Builds a group's literal index from its rules (in the cache context). */
static void
build_group(RuleGroup *group, List *rules)
{
	int			n = list_length(rules);
	RuleLiterals *lits = palloc0(sizeof(RuleLiterals) * Max(n, 1));
	List	   *field_names = NIL;
	List	   *field_counts = NIL;
	int			best = -1;
	int			i = 0;
	ListCell   *lc;
	List	   *prefix_entries = NIL;

	foreach(lc, rules)
		mt_condition_literals(((MtRule *) lfirst(lc))->trigger->condition, collect_literal, &lits[i++]);

	/* the key: the field constrained by the most rules */
	for (i = 0; i < n; i++)
	{
		List	   *seen = NIL;
		ListCell   *fc;

		foreach(fc, lits[i].fields)
		{
			char	   *field = lfirst(fc);
			ListCell   *nc;
			int			pos = 0;
			bool		found = false;

			foreach(nc, seen)
				if (strcmp(lfirst(nc), field) == 0)
					found = true;
			if (found)
				continue;
			seen = lappend(seen, field);
			foreach(nc, field_names)
			{
				if (strcmp(lfirst(nc), field) == 0)
				{
					list_nth_cell(field_counts, pos)->int_value++;
					found = true;
				}
				pos++;
			}
			if (!found)
			{
				field_names = lappend(field_names, field);
				field_counts = lappend_int(field_counts, 1);
			}
		}
	}
	for (i = 0; i < list_length(field_names); i++)
		if (best < 0 || list_nth_int(field_counts, i) > list_nth_int(field_counts, best))
			best = i;
	if (best >= 0)
		group->key = pstrdup(list_nth(field_names, best));

	group->always = palloc(sizeof(MtRule *) * Max(n, 1));
	group->keyed = palloc(sizeof(MtRule *) * Max(n, 1));
	group->equals = palloc(sizeof(LiteralEntry) * Max(n, 1));
	i = 0;
	foreach(lc, rules)
	{
		MtRule	   *rule = lfirst(lc);
		int			chosen = -1;

		for (int j = 0; group->key && j < list_length(lits[i].fields); j++)
		{
			if (strcmp(list_nth(lits[i].fields, j), group->key) != 0)
				continue;
			/* an equality narrows more than a prefix */
			if (chosen < 0 || list_nth_int(lits[i].kinds, j) == MT_LITERAL_EQUALS)
				chosen = j;
		}
		if (chosen < 0)
			group->always[group->n_always++] = rule;
		else
		{
			text	   *value = list_nth(lits[i].values, chosen);
			LiteralEntry *entry;

			if (list_nth_int(lits[i].kinds, chosen) == MT_LITERAL_EQUALS)
				entry = &group->equals[group->n_equals++];
			else
			{
				entry = palloc(sizeof(LiteralEntry));
				prefix_entries = lappend(prefix_entries, entry);
			}
			entry->value = VARDATA_ANY(value);
			entry->len = VARSIZE_ANY_EXHDR(value);
			entry->rule = rule;
			group->keyed[group->n_keyed++] = rule;
		}
		i++;
	}
	qsort(group->equals, group->n_equals, sizeof(LiteralEntry), compare_entries);

	/* prefixes: one sorted array per distinct length */
	foreach(lc, prefix_entries)
	{
		LiteralEntry *entry = lfirst(lc);
		PrefixLength *bucket = NULL;

		for (int b = 0; b < group->n_prefix_lengths; b++)
			if (group->prefixes[b].len == entry->len)
				bucket = &group->prefixes[b];
		if (bucket == NULL)
		{
			group->prefixes = group->prefixes
				? repalloc(group->prefixes, sizeof(PrefixLength) * (group->n_prefix_lengths + 1))
				: palloc(sizeof(PrefixLength));
			bucket = &group->prefixes[group->n_prefix_lengths++];
			bucket->len = entry->len;
			bucket->entries = palloc(sizeof(LiteralEntry) * list_length(prefix_entries));
			bucket->n_entries = 0;
		}
		bucket->entries[bucket->n_entries++] = *entry;
	}
	for (int b = 0; b < group->n_prefix_lengths; b++)
		qsort(group->prefixes[b].entries, group->prefixes[b].n_entries, sizeof(LiteralEntry),
			  compare_entries);
	/* shortest first: the lookup stops at the first length longer than the value */
	if (group->n_prefix_lengths > 1)
		qsort(group->prefixes, group->n_prefix_lengths, sizeof(PrefixLength), compare_prefix_lengths);
}

/* A rule under one of its event types, and its position, for grouping by sorting. */
typedef struct TypedRule
{
	char	   *event_type;
	MtRule	   *rule;
	int			order;			/* rules keep their order (by name) inside a group */
} TypedRule;

/* qsort comparator for TypedRule: by event type, as the lookup's binary search expects, then order. */
static int
compare_typed_rules(const void *a, const void *b)
{
	const TypedRule *x = a;
	const TypedRule *y = b;
	int			c = compare_literal(x->event_type, strlen(x->event_type),
									y->event_type, strlen(y->event_type));

	return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/* Compiles one triggers row into a rule; a row that no longer compiles is skipped with a warning. */
static MtRule *
compile_rule(const char *name, Jsonb *definition, Oid owner)
{
	MtError		err = {0};
	MtTrigger  *trigger = mt_trigger_compile_jsonb(name, definition, &err);
	MtRule	   *rule;

	if (trigger == NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trigger \"%s\" is skipped: invalid at %s: %s", name, err.path, err.message)));
		return NULL;
	}
	rule = palloc0(sizeof(MtRule));
	rule->trigger = trigger;
	rule->owner = owner;
	return rule;
}

/* Compiles the enabled triggers the cache read into rules indexed by event type (in the cache's context). */
static void *
build_rules(SPITupleTable *rows, uint64 n_rows)
{
	RuleCache  *cache;
	List	   *typed_pairs = NIL;	/* alternating event type, rule */
	List	   *any_rules = NIL;

	cache = palloc0(sizeof(RuleCache));
	cache->rules = palloc(sizeof(MtRule *) * Max(n_rows, 1));
	for (uint64 row = 0; row < n_rows; row++)
	{
		HeapTuple	tuple = rows->vals[row];
		TupleDesc	desc = rows->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tuple, desc, 1);
		Jsonb	   *definition = DatumGetJsonbP(SPI_getbinval(tuple, desc, 2, &isnull));
		Oid			owner = DatumGetObjectId(SPI_getbinval(tuple, desc, 3, &isnull));
		MtRule	   *rule = compile_rule(name, definition, owner);

		if (rule == NULL)
			continue;
		cache->rules[cache->n_rules++] = rule;
		if (rule->trigger->n_event_types == 0)
			any_rules = lappend(any_rules, rule);
		for (int t = 0; t < rule->trigger->n_event_types; t++)
		{
			typed_pairs = lappend(typed_pairs, rule->trigger->event_types[t]);
			typed_pairs = lappend(typed_pairs, rule);
		}
	}
	qsort(cache->rules, cache->n_rules, sizeof(MtRule *), compare_rules_by_name);

	/* group typed rules by event type: sort the (type, rule) pairs, then take each run */
	{
		int			n_pairs = list_length(typed_pairs) / 2;
		TypedRule  *pairs = palloc(sizeof(TypedRule) * Max(n_pairs, 1));
		int			p = 0;
		ListCell   *lc;

		for (lc = list_head(typed_pairs); lc != NULL; lc = lnext(typed_pairs, lnext(typed_pairs, lc)))
		{
			pairs[p].event_type = lfirst(lc);
			pairs[p].rule = lfirst(lnext(typed_pairs, lc));
			pairs[p].order = p;
			p++;
		}
		qsort(pairs, n_pairs, sizeof(TypedRule), compare_typed_rules);
		cache->groups = palloc0(sizeof(RuleGroup) * Max(n_pairs, 1));
		for (int start = 0; start < n_pairs;)
		{
			int			end = start;
			List	   *members = NIL;

			while (end < n_pairs && strcmp(pairs[end].event_type, pairs[start].event_type) == 0)
				members = lappend(members, pairs[end++].rule);
			cache->groups[cache->n_groups].event_type = pairs[start].event_type;
			build_group(&cache->groups[cache->n_groups], members);
			cache->n_groups++;
			start = end;
		}
	}
	/* the runs come out sorted by event type */
	build_group(&cache->any_type, any_rules);
	return cache;
}

/* Keeps the cache from being rebuilt while rules are held. */
void
mt_rulecache_pin(void)
{
	mt_def_cache_pin(&rules_cache);
}

/* Releases a pin. */
void
mt_rulecache_unpin(void)
{
	mt_def_cache_unpin(&rules_cache);
}

/* Loads the cache when it is missing or was invalidated (and not pinned). */
void
mt_rulecache_ensure(void)
{
	mt_def_cache_get(&rules_cache);
}

/* Every enabled rule, sorted by trigger name. */
int
mt_rulecache_all(MtRule ***rules)
{
	*rules = rule_cache ? rule_cache->rules : NULL;
	return rule_cache ? rule_cache->n_rules : 0;
}

/* True when no enabled trigger exists. */
bool
mt_rulecache_is_empty(void)
{
	return rule_cache == NULL || rule_cache->n_rules == 0;
}

/* Index of the first entry >= (value, len) in a sorted array. */
static int
lower_bound(const LiteralEntry *entries, int n, const char *value, size_t len)
{
	int			lo = 0,
				hi = n;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (compare_literal(entries[mid].value, entries[mid].len, value, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Reports every entry equal to (value, len). */
static void
report_equal_entries(const LiteralEntry *entries, int n, const char *value, size_t len,
					 MtRuleCallback cb, void *arg)
{
	for (int i = lower_bound(entries, n, value, len);
		 i < n && compare_literal(entries[i].value, entries[i].len, value, len) == 0; i++)
		cb(entries[i].rule, arg);
}

/* Reports the rules of a group that may match the document. */
static void
group_candidates(const RuleGroup *group, MtDocument *doc, MtRuleCallback cb, void *arg)
{
	JsonbValue	key;
	JsonbValue *value;

	for (int i = 0; i < group->n_always; i++)
		cb(group->always[i], arg);
	if (group->n_keyed == 0)
		return;
	if (doc->root == NULL || !JsonContainerIsObject(doc->root))
		return;					/* the key is missing: no keyed rule can match */
	key.type = jbvString;
	key.val.string.val = group->key;
	key.val.string.len = (int) strlen(group->key);
	value = findJsonbValueFromContainer(doc->root, JB_FOBJECT, &key);
	if (value == NULL)
		return;
	if (value->type == jbvBinary)
	{
		/* an array matches by any element: evaluate every keyed rule */
		for (int i = 0; i < group->n_keyed; i++)
			cb(group->keyed[i], arg);
		return;
	}
	if (value->type != jbvString)
		return;
	report_equal_entries(group->equals, group->n_equals, value->val.string.val,
						 (size_t) value->val.string.len, cb, arg);
	for (int b = 0; b < group->n_prefix_lengths; b++)
	{
		const PrefixLength *bucket = &group->prefixes[b];

		if (bucket->len > (size_t) value->val.string.len)
			break;
		report_equal_entries(bucket->entries, bucket->n_entries, value->val.string.val,
							 bucket->len, cb, arg);
	}
}

/* Reports the rules that may match an event document: its type's and any type's. */
void
mt_rulecache_candidates(MtDocument *doc, MtRuleCallback cb, void *arg)
{
	int			lo = 0,
				hi;

	if (rule_cache == NULL)
		return;
	hi = rule_cache->n_groups;
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		const char *type = rule_cache->groups[mid].event_type;
		int			c = compare_literal(type, strlen(type), doc->event_type, (size_t) doc->event_type_len);

		if (c == 0)
		{
			group_candidates(&rule_cache->groups[mid], doc, cb, arg);
			break;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	group_candidates(&rule_cache->any_type, doc, cb, arg);
}

/* The enabled rule of that name, or NULL. */
MtRule *
mt_rulecache_lookup(const char *name)
{
	int			lo = 0,
				hi;

	if (rule_cache == NULL)
		return NULL;
	hi = rule_cache->n_rules;
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(rule_cache->rules[mid]->trigger->name, name);

		if (c == 0)
			return rule_cache->rules[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Decides in full what ingest left undecided for a firing marked recheck: the condition on the
 * stored event, then the history clauses at the event's time. Returns the first clause that
 * fails ("condition" or "history"), or NULL when the rule matches.
 */
const char *
mt_rule_recheck(const MtRule *rule, MtDocument *doc, const char *user_id, TimestampTz event_at)
{
	const MtTrigger *trigger = rule->trigger;
	text	   *user = NULL;

	if (!mt_condition_eval(trigger->condition, doc))
		return "condition";
	for (int i = 0; i < trigger->n_history; i++)
	{
		if (user == NULL)
			user = cstring_to_text(user_id);
		if (!mt_count_passes(&trigger->history[i], mt_history_count(&trigger->history[i], user, event_at)))
			return "history";
	}
	return NULL;
}
