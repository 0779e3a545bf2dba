/*
 * mustache_spec.c: runs every case of the official Mustache spec's required modules and of
 * ~inheritance through the engine core (json-c data), printing one line per failure and
 * a last line "mustache-spec: N passed, M failed".
 * Usage: mustache_spec SPEC_DIR [EXTRA.json ...]   (the directory of the spec's *.json files;
 * extra files in the same format: our own cases, e.g. test/spec/mustache_lines)
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "mtalloc.h"
#include "mtm_jsonc.h"
#include "mustache.h"

static const char *const spec_files[] = {
	"comments", "delimiters", "interpolation", "inverted", "partials", "sections", "~inheritance",
};

/* Prints s with control characters escaped, so a failure reads on one line. */
static void
print_escaped(const char *s)
{
	for (; *s; s++)
	{
		if (*s == '\n')
			fputs("\\n", stdout);
		else if (*s == '\r')
			fputs("\\r", stdout);
		else if (*s == '\t')
			fputs("\\t", stdout);
		else
			putchar(*s);
	}
}

/* Runs one case; true when the output is the expected one. */
static bool
run_case(const char *file, struct json_object *test)
{
	struct json_object *name = json_object_object_get(test, "name");
	struct json_object *data = json_object_object_get(test, "data");
	struct json_object *template = json_object_object_get(test, "template");
	struct json_object *expected = json_object_object_get(test, "expected");
	struct json_object *partials = json_object_object_get(test, "partials");
	MtmError	err = {0};
	MtmTemplate *tmpl;
	MtmJsoncPartials *lookup;
	MtmRenderOptions options = {0};
	char	   *out = NULL;
	size_t		out_len = 0;
	bool		ok;

	tmpl = mtm_compile(json_object_get_string(template), json_object_get_string_len(template), &err);
	lookup = mtm_jsonc_partials_new(partials);
	options.escape_html = true;
	options.lookup = mtm_jsonc_lookup;
	options.lookup_ctx = lookup;
	if (tmpl)
		out = mtm_render(tmpl, &mtm_jsonc_ops, NULL, mtm_jsonc_value(data), &options, &out_len, &err);
	ok = out != NULL && out_len == (size_t) json_object_get_string_len(expected) &&
		memcmp(out, json_object_get_string(expected), out_len) == 0;
	if (!ok)
	{
		printf("FAIL %s: %s: expected \"", file, json_object_get_string(name));
		print_escaped(json_object_get_string(expected));
		if (out)
		{
			printf("\" got \"");
			print_escaped(out);
			printf("\"\n");
		}
		else
		{
			char		message[600];

			mtm_error_format(&err, message, sizeof(message));
			printf("\" got error: %s\n", message);
		}
	}
	mt_free(out);
	mtm_free(tmpl);
	mtm_jsonc_partials_free(lookup);
	return ok;
}

/* Runs the cases of one spec-format file; false when it cannot be read. */
static bool
run_file(const char *label, const char *path, int *passed, int *failed)
{
	struct json_object *spec = json_object_from_file(path);
	struct json_object *tests;

	if (spec == NULL || !json_object_object_get_ex(spec, "tests", &tests))
	{
		printf("FAIL %s: cannot read %s\n", label, path);
		(*failed)++;
		if (spec != NULL)
			json_object_put(spec);
		return false;
	}
	for (size_t i = 0; i < json_object_array_length(tests); i++)
	{
		if (run_case(label, json_object_array_get_idx(tests, i)))
			(*passed)++;
		else
			(*failed)++;
	}
	json_object_put(spec);
	return true;
}

/* Runs every spec file of the required modules and inheritance, then any extra spec-format files. */
int
main(int argc, char **argv)
{
	int			passed = 0,
				failed = 0;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s SPEC_DIR [EXTRA.json ...]\n", argv[0]);
		return 2;
	}
	for (size_t f = 0; f < sizeof(spec_files) / sizeof(spec_files[0]); f++)
	{
		char		path[4096];

		snprintf(path, sizeof(path), "%s/%s.json", argv[1], spec_files[f]);
		run_file(spec_files[f], path, &passed, &failed);
	}
	for (int a = 2; a < argc; a++)
		run_file(argv[a], argv[a], &passed, &failed);
	printf("mustache-spec: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
