/*
 * condition_unit.c: PostgreSQL-free unit tests of the condition compiler (src/core/condition.c):
 * validation messages and paths, the rule-index queries (literals, required values), the refusal
 * of super-linear regex features, canonical number keys and the sorted index of long $in lists.
 * Prints "condition-unit: N passed, M failed". Built and run by test/suites/condition_unit.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "condition.h"
#include "condition_internal.h"
#include "mtalloc.h"

#include "unit_check.h"

/* Compiles JSON text; NULL (and *err filled) when invalid. */
static MtCondition *
compile(const char *text, MtError *err)
{
	memset(err, 0, sizeof(*err));
	return mt_condition_compile_text(text, strlen(text), 32, "$.condition", err);
}

/* The condition compiles. */
static void
expect_valid(const char *text)
{
	MtError		err;
	MtCondition *cond = compile(text, &err);

	check(cond != NULL && !err.failed, text, err.message);
	mt_condition_free(cond);
}

/* The condition is refused at path with the reason. */
static void
expect_error(const char *text, const char *path, const char *message)
{
	MtError		err;
	MtCondition *cond = compile(text, &err);
	char		detail[1200];

	snprintf(detail, sizeof(detail), "got %s at %s: %s", cond ? "valid" : "error", err.path, err.message);
	check(cond == NULL && err.failed && strcmp(err.path, path) == 0 &&
		  strcmp(err.message, message) == 0, text, detail);
	mt_condition_free(cond);
}

/* Collects literals as "field=value" / "field^prefix" joined by spaces. */
static void
collect_literal(void *arg, const char *field, MtLiteralKind kind, const char *value, size_t len)
{
	char	   *out = arg;
	size_t		used = strlen(out);

	snprintf(out + used, 512 - used, "%s%s%c%.*s", used ? " " : "", field,
			 kind == MT_LITERAL_EQUALS ? '=' : '^', (int) len, value);
}

/* mt_condition_literals reports exactly `expected`. */
static void
expect_literals(const char *text, const char *expected)
{
	MtError		err;
	MtCondition *cond = compile(text, &err);
	char		got[512] = "";
	char		detail[1200];

	mt_condition_literals(cond, collect_literal, got);
	snprintf(detail, sizeof(detail), "got \"%s\", expected \"%s\"", got, expected);
	check(cond != NULL && strcmp(got, expected) == 0, text, detail);
	mt_condition_free(cond);
}

/* mt_condition_required_values(field) returns exactly `expected` (space-separated, in order). */
static void
expect_required(const char *text, const char *field, const char *expected)
{
	MtError		err;
	MtCondition *cond = compile(text, &err);
	char	  **values = NULL;
	int			n = cond ? mt_condition_required_values(cond, field, &values) : -1;
	char		got[512] = "";
	char		detail[1200];

	for (int i = 0; i < n; i++)
	{
		size_t		used = strlen(got);

		snprintf(got + used, sizeof(got) - used, "%s%s", i ? " " : "", values[i]);
		mt_free(values[i]);
	}
	mt_free(values);
	snprintf(detail, sizeof(detail), "got \"%s\", expected \"%s\"", got, expected);
	check(cond != NULL && strcmp(got, expected) == 0, text, detail);
	mt_condition_free(cond);
}

/* Compiling from a json-c object directly, with a caller-chosen path. */
static void
test_compile_json_object(void)
{
	struct json_object *json = json_tokener_parse("{\"a\": {\"$in\": 1}}");
	MtError		err = {0};
	MtCondition *cond = mt_condition_compile(json, "$.history[0].condition", &err);

	check(cond == NULL && strcmp(err.path, "$.history[0].condition.a.$in") == 0,
		  "mt_condition_compile path prefix", err.path);
	json_object_put(json);

	json = json_tokener_parse("{}");
	memset(&err, 0, sizeof(err));
	cond = mt_condition_compile(json, "$", &err);
	check(cond != NULL && mt_condition_is_empty(cond), "{} is empty", NULL);
	mt_condition_free(cond);
	json_object_put(json);

	json = json_tokener_parse("{\"a\": 1}");
	cond = mt_condition_compile(json, "$", &err);
	check(cond != NULL && !mt_condition_is_empty(cond), "{\"a\": 1} is not empty", NULL);
	mt_condition_free(cond);
	json_object_put(json);
	check(!mt_condition_is_empty(NULL), "NULL is not empty", NULL);
	mt_condition_free(NULL);
}

/* mt_regex_scan(pattern, flags) counts exactly these back-references, lookaheads, lookbehinds. */
static void
expect_scan(const char *pattern, int flags, int backrefs, int lookaheads, int lookbehinds)
{
	MtRegexFeatures f;
	char		detail[300];

	mt_regex_scan(pattern, strlen(pattern), flags, &f);
	snprintf(detail, sizeof(detail), "got %d/%d/%d, expected %d/%d/%d", f.backrefs, f.lookaheads,
			 f.lookbehinds, backrefs, lookaheads, lookbehinds);
	check(f.backrefs == backrefs && f.lookaheads == lookaheads && f.lookbehinds == lookbehinds,
		  pattern, detail);
}

/* The regex features that make PostgreSQL's engine super-linear are found, and only those. */
static void
test_regex_scan(void)
{
	expect_scan("^(.+)\\1\\1$", 0, 2, 0, 0);
	expect_scan("(a)(b)\\2", 0, 1, 0, 0);
	expect_scan("(?=.*x)", 0, 0, 1, 0);
	expect_scan("^/(?!blog)", 0, 0, 1, 0);
	expect_scan("(?<=/)pricing(?<!x)", 0, 0, 0, 2);
	expect_scan("(?:a|b)+(?i:c)", 0, 0, 0, 0);
	/* escaped, bracketed, commented or literal: not features */
	expect_scan("\\(?=x\\)", 0, 0, 0, 0);
	expect_scan("[(?=]\\\\1", 0, 0, 0, 0);
	expect_scan("[]\\1(?=]x", 0, 0, 0, 0);
	expect_scan("[^]\\1]", 0, 0, 0, 0);
	expect_scan("[[:alpha:](?=]+", 0, 0, 0, 0);
	expect_scan("a(?#(?=x \\1)b", 0, 0, 0, 0);
	expect_scan("a(?#x)\\1", 0, 1, 0, 0);
	expect_scan("***=(?=x)\\1", 0, 0, 0, 0);
	expect_scan("(?q)(?=x)\\1", 0, 0, 0, 0);
	expect_scan("***:(?=x)", 0, 0, 1, 0);
	expect_scan("(?i)(a)\\1", 0, 1, 0, 0);
	/* x mode: white space and # comments are not the pattern */
	expect_scan("a # (?=x) \\1\n b", MT_REGEX_EXTENDED, 0, 0, 0);
	expect_scan("(?x)a # (?=x)\n(?=y)", 0, 0, 1, 0);
	expect_scan("a # (?=x)", 0, 0, 1, 0);
	/* octal escapes: a leading zero, or more digits than there are groups */
	expect_scan("a\\0101", 0, 0, 0, 0);
	expect_scan("a\\12", 0, 0, 0, 0);
	expect_scan("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)\\12", 0, 1, 0, 0);

	/* the compiler refuses them, naming the operand's path */
	expect_error("{\"p\": {\"$regex\": \"^(.+)\\\\1\\\\1$\"}}", "$.condition.p.$regex",
				 "$regex may not use back-references (\\1 to \\9): matching them can take exponential time");
	expect_error("{\"$or\": [{\"a\": 1}, {\"p\": {\"$not\": {\"$regex\": \"x(?=y)\", \"$options\": \"i\"}}}]}",
				 "$.condition.$or[1].p.$not.$regex",
				 "$regex may not use lookahead ((?= or (?!): matching it takes time quadratic in the input; "
				 "combine patterns with $and, $not or $nor instead");
	expect_error("{\"p\": {\"$elemMatch\": {\"regex\": \"(?!a)\"}}}", "$.condition.p.$elemMatch.regex",
				 "$regex may not use lookahead ((?= or (?!): matching it takes time quadratic in the input; "
				 "combine patterns with $and, $not or $nor instead");
	expect_valid("{\"p\": {\"$regex\": \"(?<=/)pricing\"}, \"q\": {\"$regex\": \"\\\\(?=\"}}");
}

/* mt_number_key(text) is exactly `expected` ("" for none). */
static void
expect_number_key(const char *text, const char *expected)
{
	char		key[MT_NUMBER_KEY_MAX];
	size_t		len = mt_number_key(text, strlen(text), key, sizeof(key));
	char		detail[300];

	snprintf(detail, sizeof(detail), "got \"%.*s\", expected \"%s\"", (int) len, key, expected);
	check(len == strlen(expected) && memcmp(key, expected, len) == 0, text, detail);
}

/* Equal numbers share one canonical key whatever their spelling; different ones do not. */
static void
test_number_keys(void)
{
	char		small[8];
	char		big[4100];

	expect_number_key("1", "+1e0");
	expect_number_key("1.0", "+1e0");
	expect_number_key("1e0", "+1e0");
	expect_number_key("0.1e1", "+1e0");
	expect_number_key("10E-1", "+1e0");
	expect_number_key("100.000", "+1e2");
	expect_number_key("1e2", "+1e2");
	expect_number_key("2.50", "+25e-1");
	expect_number_key("-7.125e-3", "-7125e-6");
	expect_number_key("-0.0071250", "-7125e-6");
	expect_number_key("0", "0");
	expect_number_key("-0", "0");
	expect_number_key("-0.000e5", "0");
	expect_number_key("007", "+7e0");
	expect_number_key("9007199254740993", "+9007199254740993e0");
	expect_number_key("9007199254740992", "+9007199254740992e0");
	expect_number_key("", "");
	expect_number_key("-", "");
	expect_number_key("1e", "");
	expect_number_key("1x", "");
	expect_number_key("abc", "");
	/* a key that does not fit is refused, not truncated */
	check(mt_number_key("123456789", 9, small, sizeof(small)) == 0, "number key too long", NULL);
	memset(big, '7', 4050);
	check(mt_number_key(big, 4050, small, sizeof(small)) == 0 &&
		  mt_number_key(big, 4050, big + 4060, 8) == 0, "4,050 digits do not fit 8 bytes", NULL);
}

/* The first field operator of a compiled {"a": {...}} condition. */
static const MtOp *
first_op(const MtCondition *cond)
{
	const MtCondition *node = cond;

	while (node->kind != MT_NODE_FIELD)
		node = node->children[0];
	return &node->ops[0];
}

/* A long $in list is indexed by kind (sorted, binary searched); a short one is not. */
static void
test_in_index(void)
{
	MtError		err;
	MtCondition *cond;
	const MtOp *op;
	const MtInIndex *index;
	char		key[MT_NUMBER_KEY_MAX];
	size_t		len;
	char	   *text;
	size_t		used;

	cond = compile("{\"a\": {\"$in\": [\"x\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]}}", &err);
	check(cond != NULL && first_op(cond)->in_index == NULL, "15 values: no index", err.message);
	mt_condition_free(cond);

	cond = compile("{\"a\": {\"$nin\": [\"m\", \"b\", \"\", \"zz\", \"b\", 2.50, -0, 1e2, 7, true, null, "
				   "[1, 2], {\"k\": 1}, \"\\u00e9\", 9007199254740993, \"1\"]}}", &err);
	check(cond != NULL, "16 values compile", err.message);
	if (cond == NULL)
		return;
	op = first_op(cond);
	index = op->in_index;
	check(index != NULL && index->nstrings == 7 && index->nnumbers == 5 && index->ncomposites == 2 &&
		  index->has_true && !index->has_false && index->has_null, "16 values: indexed by kind", NULL);
	if (index != NULL)
	{
		check(mt_in_index_has_string(index, "b", 1) && mt_in_index_has_string(index, "", 0) &&
			  mt_in_index_has_string(index, "zz", 2) && mt_in_index_has_string(index, "m", 1) &&
			  mt_in_index_has_string(index, "\xc3\xa9", 2) && mt_in_index_has_string(index, "1", 1),
			  "every string is found", NULL);
		check(!mt_in_index_has_string(index, "z", 1) && !mt_in_index_has_string(index, "zzz", 3) &&
			  !mt_in_index_has_string(index, "a", 1) && !mt_in_index_has_string(index, "bb", 2) &&
			  !mt_in_index_has_string(index, "\xc3", 1), "no other string is", NULL);
		len = mt_number_key("2.5", 3, key, sizeof(key));
		check(len > 0 && mt_in_index_has_number_key(index, key, len), "2.5 is found as 2.50", NULL);
		len = mt_number_key("100", 3, key, sizeof(key));
		check(len > 0 && mt_in_index_has_number_key(index, key, len), "100 is found as 1e2", NULL);
		len = mt_number_key("0.0", 3, key, sizeof(key));
		check(len > 0 && mt_in_index_has_number_key(index, key, len), "0.0 is found as -0", NULL);
		len = mt_number_key("9007199254740992", 16, key, sizeof(key));
		check(len > 0 && !mt_in_index_has_number_key(index, key, len), "9007199254740992 is not found", NULL);
		len = mt_number_key("1", 1, key, sizeof(key));
		check(len > 0 && !mt_in_index_has_number_key(index, key, len), "the number 1 is not the string \"1\"", NULL);
		for (int i = 1; i < index->nstrings; i++)
			check(strcmp(index->strings[i - 1].bytes, index->strings[i].bytes) <= 0, "strings sorted", NULL);
	}
	mt_condition_free(cond);

	/* 200,000 values: built and deduplicated in O(n log n) (pairwise this takes minutes) */
	text = mt_alloc(200000 * 16 + 64);
	used = (size_t) sprintf(text, "{\"event_type\": {\"$in\": [");
	for (int i = 0; i < 200000; i++)
		used += (size_t) sprintf(text + used, "%s\"t%d\"", i ? ", " : "", i % 100000);
	strcpy(text + used, "]}}");
	memset(&err, 0, sizeof(err));
	cond = mt_condition_compile_text(text, strlen(text), 32, "$.condition", &err);
	check(cond != NULL && first_op(cond)->in_index != NULL &&
		  first_op(cond)->in_index->nstrings == 200000, "200,000 values compile", err.message);
	if (cond != NULL)
	{
		char	  **values = NULL;
		int			n = mt_condition_required_values(cond, "event_type", &values);

		check(n == 100000 && strcmp(values[0], "t0") == 0 && strcmp(values[99999], "t99999") == 0,
			  "200,000 values: 100,000 distinct event types, in order", NULL);
		check(mt_in_index_has_string(first_op(cond)->in_index, "t54321", 6) &&
			  !mt_in_index_has_string(first_op(cond)->in_index, "t100000", 7), "found in 200,000", NULL);
		for (int i = 0; i < n; i++)
			mt_free(values[i]);
		mt_free(values);
	}
	mt_condition_free(cond);
	mt_free(text);
}

/* Runs every check and prints the summary line the suite runner reads. */
int
main(void)
{
	/* every operator compiles, with and without "$" */
	expect_valid("{\"a\": 1, \"b\": null, \"c\": [1, {\"d\": 2}], \"e\": {\"f\": 1}, \"g\": {}}");
	expect_valid("{\"a\": {\"$eq\": 1, \"$ne\": 2, \"$gt\": 0, \"$gte\": 0, \"$lt\": 9, \"$lte\": 9}}");
	expect_valid("{\"a\": {\"$in\": [1, \"x\", null, [1]], \"$nin\": [], \"$exists\": true}}");
	expect_valid("{\"a\": {\"$regex\": \"^x\", \"$options\": \"imsx\"}, \"b\": {\"$not\": {\"$gt\": 1}}}");
	expect_valid("{\"a\": {\"$all\": [1, {\"$elemMatch\": {\"b\": 1}}], \"$size\": 0}}");
	expect_valid("{\"a\": {\"$elemMatch\": {\"$gt\": 1}}, \"b\": {\"$elemMatch\": {\"c\": 1, \"$or\": [{\"d\": 1}]}}}");
	expect_valid("{\"a\": {\"$startsWith\": \"x\", \"$endsWith\": \"y\", \"$contains\": \"z\"}}");
	expect_valid("{\"$and\": [{\"a\": 1}], \"$or\": [{\"b\": 1}], \"$nor\": [{\"c\": 1}]}");
	expect_valid("{\"a\": {\"gt\": 1, \"lt\": 5, \"in\": [1], \"not\": {\"size\": 2}, \"regex\": \"x\", \"options\": \"i\"}}");
	expect_valid("{\"or\": [{\"a\": 1}], \"and\": [{\"b\": 2}]}");
	expect_valid("{\"a\": {\"gt\": 1, \"foo\": 2}}");	/* a literal object */
	expect_valid("{\"size\": 3, \"in\": 1}");	/* fields named like operators */
	expect_valid("{\"a\": {\"$size\": 2.0}, \"b\": {\"$exists\": 0}, \"c\": 1e300, \"d\": -0.5}");
	expect_valid("{\"a.b.0.c\": 1, \"items.10\": {\"$exists\": false}}");

	/* validation errors: path and reason */
	expect_error("{\"time_spent\": {\"$gtt\": 60}}", "$.condition.time_spent", "unknown operator \"$gtt\"");
	expect_error("{\"a\": {\"$gt\": 1, \"foo\": 2}}", "$.condition.a", "unknown operator \"foo\"");
	expect_error("{\"$where\": 1}", "$.condition.$where", "unknown top-level operator \"$where\"");
	expect_error("{\"$gt\": 1}", "$.condition.$gt", "operator \"$gt\" needs a field, as in {\"field\": {\"$gt\": ...}}");
	expect_error("{\"a\": {\"$or\": []}}", "$.condition.a",
				 "operator \"$or\" is not allowed on a field; use it at the level of the condition");
	expect_error("[1]", "$.condition", "a condition must be an object");
	expect_error("5", "$.condition", "a condition must be an object");
	expect_error("{\"a\": ", "$.condition", "invalid JSON: unexpected end of data");
	expect_error("{\"a\": 1} x", "$.condition", "invalid JSON: unexpected character");
	expect_error("{\"$and\": []}", "$.condition.$and", "$and needs a non-empty array of objects");
	expect_error("{\"$or\": {}}", "$.condition.$or", "$or needs a non-empty array of objects");
	expect_error("{\"$nor\": [1]}", "$.condition.$nor[0]", "$nor needs a non-empty array of objects");
	expect_error("{\"or\": [1]}", "$.condition.or[0]", "$or needs a non-empty array of objects");
	expect_error("{\"a\": {\"$in\": 1}}", "$.condition.a.$in", "$in needs an array");
	expect_error("{\"a\": {\"nin\": {}}}", "$.condition.a.nin", "$nin needs an array");
	expect_error("{\"a\": {\"$gt\": []}}", "$.condition.a.$gt", "$gt needs a number, string, boolean or null");
	expect_error("{\"a\": {\"$exists\": \"y\"}}", "$.condition.a.$exists", "$exists needs a boolean");
	expect_error("{\"a\": {\"$regex\": 1}}", "$.condition.a.$regex", "$regex needs a string");
	expect_error("{\"a\": {\"$regex\": \"x\", \"$options\": \"g\"}}", "$.condition.a.$options",
				 "unknown $options flag \"g\" (allowed: i, m, s, x)");
	expect_error("{\"a\": {\"$options\": \"i\"}}", "$.condition.a.$options", "$options needs $regex");
	expect_error("{\"a\": {\"$not\": 1}}", "$.condition.a.$not",
				 "$not needs an object of operators, e.g. {\"$not\": {\"$gt\": 5}}");
	expect_error("{\"a\": {\"$all\": {}}}", "$.condition.a.$all", "$all needs an array");
	expect_error("{\"a\": {\"$size\": -1}}", "$.condition.a.$size", "$size needs a non-negative integer");
	expect_error("{\"a\": {\"$size\": 0.5}}", "$.condition.a.$size", "$size needs a non-negative integer");
	expect_error("{\"a\": {\"$size\": true}}", "$.condition.a.$size", "$size needs a non-negative integer");
	expect_error("{\"a\": {\"$elemMatch\": 1}}", "$.condition.a.$elemMatch", "$elemMatch needs an object");
	expect_error("{\"a\": {\"$elemMatch\": {\"b\": {\"$bad\": 1}}}}", "$.condition.a.$elemMatch.b",
				 "unknown operator \"$bad\"");
	expect_error("{\"a\": {\"$startsWith\": 1}}", "$.condition.a.$startsWith", "$startsWith needs a string");
	expect_error("{\"a\": {\"$endsWith\": []}}", "$.condition.a.$endsWith", "$endsWith needs a string");
	expect_error("{\"a\": {\"$contains\": null}}", "$.condition.a.$contains", "$contains needs a string");
	expect_error("{\"a..b\": 1}", "$.condition[\"a..b\"]", "empty field name in path \"a..b\"");
	expect_error("{\"a\": {\"$eq\": NaN}}", "$.condition.a.$eq", "numbers must be finite");
	expect_error("{\"a\": {\"$in\": [1, Infinity]}}", "$.condition.a.$in[1]", "numbers must be finite");
	expect_error("{\"$and\": [{\"x\": 1}, {\"y\": {\"$all\": [1, {\"$elemMatch\": []}]}}]}",
				 "$.condition.$and[1].y.$all[1].$elemMatch", "$elemMatch needs an object");
	{
		char		deep[400] = "";

		for (int i = 0; i < 40; i++)
			strcat(deep, "{\"a\":");
		strcat(deep, "1");
		for (int i = 0; i < 40; i++)
			strcat(deep, "}");
		expect_error(deep, "$.condition", "condition is nested more than 32 levels deep");
	}
	test_compile_json_object();
	test_regex_scan();
	test_number_keys();
	test_in_index();

	/* literals: top-level and $and-implied string equalities and prefixes of undotted fields */
	expect_literals("{\"event_type\": \"page_view\", \"url\": {\"$startsWith\": \"/pricing\"}}",
					"event_type=page_view url^/pricing");
	expect_literals("{\"a\": {\"$eq\": \"x\", \"$gt\": \"a\"}, \"b\": 1, \"c\": null}", "a=x");
	expect_literals("{\"$and\": [{\"a\": \"x\"}, {\"$and\": [{\"b\": {\"startsWith\": \"p\"}}]}]}", "a=x b^p");
	expect_literals("{\"$or\": [{\"a\": \"x\"}], \"$nor\": [{\"b\": \"y\"}]}", "");
	expect_literals("{\"a.b\": \"x\", \"c\": {\"$ne\": \"y\"}, \"d\": {\"$not\": {\"$eq\": \"z\"}}}", "");
	expect_literals("{\"a\": {\"$in\": [\"x\"]}, \"b\": {\"$regex\": \"^x\"}, \"e\": {\"$endsWith\": \"x\"}}", "b^x");
	/* an anchored regex gives its literal prefix, unless it cannot be sure of one */
	expect_literals("{\"u\": {\"$regex\": \"^/blog/post-1.*\"}}", "u^/blog/post-1");
	expect_literals("{\"u\": {\"$regex\": \"^/pricingx?$\"}}", "u^/pricing");
	expect_literals("{\"u\": {\"$regex\": \"^/a+b\"}}", "u^/a");
	expect_literals("{\"u\": {\"$regex\": \"^/ab|/cd\"}}", "");
	expect_literals("{\"u\": {\"$regex\": \"^/ab\", \"$options\": \"i\"}}", "");
	expect_literals("{\"u\": {\"$regex\": \"^/ab\", \"$options\": \"m\"}}", "");
	expect_literals("{\"u\": {\"$regex\": \"/ab\"}}", "");
	expect_literals("{\"u\": {\"$regex\": \"^x*\"}}", "");
	expect_literals("{}", "");

	/* required values of a top-level field */
	expect_required("{\"event_type\": \"page_view\"}", "event_type", "page_view");
	expect_required("{\"event_type\": {\"$eq\": \"a\"}}", "event_type", "a");
	expect_required("{\"event_type\": {\"$in\": [\"a\", \"b\", \"a\"]}}", "event_type", "a b");
	expect_required("{\"event_type\": {\"in\": [\"a\", 1]}}", "event_type", "");
	expect_required("{\"event_type\": {\"$in\": []}}", "event_type", "");
	expect_required("{\"$and\": [{\"x\": 1}, {\"event_type\": {\"$in\": [\"a\", \"b\"]}}, {\"event_type\": \"b\"}]}",
					"event_type", "b");
	expect_required("{\"$or\": [{\"event_type\": \"a\"}, {\"event_type\": {\"$in\": [\"b\", \"a\"]}}]}",
					"event_type", "a b");
	expect_required("{\"$or\": [{\"event_type\": \"a\"}, {\"x\": 1}]}", "event_type", "");
	expect_required("{\"$nor\": [{\"event_type\": \"a\"}]}", "event_type", "");
	expect_required("{\"event_type\": {\"$ne\": \"a\"}}", "event_type", "");
	expect_required("{\"event_type.x\": \"a\"}", "event_type", "");
	expect_required("{\"event_typ\": \"a\"}", "event_type", "");
	expect_required("{\"event_type\": 5}", "event_type", "");
	expect_required("{\"url\": \"/x\", \"event_type\": \"v\"}", "url", "/x");

	printf("condition-unit: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
