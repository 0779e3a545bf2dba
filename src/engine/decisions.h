/*
 * decisions.h: recording a decision — why a candidate email was queued or not — and building its
 * detail. Inside a batch (act_write.c) decisions are buffered and written with one statement;
 * outside one they are inserted at once.
 */
#ifndef MT_DECISIONS_H
#define MT_DECISIONS_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* Who and what a decision is about. */
typedef struct MtDecisionKey
{
	const char *user_id;
	const char *trigger_name;	/* may be NULL */
	const char *sequence_name;	/* may be NULL */
	int64		source_event_id;	/* 0: none */
} MtDecisionKey;

extern void mt_record_decision(const MtDecisionKey *key, TimestampTz as_of, const char *outcome,
							   Jsonb *detail);
extern Jsonb *mt_detail_object(int npairs, const char **keys, const char **texts);
extern Jsonb *mt_detail1(const char *key, const char *text);

#endif
