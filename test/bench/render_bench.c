/*
 * render_bench.c: renders per second of one email through the Mustache engine core (json-c
 * data, compiled once, partials/parents cached), for test/bench/render_bench.sh.
 * Usage: render_bench DIR SECONDS OUTPUT   (DIR holds email.mustache, layout.mustache, data.json)
 * Prints "renders_per_sec N" and writes the rendered email once to OUTPUT (for comparison).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "mtalloc.h"
#include "mtm_jsonc.h"
#include "mustache.h"

/* Reads a whole file into a malloc'd NUL-terminated string. */
static char *
read_file(const char *dir, const char *name)
{
	char		path[4096];
	FILE	   *f;
	long		size;
	char	   *text;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL)
	{
		perror(path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = malloc(size + 1);
	if (fread(text, 1, size, f) != (size_t) size)
		exit(2);
	text[size] = '\0';
	fclose(f);
	return text;
}

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Renders the email in a loop for the given time; prints the rate. */
int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	double		seconds = argc > 2 ? atof(argv[2]) : 2.0;
	char	   *email = read_file(dir, "email.mustache");
	char	   *layout = read_file(dir, "layout.mustache");
	char		data_path[4200];
	struct json_object *data;
	struct json_object *partials = json_object_new_object();
	MtmError	err = {0};
	MtmTemplate *tmpl;
	MtmJsoncPartials *lookup;
	MtmRenderOptions options = {0};
	long		renders = 0;
	double		start,
				elapsed;
	size_t		len;
	char	   *out;
	FILE	   *f;

	snprintf(data_path, sizeof(data_path), "%s/data.json", dir);
	data = json_object_from_file(data_path);
	json_object_object_add(partials, "layout", json_object_new_string(layout));
	tmpl = mtm_compile(email, strlen(email), &err);
	if (tmpl == NULL || data == NULL)
	{
		fprintf(stderr, "cannot load the benchmark email: %s\n", err.message);
		return 2;
	}
	lookup = mtm_jsonc_partials_new(partials);
	options.escape_html = true;
	options.lookup = mtm_jsonc_lookup;
	options.lookup_ctx = lookup;

	out = mtm_render(tmpl, &mtm_jsonc_ops, NULL, mtm_jsonc_value(data), &options, &len, &err);
	if (out == NULL)
	{
		fprintf(stderr, "render failed: %s\n", err.message);
		return 2;
	}
	f = argc > 3 ? fopen(argv[3], "wb") : NULL;
	if (f)
	{
		fwrite(out, 1, len, f);
		fclose(f);
	}
	mt_free(out);

	start = now();
	do
	{
		for (int i = 0; i < 1000; i++)
		{
			out = mtm_render(tmpl, &mtm_jsonc_ops, NULL, mtm_jsonc_value(data), &options, &len, &err);
			mt_free(out);
		}
		renders += 1000;
		elapsed = now() - start;
	} while (elapsed < seconds);
	printf("renders_per_sec %.0f\n", renders / elapsed);
	return 0;
}
