/*
 * html_links.h: the links of an HTML email, found with a real HTML5 parser (gumbo), not with
 * patterns, and rewritten for click tracking; plus the open pixel. No PostgreSQL here: memory
 * comes from mtalloc.h (palloc inside the extension, malloc in test/unit and test/fuzz).
 *
 * A link is the href of an <a> or <area> element. Links are numbered from 1 in the order their
 * href appears in the source, each source attribute once (the parser may clone an <a> while it
 * repairs misnested markup: the clone is the same link). Every link gets a number, tracked or
 * not, so the number of a link depends on the HTML alone, never on settings: the click route
 * finds link n again in the outbox row's own html_body.
 *
 * A link is tracked when its URL is absolute http:// or https:// (so never mailto:, tel:,
 * javascript: or a #anchor), its element has no data-mt-notrack attribute, and it does not start
 * with one of the caller's excluded prefixes (the unsubscribe link). The output is the input
 * byte for byte except the href values of tracked links and the pixel: no reserialization.
 */
#ifndef MT_HTML_LINKS_H
#define MT_HTML_LINKS_H

#include <stdbool.h>
#include <stddef.h>

/* One link of a document. */
typedef struct MtHtmlLink
{
	int			number;			/* from 1, in source order */
	char	   *url;			/* the href as a browser reads it (entities decoded) */
	bool		tracked;		/* would be rewritten (see above) */
	size_t		value_offset;	/* where the attribute value (with its quotes) starts in the source */
	size_t		value_length;	/* its length in the source, quotes included; 0: no value */
} MtHtmlLink;

/* All links of a document, in number order. */
typedef struct MtHtmlLinks
{
	MtHtmlLink *links;
	int			count;
	size_t		pixel_offset;	/* where the open pixel goes: before </body>, else the end */
} MtHtmlLinks;

/*
 * Finds the links of html (len bytes); exclude is a NULL-terminated list of URL prefixes never
 * tracked (may be NULL). Free with mt_html_links_free.
 */
extern void mt_html_links_find(const char *html, size_t len, const char *const *exclude, MtHtmlLinks *out);
extern void mt_html_links_free(MtHtmlLinks *links);

/*
 * Returns the URL that replaces tracked link number n (an mt_alloc'd string, freed by the
 * caller), or NULL to leave that link as it is.
 */
typedef char *(*MtLinkRewriter) (void *arg, int number, const char *url);

/*
 * The HTML with every tracked link's href replaced by rewrite()'s URL (HTML-escaped, in double
 * quotes) and, when pixel_url is not NULL, a 1x1 image of that URL before </body> (or at the
 * end). *tracked (may be NULL) gets how many links were rewritten. mt_alloc'd, NUL-terminated.
 */
extern char *mt_html_track_links(const char *html, size_t len, const char *const *exclude,
								 MtLinkRewriter rewrite, void *arg, const char *pixel_url, int *tracked);

/* The URL of link number n (an mt_alloc'd copy) when it exists and is tracked, else NULL. */
extern char *mt_html_tracked_link(const char *html, size_t len, const char *const *exclude, int n);

#endif
