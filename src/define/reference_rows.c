/*
 * reference_rows.c: a template or sequence in use is not deleted or renamed. Triggers and
 * sequences name templates, and triggers name sequences, by name; a row written with a missing
 * name is refused when it is written (trigger_rows.c, sequence_rows.c). This is the other side:
 * a BEFORE DELETE OR UPDATE row trigger on templates and on sequences refuses to delete or
 * rename a row that an enabled trigger or any sequence names, and the error names them all.
 * Partials ({{>name}} inside a template) are resolved when rendering and are not checked here.
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "definition.h"
#include "rule_cache.h"
#include "sequence_cache.h"
#include "sequence_def.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(mt_refuse_removal_in_use_sql);

/* Does the send_email action name the template, itself or in a variant? */
static bool
action_uses_template(const MtAction *action, const char *name)
{
	if (action->kind != MT_ACTION_SEND_EMAIL)
		return false;
	if (action->template_name != NULL && strcmp(action->template_name, name) == 0)
		return true;
	for (int v = 0; v < action->n_variants; v++)
		if (action->variants[v].template_name != NULL && strcmp(action->variants[v].template_name, name) == 0)
			return true;
	return false;
}

/* Does the action use the template (kind 't') or start the sequence (kind 's')? */
static bool
action_uses(const MtAction *action, char kind, const char *name)
{
	if (kind == 't')
		return action_uses_template(action, name);
	return action->kind == MT_ACTION_START_SEQUENCE && action->sequence_name != NULL &&
		strcmp(action->sequence_name, name) == 0;
}

/* Appends `what "name"` to the list of users, comma-separated. */
static void
add_user(StringInfo users, const char *what, const char *name)
{
	if (users->len > 0)
		appendStringInfoString(users, ", ");
	appendStringInfo(users, "%s \"%s\"", what, name);
}

/* The enabled triggers and the sequences that name the template or sequence, as a list. */
static char *
users_of(char kind, const char *name)
{
	StringInfoData users;
	MtRule	  **rules;
	int			n_rules;
	const MtSequenceSet *sequences;

	initStringInfo(&users);
	mt_rulecache_ensure();
	n_rules = mt_rulecache_all(&rules);
	for (int r = 0; r < n_rules; r++)
	{
		const MtTrigger *trigger = rules[r]->trigger;

		for (int a = 0; a < trigger->n_actions; a++)
			if (action_uses(&trigger->actions[a], kind, name))
			{
				add_user(&users, "trigger", trigger->name);
				break;
			}
	}
	if (kind == 't')
	{
		sequences = mt_sequence_cache_ensure();
		for (int s = 0; s < sequences->n; s++)
		{
			const MtSequence *sequence = sequences->sequences[s];

			for (int k = 0; k < sequence->n_steps; k++)
				if (sequence->steps[k].kind == MT_STEP_SEND && action_uses(&sequence->steps[k].send, kind, name))
				{
					add_user(&users, "sequence", sequence->name);
					break;
				}
		}
	}
	return users.len > 0 ? users.data : NULL;
}

/*
 * BEFORE DELETE OR UPDATE row trigger on templates and sequences (argument: 'template' or
 * 'sequence'): refuses to delete or rename a row in use, with SQLSTATE 2BP01 naming its users.
 */
Datum
mt_refuse_removal_in_use_sql(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	old_row;
	TupleDesc	desc;
	char	   *what;
	char	   *old_name;
	char	   *users;
	bool		renamed;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("microtrigger.refuse_removal_in_use() must be a BEFORE DELETE OR UPDATE row trigger with one argument")));
	what = trigdata->tg_trigger->tgargs[0];
	old_row = trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	old_name = SPI_getvalue(old_row, desc, SPI_fnumber(desc, "name"));
	renamed = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	if (renamed)
	{
		char	   *new_name = SPI_getvalue(trigdata->tg_newtuple, desc, SPI_fnumber(desc, "name"));

		if (new_name != NULL && old_name != NULL && strcmp(new_name, old_name) == 0)
			return PointerGetDatum(trigdata->tg_newtuple);
	}
	if (old_name == NULL)
		return PointerGetDatum(renamed ? trigdata->tg_newtuple : old_row);

	mt_spi_check(SPI_connect(), SPI_OK_CONNECT, "connect to SPI");
	users = users_of(strcmp(what, "template") == 0 ? 't' : 's', old_name);
	if (users != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot %s %s \"%s\": it is used by %s", renamed ? "rename" : "delete", what, old_name, users),
				 errhint("Change or disable those first.")));
	SPI_finish();
	return PointerGetDatum(renamed ? trigdata->tg_newtuple : old_row);
}
