/*
 * decisions.c: recording decisions (decisions.h) and building their detail objects.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "act_write.h"
#include "decisions.h"
#include "spi_util.h"

static SPIPlanPtr decision_plan;

/* Records a decision. */
void
mt_record_decision(const MtDecisionKey *key, TimestampTz as_of, const char *outcome, Jsonb *detail)
{
	static const Oid argtypes[7] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, INT8OID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = "       ";
	SPIPlanPtr	plan;

	if (mt_write_buffering())
	{
		mt_write_decision(key, as_of, outcome, detail);
		return;
	}
	plan = mt_kept_plan(&decision_plan,
									"INSERT INTO microtrigger.decisions (at, user_id, trigger_name, outcome, detail, source_event_id, sequence_name) "
									"VALUES ($1, $2, $3, $4, coalesce($5, '{}'), $6, $7)", 7, argtypes);

	values[0] = TimestampTzGetDatum(as_of);
	values[1] = CStringGetTextDatum(key->user_id);
	values[2] = key->trigger_name ? CStringGetTextDatum(key->trigger_name) : (Datum) 0;
	nulls[2] = key->trigger_name ? ' ' : 'n';
	values[3] = CStringGetTextDatum(outcome);
	values[4] = detail ? JsonbPGetDatum(detail) : (Datum) 0;
	nulls[4] = detail ? ' ' : 'n';
	values[5] = Int64GetDatum(key->source_event_id);
	nulls[5] = key->source_event_id ? ' ' : 'n';
	values[6] = key->sequence_name ? CStringGetTextDatum(key->sequence_name) : (Datum) 0;
	nulls[6] = key->sequence_name ? ' ' : 'n';
	mt_execute_plan(plan, values, nulls, false, 0, SPI_OK_INSERT);
}

/* Builds a jsonb detail object from key/value text pairs (values NULL are left out). */
Jsonb *
mt_detail_object(int npairs, const char **keys, const char **texts)
{
	JsonbParseState *state = NULL;
	JsonbValue	k,
				v;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < npairs; i++)
	{
		if (texts[i] == NULL)
			continue;
		k.type = jbvString;
		k.val.string.val = (char *) keys[i];
		k.val.string.len = strlen(keys[i]);
		v.type = jbvString;
		v.val.string.val = (char *) texts[i];
		v.val.string.len = strlen(texts[i]);
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* A detail with one key. */
Jsonb *
mt_detail1(const char *key, const char *text)
{
	return mt_detail_object(1, &key, &text);
}
