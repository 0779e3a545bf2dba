/*
 * fuzz_mustache.c: libFuzzer target for the Mustache engine core. The input is split at its
 * first two NUL bytes into template, data (JSON) and partials (a JSON object of template
 * texts); missing or unparsable data and partials fall back to fixed ones that exercise
 * sections, lists and a self-including partial. Each input is compiled, rendered escaped and
 * unescaped under tight limits (the unescaped pass with a stack guard that trips after a number
 * of levels taken from the input), and its text is also resolved as a dotted name. The nesting
 * limit is checked twice: a compiled template is never deeper than MTM_MAX_NESTING, and the
 * template wrapped in enough more sections to pass the limit never compiles.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "mtalloc.h"
#include "mtm_jsonc.h"
#include "mustache.h"

static const char default_data[] =
	"{\"a\":{\"b\":{\"c\":\"<deep>\"}},\"list\":[1,\"two\",{\"x\":3.5},[],null,true],"
	"\"t\":true,\"f\":false,\"n\":null,\"s\":\"&'\\\"<>\",\"z\":0,\"e\":\"\",\"o\":{}}";
static const char default_partials[] =
	"{\"p\":\"[{{a.b.c}}{{#list}}{{.}}{{/list}}]\",\"self\":\"x{{>self}}\","
	"\"layout\":\"<h>{{$title}}T{{/title}}</h>\\n  {{$body}}\\n  B\\n  {{/body}}\\n\","
	"\"loop\":\"{{<loop}}{{$b}}{{>loop}}{{/b}}{{/loop}}\"}";

static long guard_calls;
static long guard_trip_at;

/* A stack guard that trips after guard_trip_at calls (never when it is 0). */
static bool
counting_guard(void)
{
	return guard_trip_at > 0 && ++guard_calls >= guard_trip_at;
}

/*
 * Compiles the template inside `extra` more sections ({{#w}}...{{/w}}): it must fail (nested too
 * deep, or unclosed when the template changes delimiters), with a position, and not crash.
 */
static void
check_wrapped(const char *text, size_t len, int extra)
{
	size_t		wrapped_len = len + (size_t) extra * 12;
	char	   *wrapped = mt_alloc(wrapped_len + 1);
	MtmError	err = {0};
	MtmTemplate *tmpl;
	size_t		pos = 0;

	for (int i = 0; i < extra; i++, pos += 6)
		memcpy(wrapped + pos, "{{#w}}", 6);
	memcpy(wrapped + pos, text, len);
	pos += len;
	for (int i = 0; i < extra; i++, pos += 6)
		memcpy(wrapped + pos, "{{/w}}", 6);
	tmpl = mtm_compile(wrapped, wrapped_len, &err);
	if (tmpl != NULL || !err.failed || err.line < 1 || err.column < 1)
		abort();				/* deeper than the limit compiled, or failed without a position */
	mt_free(wrapped);
}

/* Parses len bytes of JSON, or NULL. */
static struct json_object *
parse_json(const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(32);
	struct json_object *obj;

	if (tok == NULL)
		return NULL;
	obj = json_tokener_parse_ex(tok, text, (int) len);
	if (json_tokener_get_error(tok) != json_tokener_success)
		obj = NULL;				/* a partial parse returns NULL; nothing to free */
	json_tokener_free(tok);
	return obj;
}

/* One fuzz input. */
int
LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
	const char *input = (const char *) bytes;
	const char *sep1 = memchr(input, '\0', size);
	size_t		template_len = sep1 ? (size_t) (sep1 - input) : size;
	const char *data_text = sep1 ? sep1 + 1 : NULL;
	size_t		data_len = 0;
	const char *partials_text = NULL;
	size_t		partials_len = 0;
	struct json_object *data = NULL,
			   *partials = NULL;
	MtmError	err = {0};
	MtmTemplate *tmpl;

	if (data_text)
	{
		const char *sep2 = memchr(data_text, '\0', size - (data_text - input));

		data_len = sep2 ? (size_t) (sep2 - data_text) : size - (data_text - input);
		if (sep2)
		{
			partials_text = sep2 + 1;
			partials_len = size - (partials_text - input);
		}
		data = parse_json(data_text, data_len);
	}
	if (partials_text)
		partials = parse_json(partials_text, partials_len);
	if (data == NULL)
		data = json_tokener_parse(default_data);
	if (partials == NULL || !json_object_is_type(partials, json_type_object))
	{
		json_object_put(partials);
		partials = json_tokener_parse(default_partials);
	}

	tmpl = mtm_compile(input, template_len, &err);
	if (tmpl != NULL)
	{
		int			depth = mtm_nesting_depth(tmpl);

		if (depth < 0 || depth > MTM_MAX_NESTING)
			abort();			/* the compile limit holds */
		check_wrapped(input, template_len, MTM_MAX_NESTING + 1 - depth);
		for (int escape = 0; escape < 2; escape++)
		{
			MtmJsoncPartials *lookup = mtm_jsonc_partials_new(partials);
			MtmRenderOptions options = {0};
			MtmError	render_err = {0};
			size_t		len = 0;
			char	   *out;

			options.escape_html = escape;
			options.max_output = 64 * 1024;
			options.max_steps = 200 * 1000;
			options.max_depth = 32;
			options.lookup = mtm_jsonc_lookup;
			options.lookup_ctx = lookup;
			if (!escape)
			{
				options.stack_too_deep = counting_guard;
				guard_calls = 0;
				guard_trip_at = template_len > 0 ? (unsigned char) input[template_len - 1] : 0;
			}
			out = mtm_render(tmpl, &mtm_jsonc_ops, NULL, mtm_jsonc_value(data), &options, &len, &render_err);
			if (out != NULL && strlen(out) > len)
				abort();		/* the length must cover the whole NUL-terminated output */
			if (out == NULL && !render_err.failed)
				abort();		/* a failed render always says why */
			mt_free(out);
			mtm_jsonc_partials_free(lookup);
		}
		(void) mtm_count_conditionals(tmpl);
		mtm_free(tmpl);
	}
	else if (!err.failed || (err.too_large ? err.line != 0 : err.line < 1 || err.column < 1))
		abort();				/* a syntax error always has a position; a size error none */

	(void) mtm_resolve_dotted(&mtm_jsonc_ops, NULL, mtm_jsonc_value(data), input, template_len);
	json_object_put(data);
	json_object_put(partials);
	return 0;
}
