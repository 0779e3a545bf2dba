/*
 * render.h: Mustache rendering over jsonb data (the PostgreSQL side of mustache.h), used by
 * render() and by run_pending when it builds an email.
 */
#ifndef MT_RENDER_H
#define MT_RENDER_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "mustache.h"

typedef enum MtRenderMode
{
	MT_RENDER_HTML,				/* {{x}} is HTML-escaped */
	MT_RENDER_TEXT,				/* plain text: nothing escaped */
	MT_RENDER_HEADER			/* plain text for subject/preheader: CR and LF become spaces */
} MtRenderMode;

/* Largest rendered output, in bytes (a runaway template fails cleanly past it). */
#define MT_RENDER_MAX_OUTPUT	(1024 * 1024)

/*
 * Renders template text against data. Partials and parents resolve from `partials` (a jsonb
 * object name -> template text, may be NULL), then from microtrigger.templates by name
 * (its html_body for MT_RENDER_HTML, else its text_body) among those owned by a role that
 * `reader` is a member of. Returns the palloc'd result, or NULL
 * with *error set to a palloc'd message (syntax error, recursion or size limit) — it never
 * raises an error for a bad template, so run_pending can record a decision instead.
 */
extern char *mt_render_jsonb(const char *template_text, Jsonb *data, Jsonb *partials,
							 MtRenderMode mode, Oid reader, char **error);

/*
 * The same with a template compiled beforehand by mt_template_compile (in a memory context
 * that outlives the call), for callers that render one template many times.
 */
extern char *mt_render_compiled(const MtmTemplate *tmpl, Jsonb *data, Jsonb *partials,
								MtRenderMode mode, Oid reader, char **error);

/*
 * Compiles template text in CurrentMemoryContext (it lives as long as that context); NULL with
 * *error filled (line, column, reason) when it is not valid. Never raises an error for a bad
 * template.
 */
extern MtmTemplate *mt_template_compile(const char *template_text, size_t len, MtmError *error);

/*
 * Between these, partials and parents read from microtrigger.templates are kept (compiled, in
 * cxt) instead of being read for every render: for run_pending's batches, in which no template
 * can change. _end must be called before cxt goes away, also when the batch fails.
 */
extern void mt_render_batch_begin(MemoryContext cxt);
extern void mt_render_batch_end(void);

/* True when the dotted name (as in {{a.b}}) resolves to a value other than null in data. */
extern bool mt_render_has_name(Jsonb *data, const char *dotted_name);

#endif
