/*
 * sequence_def.h: sequence definitions (API.md "Sequences") parsed from JSON into a flat program:
 * send, wait, branch and jump instructions, so a journey's position is one integer (its step),
 * and each email step has a stable number for the outbox key (journey, step). No PostgreSQL.
 */
#ifndef MT_SEQUENCE_DEF_H
#define MT_SEQUENCE_DEF_H

#include "definition.h"

#define MT_SEQUENCE_MAX_STEPS 1000
#define MT_SEQUENCE_MAX_DEPTH 16
#define MT_STEP_NAME_MAX 63		/* bytes of a send_email step name */

typedef enum MtStepKind
{
	MT_STEP_SEND,				/* queue an email, go on */
	MT_STEP_WAIT,				/* pause for a duration */
	MT_STEP_BRANCH,				/* the first arm whose test holds, else the else-target */
	MT_STEP_JUMP,				/* to target (the end of a branch arm) */
	MT_STEP_END					/* the journey is completed */
} MtStepKind;

typedef enum MtTestKind
{
	MT_TEST_IN_SEGMENT,			/* the user is a member of a segment */
	MT_TEST_HISTORY,			/* a history clause holds at the step's time */
	MT_TEST_PROFILE,			/* a condition over the contact */
	MT_TEST_EVENT				/* a condition over the event that started the journey */
} MtTestKind;

typedef struct MtBranchArm
{
	MtTestKind	kind;
	char	   *segment;
	MtClause	history;
	MtCondition *condition;
	int			target;			/* the step where its steps start */
} MtBranchArm;

typedef struct MtStep
{
	MtStepKind	kind;
	char	   *path;			/* its JSON path, e.g. "$.steps[2].branch[0].steps[0]" */
	char	   *name;			/* MT_STEP_SEND: send_email.name, default "email_<ordinal>" */
	int			ordinal;		/* MT_STEP_SEND: 1, 2, ... in document order of the send steps */
	MtAction	send;			/* MT_STEP_SEND */
	MtDuration	wait;			/* MT_STEP_WAIT */
	MtBranchArm *arms;			/* MT_STEP_BRANCH */
	int			n_arms;
	int			else_target;	/* MT_STEP_BRANCH: no arm held */
	int			target;			/* MT_STEP_JUMP */
} MtStep;

typedef struct MtSequence
{
	char	   *name;
	MtStep	   *steps;			/* ends with MT_STEP_END */
	int			n_steps;
	bool		has_exit;
	MtClause	exit;			/* event types, condition, same */
	MtDuration	reentry;		/* no new journey within this after the last one started */
	bool		has_goal;
	MtGoal		goal;			/* what counts as a conversion of its emails */
} MtSequence;

/* Parses and validates a sequence definition; NULL with *err filled when it is not valid. */
extern MtSequence *mt_sequence_compile(const char *name, struct json_object *def, MtError *err);

/* Frees a compiled sequence (NULL allowed). */
extern void mt_sequence_free(MtSequence *sequence);

#endif
