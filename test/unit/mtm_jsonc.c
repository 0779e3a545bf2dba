/*
 * mtm_jsonc.c: the Mustache data interface over json-c (see mtm_jsonc.h).
 */
#include <stdio.h>
#include <string.h>

#include "mtalloc.h"
#include "mtm_jsonc.h"

/* json-c has no object for null: this address stands for it. */
static const char jsonc_null;

/* The handle for obj. */
MtmValue
mtm_jsonc_value(struct json_object *obj)
{
	return obj ? (MtmValue) obj : (MtmValue) &jsonc_null;
}

/* The kind of a handle. */
static MtmKind
jsonc_kind(void *ctx, MtmValue v)
{
	struct json_object *obj = (struct json_object *) v;

	if (v == &jsonc_null)
		return MTM_NULL;
	switch (json_object_get_type(obj))
	{
		case json_type_null:
			return MTM_NULL;
		case json_type_boolean:
			return json_object_get_boolean(obj) ? MTM_TRUE : MTM_FALSE;
		case json_type_double:
		case json_type_int:
			return MTM_NUMBER;
		case json_type_string:
			return MTM_STRING;
		case json_type_array:
			return MTM_ARRAY;
		case json_type_object:
			return MTM_OBJECT;
	}
	return MTM_MISSING;
}

/* Member lookup (a member holding null is present). */
static MtmValue
jsonc_get_key(void *ctx, MtmValue object, const char *key, size_t key_len)
{
	struct json_object *member;

	if (!json_object_object_get_ex((struct json_object *) object, key, &member))
		return NULL;
	return mtm_jsonc_value(member);
}

/* Array length. */
static size_t
jsonc_array_length(void *ctx, MtmValue array)
{
	return json_object_array_length((struct json_object *) array);
}

/* Array element. */
static MtmValue
jsonc_array_element(void *ctx, MtmValue array, size_t index)
{
	return mtm_jsonc_value(json_object_array_get_idx((struct json_object *) array, index));
}

/* Text of a string, or of a number as it was written in the JSON. */
static void
jsonc_append_scalar(void *ctx, MtmValue scalar, MtmOut *out)
{
	struct json_object *obj = (struct json_object *) scalar;

	if (json_object_get_type(obj) == json_type_string)
		mtm_out_write(out, json_object_get_string(obj), json_object_get_string_len(obj));
	else if (json_object_get_type(obj) == json_type_int)
	{
		/* json-c would format with snprintf on every read: do it directly */
		char		digits[24];
		char	   *end = digits + sizeof(digits),
				   *p = end;
		int64_t		value = json_object_get_int64(obj);
		uint64_t	magnitude = value < 0 ? -(uint64_t) value : (uint64_t) value;

		do
		{
			*--p = (char) ('0' + magnitude % 10);
			magnitude /= 10;
		} while (magnitude > 0);
		if (value < 0)
			*--p = '-';
		mtm_out_write(out, p, end - p);
	}
	else
	{
		const char *text = json_object_get_string(obj);

		mtm_out_write(out, text, strlen(text));
	}
}

const MtmDataOps mtm_jsonc_ops = {
	.kind = jsonc_kind,
	.get_key = jsonc_get_key,
	.array_length = jsonc_array_length,
	.array_element = jsonc_array_element,
	.append_scalar = jsonc_append_scalar,
};

typedef struct CachedPartial
{
	char	   *name;
	MtmTemplate *tmpl;
} CachedPartial;

struct MtmJsoncPartials
{
	struct json_object *texts;
	CachedPartial *cache;
	size_t		count;
};

/* A lookup over the object of template texts. */
MtmJsoncPartials *
mtm_jsonc_partials_new(struct json_object *partials)
{
	MtmJsoncPartials *p = mt_alloc(sizeof(MtmJsoncPartials));

	p->texts = partials;
	return p;
}

/* Frees the lookup and its compiled templates. */
void
mtm_jsonc_partials_free(MtmJsoncPartials *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->count; i++)
	{
		mt_free(p->cache[i].name);
		mtm_free(p->cache[i].tmpl);
	}
	mt_free(p->cache);
	mt_free(p);
}

/* Compiles the partial called name on first use; NULL when absent or broken. */
const MtmTemplate *
mtm_jsonc_lookup(void *ctx, const char *name, size_t len, MtmError *err)
{
	MtmJsoncPartials *p = ctx;
	struct json_object *text;
	MtmTemplate *tmpl;

	for (size_t i = 0; i < p->count; i++)
		if (strcmp(p->cache[i].name, name) == 0)
			return p->cache[i].tmpl;
	if (p->texts == NULL || !json_object_is_type(p->texts, json_type_object) ||
		!json_object_object_get_ex(p->texts, name, &text) ||
		!json_object_is_type(text, json_type_string))
		return NULL;
	tmpl = mtm_compile(json_object_get_string(text), json_object_get_string_len(text), err);
	if (tmpl == NULL)
	{
		char		where[160];

		snprintf(where, sizeof(where), "partial \"%.100s\"", name);
		snprintf(err->where, sizeof(err->where), "%s", where);
		return NULL;
	}
	p->cache = mt_realloc(p->cache, (p->count + 1) * sizeof(CachedPartial));
	p->cache[p->count].name = mt_strndup(name, len);
	p->cache[p->count].tmpl = tmpl;
	p->count++;
	return tmpl;
}
