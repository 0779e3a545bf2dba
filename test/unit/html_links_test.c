/*
 * html_links_test.c: unit tests of src/core/html_links.c alone (no PostgreSQL): which links are
 * tracked, their numbering in source order, byte-for-byte output outside the rewritten hrefs,
 * where the pixel goes, entity decoding, misnested markup. Prints "html-links-unit: N passed, M failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html_links.h"
#include "mtalloc.h"
#include "unit_check.h"

/* The rewriter of the tests: "T<n>" for link n, and notes every URL it was asked about. */
static char seen[2048];

/* Rewrites link n to https://t.example/c/<n>, noting "n=url;" in seen. */
static char *
test_rewrite(void *arg, int number, const char *url)
{
	char		buf[64];
	size_t		used = strlen(seen);

	snprintf(seen + used, sizeof(seen) - used, "%d=%s;", number, url);
	snprintf(buf, sizeof(buf), "https://t.example/c/%d", number);
	return mt_strndup(buf, strlen(buf));
}

/* Rewrites html with the test rewriter; returns the output (caller frees). */
static char *
track(const char *html, const char *pixel, int *tracked)
{
	static const char *const exclude[] = {"https://acme.example/unsubscribe", NULL};

	seen[0] = '\0';
	return mt_html_track_links(html, strlen(html), exclude, test_rewrite, NULL, pixel, tracked);
}

/* Checks that out equals want, printing both when not. */
static void
check_equal(const char *out, const char *want, const char *what)
{
	int			ok = strcmp(out, want) == 0;
	char		detail[4096];

	snprintf(detail, sizeof(detail), "\n  got:  %s\n  want: %s", out, want);
	check(ok, what, ok ? NULL : detail);
}

/* Which links are tracked and which are left alone. */
static void
test_which_links(void)
{
	int			n;
	char	   *out = track("<p><a href=\"https://a.example/x\">a</a>"
							"<a href=\"mailto:x@y.example\">m</a>"
							"<a href=\"#top\">t</a>"
							"<a href=\"https://acme.example/unsubscribe?token=abc\">u</a>"
							"<a data-mt-notrack href=\"https://b.example/\">n</a>"
							"<a href=\"javascript:alert(1)\">j</a>"
							"<a href=\"/relative\">r</a>"
							"<a>no href</a>"
							"<a href=\"HTTP://C.example/\">c</a></p>", NULL, &n);

	check_equal(out, "<p><a href=\"https://t.example/c/1\">a</a>"
				"<a href=\"mailto:x@y.example\">m</a>"
				"<a href=\"#top\">t</a>"
				"<a href=\"https://acme.example/unsubscribe?token=abc\">u</a>"
				"<a data-mt-notrack href=\"https://b.example/\">n</a>"
				"<a href=\"javascript:alert(1)\">j</a>"
				"<a href=\"/relative\">r</a>"
				"<a>no href</a>"
				"<a href=\"https://t.example/c/8\">c</a></p>", "only http(s) links without exclusion are tracked");
	check(n == 2, "two links rewritten", NULL);
	check(strcmp(seen, "1=https://a.example/x;8=HTTP://C.example/;") == 0,
		  "every link numbered in source order, tracked or not", seen);
	mt_free(out);
}

/* Quoting styles, entities in URLs, upper-case tags, and everything else kept byte for byte. */
static void
test_bytes_kept(void)
{
	int			n;
	const char *html = "<!doctype html><HTML><head><style>a{color:red}</style></head>"
		"<BODY><!-- <a href=\"https://comment.example/\"> -->"
		"<A HREF=https://u.example/?a=1&amp;b=2 class=x>unquoted</A>"
		"<a href='https://s.example/'>single</a>"
		"<area href=\"https://area.example/\">"
		"<script>document.write('<a href=\"https://script.example/\">')</script>"
		"</BODY></HTML>";
	char	   *out = track(html, NULL, &n);

	check_equal(out, "<!doctype html><HTML><head><style>a{color:red}</style></head>"
				"<BODY><!-- <a href=\"https://comment.example/\"> -->"
				"<A HREF=\"https://t.example/c/1\" class=x>unquoted</A>"
				"<a href=\"https://t.example/c/2\">single</a>"
				"<area href=\"https://t.example/c/3\">"
				"<script>document.write('<a href=\"https://script.example/\">')</script>"
				"</BODY></HTML>", "comments and scripts are not links; the rest is kept");
	check(strcmp(seen, "1=https://u.example/?a=1&b=2;2=https://s.example/;3=https://area.example/;") == 0,
		  "URLs as a browser reads them (entities decoded)", seen);
	mt_free(out);
}

/* The pixel: before </body>, else at the end; HTML-escaped. */
static void
test_pixel(void)
{
	int			n;
	char	   *out = track("<html><body><p>hi</p></body></html>", "https://t.example/o/a&b", &n);

	check_equal(out, "<html><body><p>hi</p><img src=\"https://t.example/o/a&amp;b\" width=\"1\" height=\"1\""
				" alt=\"\" border=\"0\" style=\"display:block;width:1px;height:1px;border:0\"></body></html>",
				"pixel before </body>");
	mt_free(out);
	out = track("<p>fragment <a href=\"https://x.example/\">x</a></p>", "P", &n);
	check_equal(out, "<p>fragment <a href=\"https://t.example/c/1\">x</a></p><img src=\"P\" width=\"1\" height=\"1\""
				" alt=\"\" border=\"0\" style=\"display:block;width:1px;height:1px;border:0\">",
				"pixel at the end of a fragment");
	mt_free(out);
	out = track("<body>a</body><a href=\"https://late.example/\">late</a>", "P", &n);
	check(strstr(out, "<img src=\"P\"") != NULL && strstr(out, "https://t.example/c/1") != NULL &&
		  strstr(out, "<img") < strstr(out, "</body>"), "a link after </body> is still tracked", out);
	mt_free(out);
}

/* Misnested markup the parser repairs by cloning <a>: each source link counted once. */
static void
test_misnested(void)
{
	int			n;
	char	   *out = track("<a href=\"https://one.example/\"><p>x</a>y<a href=\"https://two.example/\">z",
							NULL, &n);

	check(n == 2, "a cloned <a> is one link", out);
	check(strcmp(seen, "1=https://one.example/;2=https://two.example/;") == 0, "numbers 1 and 2", seen);
	mt_free(out);
}

/* Lookup of link n, as the click route does it. */
static void
test_lookup(void)
{
	const char *html = "<a href=\"mailto:a@b.example\">m</a><a href=\"https://x.example/?q=1&amp;r\">x</a>"
		"<a data-mt-notrack href=\"https://n.example/\">n</a>";
	char	   *url;

	url = mt_html_tracked_link(html, strlen(html), NULL, 2);
	check(url != NULL && strcmp(url, "https://x.example/?q=1&r") == 0, "link 2 found", url);
	mt_free(url);
	check(mt_html_tracked_link(html, strlen(html), NULL, 1) == NULL, "mailto: link 1 never redirected", NULL);
	check(mt_html_tracked_link(html, strlen(html), NULL, 3) == NULL, "notrack link 3 never redirected", NULL);
	check(mt_html_tracked_link(html, strlen(html), NULL, 4) == NULL, "no link 4", NULL);
	check(mt_html_tracked_link(html, strlen(html), NULL, 0) == NULL, "no link 0", NULL);
	check(mt_html_tracked_link("", 0, NULL, 1) == NULL, "empty document", NULL);
}

/* A deeply nested document (no recursion in the walk) and a document with many links. */
static void
test_large(void)
{
	size_t		cap = 400000;
	char	   *html = malloc(cap);
	size_t		len = 0;
	int			n;
	char	   *out;

	for (int i = 0; i < 20000; i++)
		len += snprintf(html + len, cap - len, "<div>");
	len += snprintf(html + len, cap - len, "<a href=\"https://deep.example/\">d</a>");
	out = mt_html_track_links(html, len, NULL, test_rewrite, NULL, NULL, &n);
	check(n == 1, "a link under 20,000 nested elements", NULL);
	mt_free(out);
	len = 0;
	for (int i = 0; i < 3000; i++)
		len += snprintf(html + len, cap - len, "<a href=\"https://m.example/%d\">%d</a>", i, i);
	seen[0] = '\0';
	out = mt_html_track_links(html, len, NULL, test_rewrite, NULL, NULL, &n);
	check(n == 3000 && strstr(out, "https://t.example/c/3000\"") != NULL, "3,000 links", NULL);
	mt_free(out);
	free(html);
}

/* Runs every group and prints the summary line. */
int
main(void)
{
	test_which_links();
	test_bytes_kept();
	test_pixel();
	test_misnested();
	test_lookup();
	test_large();
	printf("html-links-unit: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
