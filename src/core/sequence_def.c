/*
 * sequence_def.c: parse, validate and compile sequence definitions into a flat step program.
 * No PostgreSQL dependency; every error names the JSON path and the reason.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "mtalloc.h"
#include "sequence_def.h"

#define PATH_LEN 512

/* A growing program of steps. */
typedef struct Program
{
	MtStep	   *steps;
	int			n_steps;
	int			capacity;
} Program;

/* Appends a zeroed step and returns its index; -1 (with an error) past the limit. */
static int
add_step(Program *program, MtStepKind kind, const char *path, MtError *err)
{
	if (program->n_steps >= MT_SEQUENCE_MAX_STEPS)
	{
		mt_error_set(err, path, "a sequence may have at most %d steps", MT_SEQUENCE_MAX_STEPS);
		return -1;
	}
	if (program->n_steps == program->capacity)
	{
		program->capacity = program->capacity ? program->capacity * 2 : 16;
		program->steps = mt_realloc(program->steps, sizeof(MtStep) * (size_t) program->capacity);
	}
	memset(&program->steps[program->n_steps], 0, sizeof(MtStep));
	program->steps[program->n_steps].kind = kind;
	program->steps[program->n_steps].path = mt_strndup(path, strlen(path));
	return program->n_steps++;
}

static bool compile_steps(struct json_object *steps, const char *path, int depth, Program *program,
						  MtError *err);

/*
 * The optional "name" of a send_email step: a short identifier (a letter, then letters, digits
 * or _, at most MT_STEP_NAME_MAX bytes). When present, *rest is a copy of the object without it,
 * for the send_email parser that triggers share (which knows no "name"); NULL otherwise.
 */
static bool
take_step_name(struct json_object *send, const char *path, char **name, struct json_object **rest,
			   MtError *err)
{
	struct json_object *value;
	char		child[PATH_LEN];
	const char *text;
	size_t		len;

	*rest = NULL;
	if (!json_object_is_type(send, json_type_object) || !json_object_object_get_ex(send, "name", &value))
		return true;
	mt_path_key(child, sizeof(child), path, "name");
	if (!json_object_is_type(value, json_type_string))
		return mt_error_set(err, child, "name must be a string, not %s", mt_json_type_phrase(value));
	text = json_object_get_string(value);
	len = (size_t) json_object_get_string_len(value);
	if (len == 0 || len > MT_STEP_NAME_MAX)
		return mt_error_set(err, child, "name must have 1 to %d characters", MT_STEP_NAME_MAX);
	for (size_t i = 0; i < len; i++)
	{
		char		c = text[i];
		bool		letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

		if (!(letter || (i > 0 && ((c >= '0' && c <= '9') || c == '_'))))
			return mt_error_set(err, child, "name \"%s\" is not an identifier: a letter, then letters, digits or _",
								text);
	}
	*name = mt_strndup(text, len);
	*rest = json_object_new_object();
	{
		json_object_object_foreach(send, key, member)
		{
			if (strcmp(key, "name") != 0)
				json_object_object_add(*rest, key, json_object_get(member));
		}
	}
	return true;
}

/*
 * Numbers the send steps 1, 2, ... in document order (the order of the program), names those
 * without a name email_<ordinal>, and refuses a name two steps share: the error is at the later
 * step, unless the later one holds its own default name (then the earlier one chose it).
 */
static bool
name_send_steps(Program *program, MtError *err)
{
	int			ordinal = 0;

	for (int i = 0; i < program->n_steps; i++)
	{
		MtStep	   *step = &program->steps[i];
		char		fallback[32];

		if (step->kind != MT_STEP_SEND)
			continue;
		step->ordinal = ++ordinal;
		if (step->name == NULL)
		{
			snprintf(fallback, sizeof(fallback), "email_%d", ordinal);
			step->name = mt_strndup(fallback, strlen(fallback));
		}
	}
	for (int i = 0; i < program->n_steps; i++)
	{
		MtStep	   *later = &program->steps[i];
		char		own_default[32];

		if (later->kind != MT_STEP_SEND)
			continue;
		snprintf(own_default, sizeof(own_default), "email_%d", later->ordinal);
		for (int j = 0; j < i; j++)
		{
			MtStep	   *earlier = &program->steps[j];
			bool		blame_earlier;
			char		child[PATH_LEN];
			char		name_path[PATH_LEN];

			if (earlier->kind != MT_STEP_SEND || strcmp(earlier->name, later->name) != 0)
				continue;
			blame_earlier = strcmp(later->name, own_default) == 0;
			mt_path_key(child, sizeof(child), (blame_earlier ? earlier : later)->path, "send_email");
			mt_path_key(name_path, sizeof(name_path), child, "name");
			return mt_error_set(err, name_path, "step name \"%s\" is also the name of the send_email step at %s (names are unique within a sequence)",
								later->name, (blame_earlier ? later : earlier)->path);
		}
	}
	return true;
}

/* One `if` test: {"in_segment": name} | {"history": clause} | {"profile": cond} | {"event": cond}. */
static bool
parse_test(struct json_object *test, const char *path, MtBranchArm *arm, MtError *err)
{
	char		child[PATH_LEN];

	if (!json_object_is_type(test, json_type_object) || json_object_object_length(test) != 1)
		return mt_error_set(err, path, "if must be an object with one key: in_segment, history, profile or event");
	{
		json_object_object_foreach(test, key, value)
		{
			mt_path_key(child, sizeof(child), path, key);
			if (strcmp(key, "in_segment") == 0)
			{
				arm->kind = MT_TEST_IN_SEGMENT;
				return mt_parse_nonempty_string(value, child, "in_segment", &arm->segment, err);
			}
			if (strcmp(key, "history") == 0)
			{
				arm->kind = MT_TEST_HISTORY;
				return mt_parse_clause(value, child, "a history clause", true, true, &arm->history, err);
			}
			if (strcmp(key, "profile") == 0 || strcmp(key, "event") == 0)
			{
				arm->kind = strcmp(key, "profile") == 0 ? MT_TEST_PROFILE : MT_TEST_EVENT;
				return (arm->condition = mt_parse_condition(value, child, err)) != NULL;
			}
			return mt_error_set(err, child, "unknown test \"%s\" (use in_segment, history, profile or event)", key);
		}
	}
	return false;
}

/* {"branch": [{"if": test, "steps": [...]}, ..., {"else": [...]}]} */
static bool
compile_branch(struct json_object *arms, const char *path, int depth, Program *program, MtError *err)
{
	int			branch;
	int			n = 0;
	int		   *jumps;
	int			n_jumps = 0;
	bool		has_else = false;
	size_t		count;

	if (!json_object_is_type(arms, json_type_array) || json_object_array_length(arms) == 0)
		return mt_error_set(err, path, "branch must be a non-empty array of {\"if\": ..., \"steps\": [...]} and an optional {\"else\": [...]}");
	if ((branch = add_step(program, MT_STEP_BRANCH, path, err)) < 0)
		return false;
	count = json_object_array_length(arms);
	program->steps[branch].arms = mt_alloc(sizeof(MtBranchArm) * count);
	jumps = mt_alloc(sizeof(int) * count);
	for (size_t i = 0; i < count; i++)
	{
		struct json_object *arm = json_object_array_get_idx(arms, i);
		struct json_object *value;
		char		item[PATH_LEN];
		char		child[PATH_LEN];

		mt_path_index(item, sizeof(item), path, (int) i);
		if (!json_object_is_type(arm, json_type_object))
			return mt_error_set(err, item, "a branch arm must be an object, not %s", mt_json_type_phrase(arm));
		if (json_object_object_get_ex(arm, "else", &value))
		{
			static const char *const else_keys[] = {"else", NULL};

			if (!mt_check_known_keys(arm, item, "an else arm", else_keys, err))
				return false;
			if (i != count - 1)
				return mt_error_set(err, item, "else must be the last arm of a branch");
			mt_path_key(child, sizeof(child), item, "else");
			program->steps[branch].else_target = program->n_steps;
			if (!compile_steps(value, child, depth + 1, program, err))
				return false;
			has_else = true;
			continue;
		}
		{
			static const char *const arm_keys[] = {"if", "steps", NULL};
			MtBranchArm *target;

			if (!mt_check_known_keys(arm, item, "a branch arm", arm_keys, err))
				return false;
			if (!json_object_object_get_ex(arm, "if", &value))
				return mt_error_set(err, item, "a branch arm needs \"if\" and \"steps\" (or is {\"else\": [...]})");
			target = &program->steps[branch].arms[n];
			mt_path_key(child, sizeof(child), item, "if");
			if (!parse_test(value, child, target, err))
				return false;
			program->steps[branch].n_arms = ++n;
			if (!json_object_object_get_ex(arm, "steps", &value))
				return mt_error_set(err, item, "a branch arm needs \"steps\"");
			mt_path_key(child, sizeof(child), item, "steps");
			program->steps[branch].arms[n - 1].target = program->n_steps;
			if (!compile_steps(value, child, depth + 1, program, err))
				return false;
			if ((jumps[n_jumps++] = add_step(program, MT_STEP_JUMP, item, err)) < 0)
				return false;
		}
	}
	if (!has_else)
		program->steps[branch].else_target = program->n_steps;
	for (int j = 0; j < n_jumps; j++)
		program->steps[jumps[j]].target = program->n_steps;
	mt_free(jumps);
	return true;
}

/* A list of steps: send_email, wait, branch. */
static bool
compile_steps(struct json_object *steps, const char *path, int depth, Program *program, MtError *err)
{
	if (depth > MT_SEQUENCE_MAX_DEPTH)
		return mt_error_set(err, path, "branches are nested deeper than %d levels", MT_SEQUENCE_MAX_DEPTH);
	if (!json_object_is_type(steps, json_type_array) || json_object_array_length(steps) == 0)
		return mt_error_set(err, path, "steps must be a non-empty array, not %s", mt_json_type_phrase(steps));
	for (size_t i = 0; i < json_object_array_length(steps); i++)
	{
		struct json_object *step = json_object_array_get_idx(steps, i);
		char		item[PATH_LEN];
		char		child[PATH_LEN];
		struct json_object *value;
		int			index;

		mt_path_index(item, sizeof(item), path, (int) i);
		if (!json_object_is_type(step, json_type_object) || json_object_object_length(step) != 1)
			return mt_error_set(err, item, "a step must be an object with one key: send_email, wait or branch");
		if (json_object_object_get_ex(step, "send_email", &value))
		{
			struct json_object *rest = NULL;
			bool		parsed;

			mt_path_key(child, sizeof(child), item, "send_email");
			if ((index = add_step(program, MT_STEP_SEND, item, err)) < 0)
				return false;
			if (!take_step_name(value, child, &program->steps[index].name, &rest, err))
				return false;
			parsed = mt_parse_send_email(rest ? rest : value, child, &program->steps[index].send, err);
			json_object_put(rest);
			if (!parsed)
				return false;
		}
		else if (json_object_object_get_ex(step, "wait", &value))
		{
			mt_path_key(child, sizeof(child), item, "wait");
			if ((index = add_step(program, MT_STEP_WAIT, item, err)) < 0)
				return false;
			if (!mt_parse_duration(value, child, &program->steps[index].wait, err))
				return false;
		}
		else if (json_object_object_get_ex(step, "branch", &value))
		{
			mt_path_key(child, sizeof(child), item, "branch");
			if (!compile_branch(value, child, depth, program, err))
				return false;
		}
		else
		{
			json_object_object_foreach(step, key, unused)
			{
				(void) unused;
				mt_path_key(child, sizeof(child), item, key);
				return mt_error_set(err, child, "unknown step \"%s\" (use send_email, wait or branch)", key);
			}
		}
	}
	return true;
}

/* The body of mt_sequence_compile. */
static bool
parse_sequence(struct json_object *def, MtSequence *sequence, MtError *err)
{
	static const char *const keys[] = {"steps", "exit", "reentry", "description", "goal", NULL};
	struct json_object *value;
	Program		program = {0};
	bool		ok;

	if (!json_object_is_type(def, json_type_object))
		return mt_error_set(err, "$", "a sequence definition must be a JSON object, not %s",
							mt_json_type_phrase(def));
	if (!mt_check_known_keys(def, "$", "a sequence definition", keys, err))
		return false;
	if (!json_object_object_get_ex(def, "steps", &value))
		return mt_error_set(err, "$", "a sequence needs \"steps\"");
	ok = compile_steps(value, "$.steps", 0, &program, err) &&
		add_step(&program, MT_STEP_END, "$.steps", err) >= 0 &&
		name_send_steps(&program, err);
	sequence->steps = program.steps;
	sequence->n_steps = program.n_steps;
	if (!ok)
		return false;
	if (json_object_object_get_ex(def, "exit", &value))
	{
		if (!mt_parse_clause(value, "$.exit", "exit", false, false, &sequence->exit, err))
			return false;
		if (sequence->exit.has_within)
			return mt_error_set(err, "$.exit.within", "exit takes no window: it applies for the whole journey");
		sequence->has_exit = true;
	}
	if (json_object_object_get_ex(def, "reentry", &value) &&
		!mt_parse_duration(value, "$.reentry", &sequence->reentry, err))
		return false;
	if (json_object_object_get_ex(def, "goal", &value))
	{
		if (!mt_parse_goal(value, "$.goal", &sequence->goal, err))
			return false;
		sequence->has_goal = true;
	}
	return true;
}

/* Parse, validate and compile a sequence definition. */
MtSequence *
mt_sequence_compile(const char *name, struct json_object *def, MtError *err)
{
	MtSequence *sequence = mt_alloc(sizeof(MtSequence));

	sequence->name = mt_strndup(name, strlen(name));
	if (!parse_sequence(def, sequence, err))
	{
		mt_sequence_free(sequence);
		return NULL;
	}
	return sequence;
}

/* Free a compiled sequence. */
void
mt_sequence_free(MtSequence *sequence)
{
	if (sequence == NULL)
		return;
	for (int i = 0; i < sequence->n_steps; i++)
	{
		MtStep	   *step = &sequence->steps[i];

		mt_action_free_contents(&step->send);
		mt_free(step->path);
		mt_free(step->name);
		for (int a = 0; a < step->n_arms; a++)
		{
			mt_free(step->arms[a].segment);
			mt_clause_free_contents(&step->arms[a].history);
			mt_condition_free(step->arms[a].condition);
		}
		mt_free(step->arms);
	}
	mt_free(sequence->steps);
	mt_clause_free_contents(&sequence->exit);
	mt_goal_free_contents(&sequence->goal);
	mt_free(sequence->name);
	mt_free(sequence);
}
