/*
 * condition_unit.c: PostgreSQL-free unit tests of the condition compiler (src/condition.c):
 * validation messages and paths, and the rule-index queries (literals, required values).
 * Prints "condition-unit: N passed, M failed". Built and run by test/suites/condition_unit.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "condition.h"
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
