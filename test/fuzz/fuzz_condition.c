/*
 * fuzz_condition.c: libFuzzer target for the condition compiler — JSON bytes → json_tokener →
 * mt_condition_compile → the index queries (and lookups in the sorted index of long $in lists)
 * → mt_condition_free; and the raw bytes through the regex-feature scan and the number-key
 * canonicalizer, which read patterns and numbers byte by byte. No PostgreSQL needed.
 * Build and run: test/fuzz/run_condition.sh [seconds]
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "condition.h"
#include "condition_internal.h"
#include "mtalloc.h"

/* Literal callback: touches the reported bytes so ASan checks them. */
static void
touch_literal(void *arg, const char *field, MtLiteralKind kind, const char *value, size_t len)
{
	size_t	   *sum = arg;

	*sum += strlen(field) + (size_t) kind;
	for (size_t i = 0; i < len; i++)
		*sum += (unsigned char) value[i];
}

/* Looks every value of the long $in / $nin lists of a tree up in their own index. */
static void
probe_in_indexes(const MtCondition *cond, size_t *sum)
{
	for (int i = 0; i < cond->nchildren; i++)
		probe_in_indexes(cond->children[i], sum);
	for (int i = 0; i < cond->nops; i++)
	{
		const MtOp *op = &cond->ops[i];

		if (op->sub)
			probe_in_indexes(op->sub, sum);
		if (op->in_index == NULL)
			continue;
		for (int j = 0; j < op->nvalues; j++)
		{
			const MtValue *v = &op->values[j];
			char		key[MT_NUMBER_KEY_MAX];
			size_t		len;

			if (v->kind == MT_VALUE_STRING && !mt_in_index_has_string(op->in_index, v->text, v->len))
				__builtin_trap();	/* a listed string must be found */
			if (v->kind == MT_VALUE_NUMBER &&
				(len = mt_number_key(v->text, v->len, key, sizeof(key))) > 0 &&
				!mt_in_index_has_number_key(op->in_index, key, len))
				__builtin_trap();	/* a listed number must be found */
			*sum += (size_t) v->kind;
		}
	}
}

/* One input: compile it (twice: through json-c directly and through the text entry point). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tokener = json_tokener_new();
	struct json_object *json = json_tokener_parse_ex(tokener, (const char *) data, (int) size);
	MtError		err = {0};
	MtCondition *cond;
	size_t		sum = 0;
	MtRegexFeatures features;
	char		key[MT_NUMBER_KEY_MAX];

	json_tokener_free(tokener);
	if (json != NULL)
	{
		cond = mt_condition_compile(json, "$", &err);
		if (cond != NULL)
		{
			char	  **values;
			int			n;

			(void) mt_condition_is_empty(cond);
			mt_condition_literals(cond, touch_literal, &sum);
			probe_in_indexes(cond, &sum);
			n = mt_condition_required_values(cond, "event_type", &values);
			for (int i = 0; i < n; i++)
				mt_free(values[i]);
			mt_free(values);
			mt_condition_free(cond);
		}
		json_object_put(json);
	}
	memset(&err, 0, sizeof(err));
	cond = mt_condition_compile_text((const char *) data, size, 32, "$", &err);
	mt_condition_free(cond);
	/* the raw bytes as a pattern (any flags) and as a number, into a roomy and a tiny buffer */
	mt_regex_scan((const char *) data, size, size > 0 ? data[0] & 0x0f : 0, &features);
	sum += (size_t) (features.backrefs + features.lookaheads + features.lookbehinds);
	sum += mt_number_key((const char *) data, size, key, sizeof(key));
	sum += mt_number_key((const char *) data, size, key, 4);
	(void) sum;
	return 0;
}
