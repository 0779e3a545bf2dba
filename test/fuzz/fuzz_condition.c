/*
 * fuzz_condition.c: libFuzzer target for the condition compiler — JSON bytes → json_tokener →
 * mt_condition_compile → the index queries → mt_condition_free. No PostgreSQL needed.
 * Build and run: test/fuzz/run_condition.sh [seconds]
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "condition.h"
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

/* One input: compile it (twice: through json-c directly and through the text entry point). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tokener = json_tokener_new();
	struct json_object *json = json_tokener_parse_ex(tokener, (const char *) data, (int) size);
	MtError		err = {0};
	MtCondition *cond;
	size_t		sum = 0;

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
	return 0;
}
