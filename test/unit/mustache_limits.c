/*
 * mustache_limits.c: unit tests of the Mustache engine's compile and render limits (issue 9,
 * items 5 and 7): nesting is bounded when a template is compiled, so rendering can never run
 * the C stack out (the 100,000-deep template that crashed the server); a text over the size
 * limit is refused before any work; large but legal templates and data still work; the stack
 * guard callback stops a render cleanly. It also measures the stack the deepest legal
 * recursion (max_depth partials, each MTM_MAX_NESTING sections deep) uses.
 * Last line: "mustache-limits: N passed, M failed".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "mtalloc.h"
#include "mtm_jsonc.h"
#include "mustache.h"
#include "unit_check.h"

/* A heap string of `count` copies of unit, between prefix and suffix (NULL for none). */
static char *
repeat(const char *prefix, const char *unit, size_t count, const char *suffix)
{
	size_t		plen = prefix ? strlen(prefix) : 0,
				ulen = strlen(unit),
				slen = suffix ? strlen(suffix) : 0;
	char	   *s = malloc(plen + ulen * count + slen + 1);
	char	   *p = s;

	memcpy(p, prefix ? prefix : "", plen);
	p += plen;
	for (size_t i = 0; i < count; i++, p += ulen)
		memcpy(p, unit, ulen);
	memcpy(p, suffix ? suffix : "", slen);
	p[slen] = '\0';
	return s;
}

/* `depth` nested open tags of unit_open, then the same number of unit_close. */
static char *
nested(const char *prefix, const char *unit_open, const char *middle, const char *unit_close,
	   size_t depth)
{
	char	   *opens = repeat(prefix, unit_open, depth, middle);
	char	   *all = repeat(opens, unit_close, depth, NULL);

	free(opens);
	return all;
}

/* Compiles text; returns the template (NULL on error, with *err). */
static MtmTemplate *
compile(const char *text, MtmError *err)
{
	memset(err, 0, sizeof(*err));
	return mtm_compile(text, strlen(text), err);
}

/* Renders tmpl over data (JSON text) with the given partials (JSON text or NULL). */
static char *
render(const MtmTemplate *tmpl, const char *data_json, const char *partials_json,
	   MtmRenderOptions *options, size_t *len, MtmError *err)
{
	struct json_object *data = json_tokener_parse(data_json);
	struct json_object *partials = partials_json ? json_tokener_parse(partials_json) : NULL;
	MtmJsoncPartials *lookup = mtm_jsonc_partials_new(partials);
	MtmRenderOptions defaults = {0};
	char	   *out;

	if (options == NULL)
		options = &defaults;
	options->lookup = mtm_jsonc_lookup;
	options->lookup_ctx = lookup;
	memset(err, 0, sizeof(*err));
	out = mtm_render(tmpl, &mtm_jsonc_ops, NULL, mtm_jsonc_value(data), options, len, err);
	mtm_jsonc_partials_free(lookup);
	json_object_put(partials);
	json_object_put(data);
	return out;
}

/* The formatted error, for failure details. */
static const char *
message(const MtmError *err)
{
	static char buf[600];

	mtm_error_format(err, buf, sizeof(buf));
	return buf;
}

/* Nesting is bounded at compile: 100 levels compile and render, 101 are refused with a position. */
static void
test_nesting_at_compile(void)
{
	MtmError	err;
	char	   *text;
	MtmTemplate *tmpl;
	size_t		len;
	char	   *out;

	text = nested(NULL, "{{#a}}", "x", "{{/a}}", MTM_MAX_NESTING);
	tmpl = compile(text, &err);
	check(tmpl != NULL, "100 nested sections compile", message(&err));
	check(mtm_nesting_depth(tmpl) == MTM_MAX_NESTING, "nesting depth of 100 nested sections is 100", NULL);
	out = tmpl ? render(tmpl, "{\"a\": true}", NULL, NULL, &len, &err) : NULL;
	check(out != NULL && strcmp(out, "x") == 0, "100 nested sections render", message(&err));
	mt_free(out);
	mtm_free(tmpl);
	free(text);

	text = nested(NULL, "{{#a}}", "x", "{{/a}}", MTM_MAX_NESTING + 1);
	tmpl = compile(text, &err);
	check(tmpl == NULL, "101 nested sections are refused", NULL);
	check(err.failed && !err.too_large && err.line == 1 && err.column == 6 * MTM_MAX_NESTING + 1,
		  "the error is at the 101st opening tag (line 1, column 601)", message(&err));
	check(strstr(err.message, "nested deeper than 100 levels at \"a\"") != NULL,
		  "the message names the limit and the tag", err.message);
	mtm_free(tmpl);
	free(text);

	/* the template, 100,000 levels, kept under the size limit with 1-byte delimiters */
	text = nested("{{=< >=}}", "<^a>", NULL, "</a>", 100000);
	tmpl = compile(text, &err);
	check(tmpl == NULL && err.failed && err.line == 1 && err.column == 9 + 4 * MTM_MAX_NESTING + 1,
		  "100,000 nested inverted sections are refused at the 101st", message(&err));
	if (tmpl != NULL)
	{
		/* what crashed the server: rendering it overflows the C stack */
		out = render(tmpl, "{}", NULL, NULL, &len, &err);
		mt_free(out);
	}
	mtm_free(tmpl);
	free(text);

	/* sections, parents and blocks count together; the position counts lines */
	text = repeat("\n\n  ", "{{^s}}", MTM_MAX_NESTING - 2, "{{<p}}{{$b}}{{/b}}{{/p}}");
	{
		char	   *closed = repeat(text, "{{/s}}", MTM_MAX_NESTING - 2, NULL);

		tmpl = compile(closed, &err);
		check(tmpl != NULL && mtm_nesting_depth(tmpl) == MTM_MAX_NESTING,
			  "98 sections + parent + block = 100 levels compile", message(&err));
		mtm_free(tmpl);
		free(closed);
	}
	free(text);
	text = repeat("\n\n  ", "{{^s}}", MTM_MAX_NESTING - 1, "{{<p}}{{$b}}{{/b}}{{/p}}");
	{
		char	   *closed = repeat(text, "{{/s}}", MTM_MAX_NESTING - 1, NULL);

		tmpl = compile(closed, &err);
		check(tmpl == NULL && err.line == 3 && err.column == 3 + 6 * (MTM_MAX_NESTING - 1) + 6 &&
			  strstr(err.message, "at \"b\"") != NULL,
			  "99 sections + parent + block: refused at the block, line 3", message(&err));
		mtm_free(tmpl);
		free(closed);
	}
	free(text);
}

/* A partial nested too deep fails the render with the partial's name and the position in it. */
static void
test_nesting_in_partial(void)
{
	MtmError	err;
	MtmTemplate *tmpl = compile("a{{>deep}}b", &err);
	char	   *deep = nested(NULL, "{{#x}}", NULL, "{{/x}}", MTM_MAX_NESTING + 1);
	char	   *partials = repeat("{\"deep\": \"", deep, 1, "\"}");
	size_t		len;
	char	   *out = render(tmpl, "{}", partials, NULL, &len, &err);

	check(out == NULL && err.failed && strstr(err.where, "deep") != NULL && err.line == 1 &&
		  err.column == 601, "a too deeply nested partial fails the render", message(&err));
	mt_free(out);
	mtm_free(tmpl);
	free(deep);
	free(partials);
}

/* The size limit: MTM_MAX_TEMPLATE_SIZE bytes compile, one more is refused before any work. */
static void
test_size(void)
{
	MtmError	err;
	char	   *text = malloc(8 * MTM_MAX_TEMPLATE_SIZE + 1);
	MtmTemplate *tmpl;
	size_t		len;
	char	   *out;

	memset(text, 'x', 8 * MTM_MAX_TEMPLATE_SIZE);
	text[8 * MTM_MAX_TEMPLATE_SIZE] = '\0';

	memset(&err, 0, sizeof(err));
	tmpl = mtm_compile(text, MTM_MAX_TEMPLATE_SIZE, &err);
	check(tmpl != NULL, "a text of exactly the size limit compiles", message(&err));
	out = tmpl ? render(tmpl, "{}", NULL, NULL, &len, &err) : NULL;
	check(out != NULL && len == MTM_MAX_TEMPLATE_SIZE, "and renders (1 MiB of output is allowed)",
		  message(&err));
	mt_free(out);
	mtm_free(tmpl);

	memset(&err, 0, sizeof(err));
	tmpl = mtm_compile(text, MTM_MAX_TEMPLATE_SIZE + 1, &err);
	check(tmpl == NULL && err.failed && err.too_large && err.line == 0,
		  "one byte over the size limit is refused, flagged too_large, without a position", NULL);
	check(strcmp(err.message, "template of 1048577 bytes is larger than the limit of 1048576 bytes") == 0,
		  "the message gives the size and the limit", err.message);

	memset(&err, 0, sizeof(err));
	tmpl = mtm_compile(text, 8 * MTM_MAX_TEMPLATE_SIZE, &err);
	check(tmpl == NULL && err.too_large, "an 8 MiB text is refused", NULL);
	free(text);

	/* large but legal: 900 KB dense with tags (150,000 tags and 150,000 texts) */
	text = repeat(NULL, "{{a}}-", 150000, NULL);
	tmpl = compile(text, &err);
	check(tmpl != NULL, "900 KB of tags compile", message(&err));
	out = tmpl ? render(tmpl, "{\"a\": \"yz\"}", NULL, NULL, &len, &err) : NULL;
	check(out != NULL && len == 3 * 150000, "and render", message(&err));
	mt_free(out);
	mtm_free(tmpl);
	free(text);

	/* 1 MiB of sections: many conditionals, shallow */
	text = repeat(NULL, "{{#a}}{{/a}}", MTM_MAX_TEMPLATE_SIZE / 12, NULL);
	tmpl = compile(text, &err);
	check(tmpl != NULL && mtm_count_conditionals(tmpl) == MTM_MAX_TEMPLATE_SIZE / 12 &&
		  mtm_nesting_depth(tmpl) == 1, "87,381 sibling sections compile", message(&err));
	mtm_free(tmpl);
	free(text);
}

/* Truthiness of a huge string or a number is judged without copying it into the output. */
static void
test_truthiness_of_large_values(void)
{
	MtmError	err;
	MtmTemplate *tmpl = compile("[{{#s}}yes{{/s}}{{^s}}no{{/s}}|{{#z}}z{{/z}}{{#n}}{{n}}{{/n}}|{{#e}}e{{/e}}]", &err);
	char	   *big = repeat("{\"z\": 0.0, \"n\": 12.5, \"e\": \"\", \"s\": \"", "abcdefgh", 4 * 1024 * 1024, "\"}");
	size_t		len = 0;
	char	   *out = render(tmpl, big, NULL, NULL, &len, &err);

	check(out != NULL && strcmp(out, "[yes|12.5|]") == 0,
		  "a 32 MiB string is truthy, 0.0 falsy, 12.5 truthy, \"\" falsy", out ? out : message(&err));
	mt_free(out);
	mtm_free(tmpl);
	free(big);
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define __SANITIZE_ADDRESS__ 1		/* clang's spelling of gcc's macro */
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define STACK_BUDGET (4 * 1024 * 1024)
#define STACK_BUDGET_TEXT "4 MiB under sanitizers"
#else
#define STACK_BUDGET (1536 * 1024)
#define STACK_BUDGET_TEXT "1.5 MiB"
#endif

/* The stack guard: where render_nodes asks it, and how deep the deepest legal render goes. */
static uintptr_t stack_top;
static uintptr_t stack_low;
static long guard_calls;
static long guard_trip_at;

/* A stack_too_deep callback that records the lowest stack address and trips after N calls. */
static bool
record_stack(void)
{
	char		here;
	uintptr_t	addr = (uintptr_t) &here;

	if (stack_low == 0 || addr < stack_low)
		stack_low = addr;
	return guard_trip_at > 0 && ++guard_calls >= guard_trip_at;
}

/* Partials each MTM_MAX_NESTING sections deep, included max_depth deep: a clean error, bounded stack. */
static void
test_render_recursion(void)
{
	MtmError	err;
	char		top;
	MtmTemplate *tmpl = compile("{{>p}}", &err);
	char	   *body = nested(NULL, "{{^x}}", "{{>p}}", "{{/x}}", MTM_MAX_NESTING);
	char	   *partials = repeat("{\"p\": \"", body, 1, "\"}");
	MtmRenderOptions options = {0};
	size_t		len;
	char	   *out;
	char		detail[160];

	stack_top = (uintptr_t) &top;
	stack_low = 0;
	guard_trip_at = 0;
	options.stack_too_deep = record_stack;
	out = render(tmpl, "{}", partials, &options, &len, &err);
	check(out == NULL && strstr(err.message, "nested deeper than 64 levels at \"p\"") != NULL,
		  "64 partials x 100 sections: stopped by the partial depth limit", message(&err));
	snprintf(detail, sizeof(detail), "%zu bytes", (size_t) (stack_top - stack_low));
	printf("stack used by 64 partials x 100 nested sections: %s\n", detail);
	/*
	 * Built as the extension is (-O2), it must fit PostgreSQL's default max_stack_depth (2 MB)
	 * with room for the caller; sanitizers roughly double every frame, so they get the 8 MB
	 * thread stack's half.
	 */
	check(stack_low != 0 && stack_top - stack_low < STACK_BUDGET,
		  "the deepest legal render fits the stack budget (" STACK_BUDGET_TEXT ")", detail);
	mt_free(out);

	/* a guard that trips fails the render cleanly, whatever the depth */
	guard_calls = 0;
	guard_trip_at = 150;
	out = render(tmpl, "{}", partials, &options, &len, &err);
	check(out == NULL && err.failed &&
		  strcmp(err.message, "rendering nests too deep for the stack (partials, sections and blocks inside each other)") == 0,
		  "a tripped stack guard fails the render with its message", message(&err));
	check(guard_calls == 150, "the guard is asked once per level until it trips", NULL);
	mt_free(out);
	guard_trip_at = 0;

	mtm_free(tmpl);
	free(body);
	free(partials);
}

/* Runs every test. */
int
main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);	/* a failure is seen even if a later case crashes */
	test_nesting_at_compile();
	test_nesting_in_partial();
	test_size();
	test_truthiness_of_large_values();
	test_render_recursion();
	printf("mustache-limits: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
