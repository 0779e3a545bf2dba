/*
 * mustache.h: the Mustache template engine core. No PostgreSQL dependency (libc, mtalloc.h only),
 * so it can be unit-tested against the official spec and fuzzed alone.
 *
 * A template is parsed once (mtm_compile) into a tree; rendering walks the tree. Data is reached
 * through MtmDataOps, callbacks over opaque value handles: render.c implements them over jsonb
 * (no detour through text), the unit tests over json-c. Partials and parents come from a lookup
 * callback that hands back compiled templates, so callers decide how to cache them.
 *
 * Implements the spec's required modules (comments, delimiters, interpolation, inverted, partials,
 * sections) and ~inheritance (parents {{<p}}, blocks {{$b}}, with block reindentation). Lambdas
 * and dynamic names are not supported.
 *
 * Memory: everything comes from mtalloc.h (palloc in CurrentMemoryContext inside PostgreSQL).
 */
#ifndef MT_MUSTACHE_H
#define MT_MUSTACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A compiled template: opaque outside mustache.c. */
typedef struct MtmTemplate MtmTemplate;

/* A value handle of the data interface: opaque to the engine. NULL always means "missing". */
typedef const void *MtmValue;

/* What a value is, as the engine needs to know it. */
typedef enum MtmKind
{
	MTM_MISSING,
	MTM_NULL,
	MTM_FALSE,
	MTM_TRUE,
	MTM_NUMBER,
	MTM_STRING,
	MTM_ARRAY,
	MTM_OBJECT
} MtmKind;

/* The output a scalar is written to (escaping as its tag requires): opaque. */
typedef struct MtmOut MtmOut;

/* Appends text to the output, HTML-escaping it when the tag being rendered escapes. */
extern void mtm_out_write(MtmOut *out, const char *text, size_t len);

/* The data interface: how the engine reads values it does not own. */
typedef struct MtmDataOps
{
	/* the kind of v (v is never NULL: NULL is MTM_MISSING without a call) */
	MtmKind		(*kind) (void *ctx, MtmValue v);
	/* the member `key` of an object, or NULL when there is none (key is also NUL-terminated) */
	MtmValue	(*get_key) (void *ctx, MtmValue object, const char *key, size_t key_len);
	/* the number of elements of an array */
	size_t		(*array_length) (void *ctx, MtmValue array);
	/* element i (< array_length) of an array */
	MtmValue	(*array_element) (void *ctx, MtmValue array, size_t index);
	/* writes the text of a string or number through mtm_out_write (numbers as JSON writes them) */
	void		(*append_scalar) (void *ctx, MtmValue scalar, MtmOut *out);
	/* optional: the engine is done with a handle it got from get_key or array_element */
	void		(*release) (void *ctx, MtmValue v);
} MtmDataOps;

/* A syntax or render error: where and why. */
typedef struct MtmError
{
	bool		failed;
	int			line;			/* 1-based; 0 when there is no position (render limits) */
	int			column;			/* 1-based, in characters */
	char		where[160];		/* "" for the template itself, else e.g. partial "footer" */
	char		message[320];	/* lowercase reason, no trailing period */
	bool		too_large;		/* the text is over MTM_MAX_TEMPLATE_SIZE (a size limit, not syntax) */
} MtmError;

/*
 * Partial and parent lookup: the compiled template called `name`, or NULL when there is none
 * (it renders as the empty string). On a syntax error in that template, set *err with
 * mtm_error_set_where(err, ...) and return NULL: the render fails with that error.
 */
typedef const MtmTemplate *(*MtmPartialLookup) (void *ctx, const char *name, size_t name_len,
												MtmError *err);

/* Render settings; zeroes give the defaults. */
typedef struct MtmRenderOptions
{
	bool		escape_html;	/* {{x}} escapes & < > " ' ({{{x}}} and {{&x}} never do) */
	size_t		max_output;		/* bytes of output allowed; 0 = MTM_DEFAULT_MAX_OUTPUT */
	int			max_depth;		/* nested partials/parents/blocks; 0 = MTM_DEFAULT_MAX_DEPTH */
	uint64_t	max_steps;		/* nodes visited + loop iterations; 0 = MTM_DEFAULT_MAX_STEPS */
	MtmPartialLookup lookup;	/* NULL: every partial is missing */
	void	   *lookup_ctx;

	/*
	 * Optional second guard of the C stack, asked once per level of recursion: true when the
	 * stack is nearly used up, and the render then fails cleanly. The limits below already bound
	 * the recursion; PostgreSQL fills this with stack_is_too_deep() (check_stack_depth()'s test).
	 */
	bool		(*stack_too_deep) (void);
} MtmRenderOptions;

#define MTM_DEFAULT_MAX_OUTPUT	(1024 * 1024)
#define MTM_DEFAULT_MAX_DEPTH	64
#define MTM_DEFAULT_MAX_STEPS	(5 * 1000 * 1000)

/*
 * Compile limits, the same for every caller. One template text (one part of an email, one
 * partial) is at most MTM_MAX_TEMPLATE_SIZE bytes; sections, inverted sections, parents and
 * blocks nest at most MTM_MAX_NESTING levels inside one template. Together with max_depth they
 * bound the renderer's recursion (at most max_depth x MTM_MAX_NESTING levels).
 */
#define MTM_MAX_TEMPLATE_SIZE	(1024 * 1024)
#define MTM_MAX_NESTING			100

/*
 * Parses a template (len bytes, need not be NUL-terminated; the text is copied). Returns NULL and
 * fills *err (line, column, reason) on a syntax error or nesting deeper than MTM_MAX_NESTING;
 * a text longer than MTM_MAX_TEMPLATE_SIZE is refused before any work, with err->too_large set
 * and no position (line 0).
 */
extern MtmTemplate *mtm_compile(const char *text, size_t len, MtmError *err);

/* Releases a compiled template (NULL is allowed). */
extern void mtm_free(MtmTemplate *tmpl);

/* The number of conditional sections ({{#x}} and {{^x}}) in the template, blocks included. */
extern int	mtm_count_conditionals(const MtmTemplate *tmpl);

/* How deep sections, inverted sections, parents and blocks nest (0 for none; <= MTM_MAX_NESTING). */
extern int	mtm_nesting_depth(const MtmTemplate *tmpl);

/*
 * Renders tmpl against `root`. Returns the output (NUL-terminated, *out_len bytes, from
 * mt_alloc: release with mt_free), or NULL with *err set (partial syntax error, nesting deeper
 * than max_depth, output larger than max_output, more than max_steps of work, stack_too_deep).
 */
extern char *mtm_render(const MtmTemplate *tmpl, const MtmDataOps *ops, void *data_ctx,
						MtmValue root, const MtmRenderOptions *options,
						size_t *out_len, MtmError *err);

/*
 * Resolves a dotted name ("a.b.c", or "." for root) against root alone, as {{a.b.c}} would at
 * the top of a template. Returns NULL when it is missing.
 */
extern MtmValue mtm_resolve_dotted(const MtmDataOps *ops, void *data_ctx, MtmValue root,
								   const char *dotted_name, size_t len);

/* Records an error (the first one only); `where` may be NULL. */
extern void mtm_error_set_where(MtmError *err, const char *where, int line, int column,
								const char *fmt,...) __attribute__((format(printf, 5, 6)));

/* Writes "line L, column C: reason" (prefixed by where, when set) into buf. */
extern void mtm_error_format(const MtmError *err, char *buf, size_t size);

#endif
