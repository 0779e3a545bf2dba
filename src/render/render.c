/*
 * render.c: Mustache over jsonb (render.h). The engine core (mustache.c) reads jsonb through the
 * data interface below, straight from the JsonbContainer with no conversion to text; partials
 * and parents come from the `partials` argument, then from microtrigger.templates through a
 * prepared SPI plan. Also the SQL functions render() and has_name().
 *
 * Memory: every render runs in its own memory context, deleted when it ends, so the output
 * buffer, jsonb value handles and compiled partials of one render go at once. render() keeps
 * its compiled template and the partials compiled from its `partials` argument in contexts
 * under fn_mcxt, reused while those arguments stay the same (the rows of one query usually share
 * one template); partials read from the table are compiled per call.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "access/htup_details.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "mustache.h"
#include "render.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(mt_render_sql);
PG_FUNCTION_INFO_V1(mt_has_name_sql);
PG_FUNCTION_INFO_V1(mt_render_email_sql);

/* ------------------------------------------------------------------------------------------ */
/* The data interface over jsonb: a handle is a JsonbValue * (containers as jbvBinary)        */
/* ------------------------------------------------------------------------------------------ */

typedef struct JsonbData
{
	JsonbValue *spare;			/* a result slot left over from a failed key lookup */
} JsonbData;

/* The kind of a jsonb value. */
static MtmKind
mtj_kind(void *ctx, MtmValue v)
{
	const JsonbValue *jv = v;

	switch (jv->type)
	{
		case jbvNull:
			return MTM_NULL;
		case jbvBool:
			return jv->val.boolean ? MTM_TRUE : MTM_FALSE;
		case jbvNumeric:
			return MTM_NUMBER;
		case jbvString:
			return MTM_STRING;
		case jbvArray:
			return MTM_ARRAY;
		case jbvObject:
			return MTM_OBJECT;
		case jbvBinary:
			return JsonContainerIsObject(jv->val.binary.data) ? MTM_OBJECT : MTM_ARRAY;
		default:
			return MTM_NULL;	/* jbvDatetime does not occur in stored jsonb */
	}
}

/* An object's member, found by binary search in the container. */
static MtmValue
mtj_get_key(void *ctx, MtmValue object, const char *key, size_t key_len)
{
	JsonbData  *data = ctx;
	const JsonbValue *obj = object;
	JsonbValue *result;

	if (obj->type != jbvBinary)
		return NULL;
	result = data->spare ? data->spare : palloc(sizeof(JsonbValue));
	if (getKeyJsonValueFromContainer(obj->val.binary.data, key, (int) key_len, result) == NULL)
	{
		data->spare = result;
		return NULL;
	}
	data->spare = NULL;
	return result;
}

/* The number of elements of an array. */
static size_t
mtj_array_length(void *ctx, MtmValue array)
{
	const JsonbValue *arr = array;

	return arr->type == jbvBinary ? JsonContainerSize(arr->val.binary.data) : 0;
}

/* Element i of an array; also where a long loop over data can be cancelled. */
static MtmValue
mtj_array_element(void *ctx, MtmValue array, size_t index)
{
	const JsonbValue *arr = array;

	CHECK_FOR_INTERRUPTS();
	return getIthJsonbValueFromContainer(arr->val.binary.data, (uint32) index);
}

/* Writes a string as is, a number as numeric_out writes it (as jsonb prints it). */
static void
mtj_append_scalar(void *ctx, MtmValue scalar, MtmOut *out)
{
	const JsonbValue *jv = scalar;

	if (jv->type == jbvString)
		mtm_out_write(out, jv->val.string.val, jv->val.string.len);
	else if (jv->type == jbvNumeric)
	{
		char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
															   NumericGetDatum(jv->val.numeric)));

		mtm_out_write(out, text, strlen(text));
		pfree(text);
	}
}

/* The engine is done with a handle from get_key or array_element: keep one as the spare slot. */
static void
mtj_release(void *ctx, MtmValue v)
{
	JsonbData  *data = ctx;

	if (data->spare == NULL)
		data->spare = (JsonbValue *) v;
	else
		pfree((void *) v);
}

static const MtmDataOps mtj_ops = {
	.kind = mtj_kind,
	.get_key = mtj_get_key,
	.array_length = mtj_array_length,
	.array_element = mtj_array_element,
	.append_scalar = mtj_append_scalar,
	.release = mtj_release,
};

/* The handle of a whole jsonb document (NULL, the missing value, for a NULL document). */
static MtmValue
mtj_root(Jsonb *data)
{
	JsonbValue *root;

	if (data == NULL)
		return NULL;
	if (JB_ROOT_IS_SCALAR(data))
		return getIthJsonbValueFromContainer(&data->root, 0);
	root = palloc(sizeof(JsonbValue));
	root->type = jbvBinary;
	root->val.binary.data = &data->root;
	root->val.binary.len = VARSIZE(data) - VARHDRSZ;
	return root;
}

/* ------------------------------------------------------------------------------------------ */
/* Partials and parents: the partials argument, then microtrigger.templates                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct CachedPartial
{
	char	   *name;
	size_t		name_len;
	const MtmTemplate *tmpl;	/* NULL: there is no such template */
} CachedPartial;

/* A list of compiled partials by name, in one memory context. */
typedef struct PartialList
{
	MemoryContext cxt;
	CachedPartial *items;
	int			count;
	int			cap;
} PartialList;

/*
 * Partials from the argument may be kept as long as the argument is the same (render() keeps
 * them across the rows of a query); partials read from the table live for one render only, so
 * a template changed later in the same transaction is never served stale.
 */
typedef struct PartialLookup
{
	Jsonb	   *partials;		/* name -> template text; may be NULL */
	MtRenderMode mode;
	Oid			reader;			/* table partials must belong to a role this one is a member of */
	PartialList from_argument;
	PartialList from_table;
} PartialLookup;

/* Prepared once per backend and kept: one plan per body column. */
static SPIPlanPtr html_body_plan = NULL;
static SPIPlanPtr text_body_plan = NULL;

/*
 * The body of the templates row called name (html_body or text_body), copied into result_cxt;
 * NULL when there is none that `reader` may read (one owned by a role reader is a member of).
 */
static char *
table_template(const char *name, size_t name_len, MtRenderMode mode, Oid reader,
			   MemoryContext result_cxt)
{
	SPIPlanPtr *plan = mode == MT_RENDER_HTML ? &html_body_plan : &text_body_plan;
	MemoryContext caller = CurrentMemoryContext;
	char	   *result = NULL;
	Datum		args[2];
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not connect to SPI to look up template \"%.*s\"", (int) name_len, name)));
	if (*plan == NULL)
	{
		Oid			argtypes[2] = {TEXTOID, OIDOID};
		SPIPlanPtr	prepared;

		prepared = SPI_prepare(mode == MT_RENDER_HTML
							   ? "SELECT html_body FROM microtrigger.templates "
							   "WHERE name = $1 AND pg_catalog.pg_has_role($2, owner, 'MEMBER')"
							   : "SELECT text_body FROM microtrigger.templates "
							   "WHERE name = $1 AND pg_catalog.pg_has_role($2, owner, 'MEMBER')",
							   2, argtypes);
		if (prepared == NULL)
			mt_spi_failed("prepare the template lookup", SPI_result);
		SPI_keepplan(prepared);
		*plan = prepared;
	}
	args[0] = PointerGetDatum(cstring_to_text_with_len(name, (int) name_len));
	args[1] = ObjectIdGetDatum(reader);
	ret = SPI_execute_plan(*plan, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		mt_spi_failed(psprintf("look up template \"%.*s\"", (int) name_len, name), ret);
	if (SPI_processed > 0)
	{
		bool		isnull;
		Datum		body = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			MemoryContextSwitchTo(result_cxt);
			result = TextDatumGetCString(body);
		}
	}
	SPI_finish();
	MemoryContextSwitchTo(caller);
	return result;
}

/*
 * While run_pending acts on a batch (mt_render_batch_begin .. _end), the partials read from the
 * table are kept for the whole batch, by reader and body column: nothing in a batch can change a
 * template, and a layout would otherwise be read and compiled again for every email.
 */
typedef struct BatchPartial
{
	Oid			reader;
	bool		html;
	CachedPartial partial;
} BatchPartial;

static struct
{
	bool		active;
	MemoryContext cxt;
	BatchPartial *items;
	int			count;
	int			cap;
}			batch_partials;

/* Starts keeping table partials for a batch (see render.h). */
void
mt_render_batch_begin(MemoryContext cxt)
{
	memset(&batch_partials, 0, sizeof(batch_partials));
	batch_partials.cxt = cxt;
	batch_partials.active = true;
}

/* Stops keeping them (the memory is the caller's context). */
void
mt_render_batch_end(void)
{
	memset(&batch_partials, 0, sizeof(batch_partials));
}

/* The batch's entry for (reader, column, name), or NULL. */
static CachedPartial *
batch_partial_find(Oid reader, bool html, const char *name, size_t name_len)
{
	for (int i = 0; i < batch_partials.count; i++)
	{
		BatchPartial *b = &batch_partials.items[i];

		if (b->reader == reader && b->html == html && b->partial.name_len == name_len &&
			memcmp(b->partial.name, name, name_len) == 0)
			return &b->partial;
	}
	return NULL;
}

/* Keeps a table partial (source NULL: no such template) for the batch, compiled in its context. */
static const MtmTemplate *
batch_partial_add(Oid reader, bool html, const char *name, size_t name_len, const char *source,
				  MtmError *err, bool *failed)
{
	MemoryContext caller = MemoryContextSwitchTo(batch_partials.cxt);
	const MtmTemplate *tmpl = NULL;
	BatchPartial *b;

	*failed = false;
	if (source != NULL && (tmpl = mtm_compile(source, strlen(source), err)) == NULL)
	{
		snprintf(err->where, sizeof(err->where), "in partial \"%.*s\"", (int) Min(name_len, 100), name);
		MemoryContextSwitchTo(caller);
		*failed = true;
		return NULL;
	}
	if (batch_partials.count == batch_partials.cap)
	{
		batch_partials.cap = batch_partials.cap ? batch_partials.cap * 2 : 8;
		batch_partials.items = batch_partials.items
			? repalloc(batch_partials.items, batch_partials.cap * sizeof(BatchPartial))
			: palloc(batch_partials.cap * sizeof(BatchPartial));
	}
	b = &batch_partials.items[batch_partials.count++];
	b->reader = reader;
	b->html = html;
	b->partial.name = pnstrdup(name, name_len);
	b->partial.name_len = name_len;
	b->partial.tmpl = tmpl;
	MemoryContextSwitchTo(caller);
	return tmpl;
}

/* The cached entry for name in list, or NULL. */
static CachedPartial *
partial_list_find(PartialList *list, const char *name, size_t name_len)
{
	for (int i = 0; i < list->count; i++)
		if (list->items[i].name_len == name_len &&
			memcmp(list->items[i].name, name, name_len) == 0)
			return &list->items[i];
	return NULL;
}

/* Compiles source (NULL: no such template) into the list's context and remembers it. */
static bool
partial_list_add(PartialList *list, const char *name, size_t name_len, const char *source,
				 size_t source_len, const MtmTemplate **tmpl, MtmError *err)
{
	MemoryContext caller = MemoryContextSwitchTo(list->cxt);

	*tmpl = NULL;
	if (source != NULL)
	{
		*tmpl = mtm_compile(source, source_len, err);
		if (*tmpl == NULL)
		{
			snprintf(err->where, sizeof(err->where), "in partial \"%.*s\"",
					 (int) Min(name_len, 100), name);
			MemoryContextSwitchTo(caller);
			return false;
		}
	}
	if (list->count == list->cap)
	{
		list->cap = list->cap ? list->cap * 2 : 8;
		list->items = list->items
			? repalloc(list->items, list->cap * sizeof(CachedPartial))
			: palloc(list->cap * sizeof(CachedPartial));
	}
	list->items[list->count].name = pnstrdup(name, name_len);
	list->items[list->count].name_len = name_len;
	list->items[list->count].tmpl = *tmpl;
	list->count++;
	MemoryContextSwitchTo(caller);
	return true;
}

/* An MtmPartialLookup: the argument first, then the table; compiled once per name. */
static const MtmTemplate *
lookup_partial(void *ctx, const char *name, size_t name_len, MtmError *err)
{
	PartialLookup *lookup = ctx;
	CachedPartial *cached;
	JsonbValue	found;
	const MtmTemplate *tmpl;
	char	   *source;

	if ((cached = partial_list_find(&lookup->from_argument, name, name_len)) != NULL ||
		(cached = partial_list_find(&lookup->from_table, name, name_len)) != NULL)
		return cached->tmpl;

	if (lookup->partials != NULL && JB_ROOT_IS_OBJECT(lookup->partials) &&
		getKeyJsonValueFromContainer(&lookup->partials->root, name, (int) name_len, &found) != NULL)
	{
		bool		is_text = found.type == jbvString;

		partial_list_add(&lookup->from_argument, name, name_len,
						 is_text ? found.val.string.val : NULL,
						 is_text ? found.val.string.len : 0, &tmpl, err);
		return tmpl;
	}
	if (batch_partials.active)
	{
		bool		html = lookup->mode == MT_RENDER_HTML;
		bool		failed;

		if ((cached = batch_partial_find(lookup->reader, html, name, name_len)) != NULL)
			return cached->tmpl;
		source = table_template(name, name_len, lookup->mode, lookup->reader, lookup->from_table.cxt);
		tmpl = batch_partial_add(lookup->reader, html, name, name_len, source, err, &failed);
		return tmpl;
	}
	source = table_template(name, name_len, lookup->mode, lookup->reader, lookup->from_table.cxt);
	partial_list_add(&lookup->from_table, name, name_len, source, source ? strlen(source) : 0,
					 &tmpl, err);
	return tmpl;
}

/* ------------------------------------------------------------------------------------------ */
/* Rendering                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* The message for a failed compile or render, in CurrentMemoryContext. */
static char *
error_message(const MtmError *err)
{
	char		detail[600];

	mtm_error_format(err, detail, sizeof(detail));
	if (err->too_large)
		return psprintf("invalid template: %s", detail);
	if (err->line > 0)
		return psprintf("invalid template %s", detail);
	return psprintf("cannot render template: %s", detail);
}

/* The SQLSTATE of a failed compile or render: a template over the size limit is 54000. */
static int
error_code(const MtmError *err)
{
	return err->too_large ? ERRCODE_PROGRAM_LIMIT_EXCEEDED : ERRCODE_INVALID_PARAMETER_VALUE;
}

/*
 * Renders a compiled template in CurrentMemoryContext; NULL with *err on failure. In header mode
 * every CR and LF of the output becomes a space, so data cannot inject header lines.
 */
static char *
render_with(const MtmTemplate *tmpl, Jsonb *data, PartialLookup *lookup, MtRenderMode mode,
			size_t *len, MtmError *err)
{
	JsonbData	jsonb_data = {0};
	MtmRenderOptions options = {0};
	char	   *out;

	options.escape_html = mode == MT_RENDER_HTML;
	options.max_output = MT_RENDER_MAX_OUTPUT;
	options.lookup = lookup_partial;
	options.lookup_ctx = lookup;
	/* the compile limits bound the recursion; this guards max_stack_depth as well */
	options.stack_too_deep = stack_is_too_deep;
	out = mtm_render(tmpl, &mtj_ops, &jsonb_data, mtj_root(data), &options, len, err);
	if (out != NULL && mode == MT_RENDER_HEADER)
	{
		for (size_t i = 0; i < *len; i++)
			if (out[i] == '\r' || out[i] == '\n')
				out[i] = ' ';
	}
	return out;
}

/* Compiles template text in CurrentMemoryContext (see render.h). */
MtmTemplate *
mt_template_compile(const char *template_text, size_t len, MtmError *error)
{
	return mtm_compile(template_text, len, error);
}

/* Renders a compiled template in a short-lived context; the result is in the caller's context. */
char *
mt_render_compiled(const MtmTemplate *tmpl, Jsonb *data, Jsonb *partials, MtRenderMode mode,
				   Oid reader, char **error)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(caller, "microtrigger render",
											   ALLOCSET_DEFAULT_SIZES);
	PartialLookup lookup = {0};
	MtmError	err = {0};
	size_t		len = 0;
	char	   *out;
	char	   *result = NULL;

	MemoryContextSwitchTo(work);
	lookup.partials = partials;
	lookup.mode = mode;
	lookup.reader = reader;
	lookup.from_argument.cxt = work;
	lookup.from_table.cxt = work;
	out = render_with(tmpl, data, &lookup, mode, &len, &err);
	MemoryContextSwitchTo(caller);
	if (out != NULL)
		result = pnstrdup(out, len);
	else if (error != NULL)
		*error = error_message(&err);
	MemoryContextDelete(work);
	return result;
}

/* Compiles and renders template text (see render.h); never raises an error for a bad template. */
char *
mt_render_jsonb(const char *template_text, Jsonb *data, Jsonb *partials, MtRenderMode mode,
				Oid reader, char **error)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(caller, "microtrigger template",
											   ALLOCSET_SMALL_SIZES);
	MtmError	err = {0};
	MtmTemplate *tmpl;
	char	   *result;

	MemoryContextSwitchTo(work);
	tmpl = mtm_compile(template_text, strlen(template_text), &err);
	MemoryContextSwitchTo(caller);
	if (tmpl == NULL)
	{
		if (error != NULL)
			*error = error_message(&err);
		MemoryContextDelete(work);
		return NULL;
	}
	result = mt_render_compiled(tmpl, data, partials, mode, reader, error);
	MemoryContextDelete(work);
	return result;
}

/* True when the dotted name resolves to a value other than null (see render.h). */
bool
mt_render_has_name(Jsonb *data, const char *dotted_name)
{
	JsonbData	jsonb_data = {0};
	MtmValue	v;

	v = mtm_resolve_dotted(&mtj_ops, &jsonb_data, mtj_root(data), dotted_name,
						   strlen(dotted_name));
	return v != NULL && mtj_kind(&jsonb_data, v) != MTM_NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* SQL functions                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* What render() keeps between the calls of one query. */
typedef struct RenderCache
{
	MemoryContext template_cxt; /* the compiled template and its source */
	char	   *source;
	int			source_len;
	MtmTemplate *tmpl;
	MemoryContext partials_cxt; /* a copy of the partials argument and what was compiled */
	Jsonb	   *partials;
	PartialLookup lookup;
} RenderCache;

/* The cache of this call site, created on first use under fn_mcxt. */
static RenderCache *
render_cache(FunctionCallInfo fcinfo)
{
	RenderCache *cache = fcinfo->flinfo->fn_extra;

	if (cache == NULL)
	{
		MemoryContext fn_cxt = fcinfo->flinfo->fn_mcxt;

		cache = MemoryContextAllocZero(fn_cxt, sizeof(RenderCache));
		cache->template_cxt = AllocSetContextCreate(fn_cxt, "microtrigger render() template",
													ALLOCSET_SMALL_SIZES);
		cache->partials_cxt = AllocSetContextCreate(fn_cxt, "microtrigger render() partials",
													ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = cache;
	}
	return cache;
}

/* The compiled template for this source text, from the cache or compiled now; raises 22023. */
static const MtmTemplate *
cached_template(RenderCache *cache, const char *source, int len)
{
	MemoryContext caller = CurrentMemoryContext;
	MtmError	err = {0};

	if (cache->tmpl != NULL && cache->source_len == len && memcmp(cache->source, source, len) == 0)
		return cache->tmpl;
	MemoryContextReset(cache->template_cxt);
	cache->tmpl = NULL;
	MemoryContextSwitchTo(cache->template_cxt);
	cache->tmpl = mtm_compile(source, len, &err);
	MemoryContextSwitchTo(caller);
	if (cache->tmpl == NULL)
		ereport(ERROR,
				(errcode(error_code(&err)),
				 errmsg("%s", error_message(&err))));
	cache->source = MemoryContextAlloc(cache->template_cxt, len);
	memcpy(cache->source, source, len);
	cache->source_len = len;
	return cache->tmpl;
}

/* Points the partial lookup at these partials, keeping what was compiled if they are unchanged. */
static PartialLookup *
cached_lookup(RenderCache *cache, Jsonb *partials)
{
	if (cache->partials == NULL || VARSIZE(cache->partials) != VARSIZE(partials) ||
		memcmp(cache->partials, partials, VARSIZE(partials)) != 0)
	{
		MemoryContextReset(cache->partials_cxt);
		cache->partials = MemoryContextAlloc(cache->partials_cxt, VARSIZE(partials));
		memcpy(cache->partials, partials, VARSIZE(partials));
		memset(&cache->lookup, 0, sizeof(cache->lookup));
		cache->lookup.partials = cache->partials;
		cache->lookup.mode = MT_RENDER_HTML;
		cache->lookup.from_argument.cxt = cache->partials_cxt;
		cache->lookup.reader = GetUserId();
	}
	return &cache->lookup;
}

/*
 * microtrigger.render(template text, data jsonb, partials jsonb DEFAULT '{}') RETURNS text:
 * HTML-escaping render; a bad template or a render limit raises SQLSTATE 22023.
 */
Datum
mt_render_sql(PG_FUNCTION_ARGS)
{
	text	   *template = PG_GETARG_TEXT_PP(0);
	Jsonb	   *data = PG_GETARG_JSONB_P(1);
	Jsonb	   *partials = PG_GETARG_JSONB_P(2);
	RenderCache *cache = render_cache(fcinfo);
	const MtmTemplate *tmpl;
	PartialLookup *lookup;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work;
	MtmError	err = {0};
	size_t		len = 0;
	char	   *out;
	text	   *result;

	if (!JB_ROOT_IS_OBJECT(partials))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partials must be a jsonb object of template texts by name")));
	tmpl = cached_template(cache, VARDATA_ANY(template), VARSIZE_ANY_EXHDR(template));
	lookup = cached_lookup(cache, partials);

	work = AllocSetContextCreate(caller, "microtrigger render() call", ALLOCSET_DEFAULT_SIZES);
	memset(&lookup->from_table, 0, sizeof(lookup->from_table));
	lookup->from_table.cxt = work;
	lookup->reader = GetUserId();	/* partials from the table: only the caller's own */
	MemoryContextSwitchTo(work);
	out = render_with(tmpl, data, lookup, MT_RENDER_HTML, &len, &err);
	MemoryContextSwitchTo(caller);
	if (out == NULL)
		ereport(ERROR,
				(errcode(error_code(&err)),
				 errmsg("%s", error_message(&err))));
	result = cstring_to_text_with_len(out, (int) len);
	MemoryContextDelete(work);
	PG_RETURN_TEXT_P(result);
}

/*
 * microtrigger.has_name(data jsonb, name text) RETURNS boolean: whether {{name}} (dotted) finds
 * a value other than null in data — how a template's `required` names are checked.
 */
Datum
mt_has_name_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *data = PG_GETARG_JSONB_P(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL(mt_render_has_name(data, name));
}

/* The parts of an email template and how each is rendered. */
static const char *const email_parts[] = {"subject", "preheader", "html_body", "text_body"};
static const MtRenderMode email_part_modes[] = {MT_RENDER_HEADER, MT_RENDER_HEADER, MT_RENDER_HTML,
MT_RENDER_TEXT};

/*
 * microtrigger.render_email(template_name text, data jsonb, OUT subject, OUT preheader,
 * OUT html_body, OUT text_body): renders a stored template as an email is rendered — subject and
 * preheader as one-line plain text, html_body HTML-escaped, text_body plain. A preview for
 * people writing templates; a failure raises 22023 naming the part.
 */
Datum
mt_render_email_sql(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	Jsonb	   *data = PG_GETARG_JSONB_P(1);
	MemoryContext caller = CurrentMemoryContext;
	TupleDesc	result_desc;
	Datum		values[4];
	bool		nulls[4];
	char	   *sources[4] = {NULL, NULL, NULL, NULL};
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {PointerGetDatum(name), ObjectIdGetDatum(GetUserId())};
	int			ret;

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("render_email must be called where a record is expected")));
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not connect to SPI to read a template")));
	ret = SPI_execute_with_args("SELECT subject, preheader, html_body, text_body "
								"FROM microtrigger.templates "
								"WHERE name = $1 AND pg_catalog.pg_has_role($2, owner, 'MEMBER')",
								2, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		mt_spi_failed(psprintf("read template \"%s\"", text_to_cstring(name)), ret);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("template \"%s\" does not exist", text_to_cstring(name))));
	for (int i = 0; i < 4; i++)
	{
		bool		isnull;
		Datum		part = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);

		if (!isnull)
		{
			MemoryContext spi = MemoryContextSwitchTo(caller);

			sources[i] = TextDatumGetCString(part);
			MemoryContextSwitchTo(spi);
		}
	}
	SPI_finish();
	MemoryContextSwitchTo(caller);

	for (int i = 0; i < 4; i++)
	{
		char	   *error = NULL;
		char	   *rendered;

		nulls[i] = sources[i] == NULL;
		if (nulls[i])
			continue;
		rendered = mt_render_jsonb(sources[i], data, NULL, email_part_modes[i], GetUserId(), &error);
		if (rendered == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot render template \"%s\" in %s: %s", text_to_cstring(name),
							email_parts[i], error)));
		values[i] = CStringGetTextDatum(rendered);
	}
	result_desc = BlessTupleDesc(result_desc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc, values, nulls)));
}
