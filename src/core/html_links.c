/*
 * html_links.c: finding and rewriting the links of an HTML email with gumbo (an HTML5 parser);
 * see html_links.h. gumbo allocates through mt_alloc, so inside the extension a parse lives in
 * the current memory context and an error cannot leak it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gumbo.h>

#include "html_links.h"
#include "mime.h"
#include "mtalloc.h"

/* gumbo's allocator: mt_alloc (palloc in the extension). */
static void *
gumbo_alloc(void *userdata, size_t size)
{
	return mt_alloc(size);
}

/* gumbo's deallocator: mt_free. */
static void
gumbo_dealloc(void *userdata, void *ptr)
{
	mt_free(ptr);
}

/* What the tree walk collects. */
typedef struct LinkWalk
{
	const char *html;
	size_t		len;
	const char *const *exclude;
	MtHtmlLink *links;
	int			count;
	int			cap;
} LinkWalk;

/* True when url is absolute http(s) and starts with none of the excluded prefixes. */
static bool
trackable_url(const char *url, const char *const *exclude)
{
	while (*url == ' ' || *url == '\t' || *url == '\n' || *url == '\r' || *url == '\f')
		url++;
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return false;
	for (int i = 0; exclude != NULL && exclude[i] != NULL; i++)
		if (exclude[i][0] != '\0' && strncmp(url, exclude[i], strlen(exclude[i])) == 0)
			return false;
	return true;
}

/* Adds the href of one <a>/<area> element, when its value is in the source. */
static void
collect_link(LinkWalk *walk, const GumboElement *element)
{
	GumboAttribute *href = gumbo_get_attribute(&element->attributes, "href");
	MtHtmlLink *link;
	size_t		offset;

	if (href == NULL)
		return;
	/* a value-less href has original_value pointing at its name: treat it as no value */
	if (href->value[0] == '\0' || href->original_value.data == NULL || href->original_value.length == 0 ||
		href->original_value.data < walk->html ||
		href->original_value.data + href->original_value.length > walk->html + walk->len)
		return;
	offset = (size_t) (href->original_value.data - walk->html);
	if (walk->count == walk->cap)
	{
		walk->cap = walk->cap ? walk->cap * 2 : 16;
		walk->links = mt_realloc(walk->links, sizeof(MtHtmlLink) * walk->cap);
	}
	link = &walk->links[walk->count++];
	memset(link, 0, sizeof(*link));
	link->url = mt_strndup(href->value, strlen(href->value));
	link->tracked = gumbo_get_attribute(&element->attributes, "data-mt-notrack") == NULL &&
		trackable_url(href->value, walk->exclude);
	link->value_offset = offset;
	link->value_length = href->original_value.length;
}

/* Walks the tree without recursion (a deep document cannot exhaust the stack). */
static void
walk_tree(LinkWalk *walk, GumboNode *root, size_t *pixel_offset)
{
	GumboNode **stack;
	int			depth = 0;
	int			cap = 64;

	stack = mt_alloc(sizeof(GumboNode *) * cap);
	stack[depth++] = root;
	while (depth > 0)
	{
		GumboNode  *node = stack[--depth];
		GumboElement *element;

		if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_TEMPLATE &&
			node->type != GUMBO_NODE_DOCUMENT)
			continue;
		if (node->type == GUMBO_NODE_DOCUMENT)
		{
			for (int i = (int) node->v.document.children.length - 1; i >= 0; i--)
			{
				if (depth == cap)
					stack = mt_realloc(stack, sizeof(GumboNode *) * (cap *= 2));
				stack[depth++] = node->v.document.children.data[i];
			}
			continue;
		}
		element = &node->v.element;
		if (element->tag_namespace == GUMBO_NAMESPACE_HTML &&
			(element->tag == GUMBO_TAG_A || element->tag == GUMBO_TAG_AREA))
			collect_link(walk, element);
		if (element->tag == GUMBO_TAG_BODY && element->original_end_tag.length > 0 &&
			element->original_end_tag.data >= walk->html &&
			element->original_end_tag.data <= walk->html + walk->len)
			*pixel_offset = (size_t) (element->original_end_tag.data - walk->html);
		for (int i = (int) element->children.length - 1; i >= 0; i--)
		{
			if (depth == cap)
				stack = mt_realloc(stack, sizeof(GumboNode *) * (cap *= 2));
			stack[depth++] = element->children.data[i];
		}
	}
	mt_free(stack);
}

/* Orders links by source offset. */
static int
compare_links(const void *a, const void *b)
{
	const MtHtmlLink *x = a;
	const MtHtmlLink *y = b;

	return (x->value_offset > y->value_offset) - (x->value_offset < y->value_offset);
}

/* Finds the links of a document: parse, collect, order by source, drop clones, number. */
void
mt_html_links_find(const char *html, size_t len, const char *const *exclude, MtHtmlLinks *out)
{
	GumboOptions options = kGumboDefaultOptions;
	GumboOutput *parsed;
	LinkWalk	walk = {0};
	int			kept = 0;

	memset(out, 0, sizeof(*out));
	out->pixel_offset = len;
	options.allocator = gumbo_alloc;
	options.deallocator = gumbo_dealloc;
	options.max_errors = 0;		/* parse errors are repaired, never kept */
	parsed = gumbo_parse_with_options(&options, html, len);
	walk.html = html;
	walk.len = len;
	walk.exclude = exclude;
	walk_tree(&walk, parsed->document, &out->pixel_offset);
	gumbo_destroy_output(&options, parsed);

	if (walk.count > 1)
		qsort(walk.links, walk.count, sizeof(MtHtmlLink), compare_links);
	for (int i = 0; i < walk.count; i++)
	{
		if (kept > 0 && walk.links[kept - 1].value_offset == walk.links[i].value_offset)
		{
			/* a clone of the same source element: keep tracking only if both allow it */
			walk.links[kept - 1].tracked &= walk.links[i].tracked;
			mt_free(walk.links[i].url);
			continue;
		}
		walk.links[kept] = walk.links[i];
		walk.links[kept].number = kept + 1;
		kept++;
	}
	out->links = walk.links;
	out->count = kept;
}

/* Frees what mt_html_links_find allocated. */
void
mt_html_links_free(MtHtmlLinks *links)
{
	for (int i = 0; i < links->count; i++)
		mt_free(links->links[i].url);
	mt_free(links->links);
	links->links = NULL;
	links->count = 0;
}

/* Appends the HTML escaping of an attribute value, in double quotes. */
static void
append_quoted(MtBuf *out, const char *value)
{
	mt_buf_puts(out, "\"");
	mt_html_escape(out, value);
	mt_buf_puts(out, "\"");
}

/* The document with tracked links rewritten and the pixel added; see html_links.h. */
char *
mt_html_track_links(const char *html, size_t len, const char *const *exclude,
					MtLinkRewriter rewrite, void *arg, const char *pixel_url, int *tracked)
{
	MtHtmlLinks links;
	MtBuf		out;
	size_t		at = 0;
	int			rewritten = 0;
	bool		pixel_done = (pixel_url == NULL);

	mt_html_links_find(html, len, exclude, &links);
	mt_buf_init(&out);
	for (int i = 0; i <= links.count; i++)
	{
		MtHtmlLink *link = i < links.count ? &links.links[i] : NULL;
		size_t		next = link ? link->value_offset : len;
		char	   *url = NULL;

		/* the pixel sits between links when </body> comes before this one */
		if (!pixel_done && links.pixel_offset <= next)
		{
			mt_buf_append(&out, html + at, links.pixel_offset - at);
			at = links.pixel_offset;
			mt_buf_puts(&out, "<img src=");
			append_quoted(&out, pixel_url);
			mt_buf_puts(&out, " width=\"1\" height=\"1\" alt=\"\" border=\"0\""
						" style=\"display:block;width:1px;height:1px;border:0\">");
			pixel_done = true;
		}
		if (link == NULL)
			break;
		mt_buf_append(&out, html + at, link->value_offset - at);
		at = link->value_offset;
		if (link->tracked)
			url = rewrite(arg, link->number, link->url);
		if (url != NULL)
		{
			append_quoted(&out, url);
			mt_free(url);
			at += link->value_length;
			rewritten++;
		}
	}
	mt_buf_append(&out, html + at, len - at);
	mt_html_links_free(&links);
	if (tracked)
		*tracked = rewritten;
	return out.data;
}

/* The URL of tracked link n, or NULL. */
char *
mt_html_tracked_link(const char *html, size_t len, const char *const *exclude, int n)
{
	MtHtmlLinks links;
	char	   *url = NULL;

	mt_html_links_find(html, len, exclude, &links);
	if (n >= 1 && n <= links.count && links.links[n - 1].tracked)
	{
		url = links.links[n - 1].url;
		links.links[n - 1].url = NULL;
	}
	mt_html_links_free(&links);
	return url;
}
