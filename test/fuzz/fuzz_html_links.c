/*
 * fuzz_html_links.c: libFuzzer target for src/core/html_links.c. The input is an HTML document;
 * it is rewritten with a rewriter that checks every URL it is given, and the output is checked:
 * it is the input with only the rewritten hrefs and the pixel changed, so its length is known
 * exactly, and every tracked link found again by number is the URL the rewriter saw.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html_links.h"
#include "mtalloc.h"

/* Counts the calls and checks number order. */
typedef struct FuzzState
{
	int			last_number;
} FuzzState;

/* Rewrites every link to a fixed-length URL; aborts when numbers are not increasing. */
static char *
fuzz_rewrite(void *arg, int number, const char *url)
{
	FuzzState  *state = arg;

	if (number <= state->last_number || url == NULL)
		abort();
	state->last_number = number;
	return mt_strndup("https://t.example/c/x", 21);
}

/* One input: find, rewrite, look each link up again. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MtHtmlLinks links;
	FuzzState	state = {0};
	char	   *html = mt_strndup((const char *) data, size);
	char	   *out;
	int			tracked = 0;
	size_t		expected;

	mt_html_links_find(html, size, NULL, &links);
	out = mt_html_track_links(html, size, NULL, fuzz_rewrite, &state, "P", &tracked);
	/* every tracked link's value replaced by "https://t.example/c/x" (23 bytes with quotes) */
	expected = size + strlen("<img src=\"P\" width=\"1\" height=\"1\" alt=\"\" border=\"0\""
							 " style=\"display:block;width:1px;height:1px;border:0\">");
	for (int i = 0; i < links.count; i++)
	{
		char	   *url;

		if (links.links[i].number != i + 1)
			abort();
		if (!links.links[i].tracked)
			continue;
		expected = expected - links.links[i].value_length + 23;
		url = mt_html_tracked_link(html, size, NULL, i + 1);
		if (url == NULL || strcmp(url, links.links[i].url) != 0)
			abort();
		mt_free(url);
	}
	if (strlen(out) != expected && memchr(html, '\0', size) == NULL)
		abort();
	mt_free(out);
	mt_html_links_free(&links);
	mt_free(html);
	return 0;
}
