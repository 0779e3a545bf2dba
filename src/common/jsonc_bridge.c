/*
 * jsonc_bridge.c: from jsonb to json-c, once per definition compile (never per event).
 */
#include "postgres.h"

#include <json-c/json.h>

#include "jsonc_bridge.h"

/* Parse jsonb into json-c through its text form; raises 22023 when json-c refuses it. */
struct json_object *
mt_jsonb_to_json_c(Jsonb *jb)
{
	char	   *text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	struct json_tokener *tokener = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	struct json_object *result;
	enum json_tokener_error error;

	if (tokener == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	result = json_tokener_parse_ex(tokener, text, (int) strlen(text));
	error = json_tokener_get_error(tokener);
	json_tokener_free(tokener);
	pfree(text);
	if (error != json_tokener_success || result == NULL)
	{
		if (result)
			json_object_put(result);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("definition cannot be read: %s", json_tokener_error_desc(error)),
				 errhint("Definitions are limited to %d levels of nesting.", JSON_TOKENER_DEFAULT_DEPTH)));
	}
	return result;
}

/* Release a json-c tree (NULL allowed). */
void
mt_json_c_free(struct json_object *json)
{
	if (json != NULL)
		json_object_put(json);
}

/* Compile a trigger definition held as jsonb; the json-c tree never outlives the call. */
MtTrigger *
mt_trigger_compile_jsonb(const char *name, Jsonb *definition, MtError *err)
{
	struct json_object *json = mt_jsonb_to_json_c(definition);
	MtTrigger  *trigger = NULL;

	PG_TRY();
	{
		trigger = mt_trigger_compile(name, json, err);
	}
	PG_FINALLY();
	{
		json_object_put(json);
	}
	PG_END_TRY();
	return trigger;
}

/* Compile a sequence definition held as jsonb. */
MtSequence *
mt_sequence_compile_jsonb(const char *name, Jsonb *definition, MtError *err)
{
	struct json_object *json = mt_jsonb_to_json_c(definition);
	MtSequence *sequence = NULL;

	PG_TRY();
	{
		sequence = mt_sequence_compile(name, json, err);
	}
	PG_FINALLY();
	{
		json_object_put(json);
	}
	PG_END_TRY();
	return sequence;
}
