/*
 * jsonc_bridge.h: jsonb into the json-c trees the PostgreSQL-free compilers read. Kept apart
 * because json-c's json_object type clashes with PostgreSQL's fmgrprotos.h.
 */
#ifndef MT_JSONC_BRIDGE_H
#define MT_JSONC_BRIDGE_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "definition.h"
#include "sequence_def.h"

struct json_object;

/* Parses jsonb into a json-c tree (caller json_object_put's it); raises 22023 if it cannot. */
extern struct json_object *mt_jsonb_to_json_c(Jsonb *jb);

/* Releases a json-c tree. */
extern void mt_json_c_free(struct json_object *json);

/* Compiles a trigger definition given as jsonb; NULL with *err filled when not valid. */
extern MtTrigger *mt_trigger_compile_jsonb(const char *name, Jsonb *definition, MtError *err);

/* Compiles a sequence definition given as jsonb; NULL with *err filled when not valid. */
extern MtSequence *mt_sequence_compile_jsonb(const char *name, Jsonb *definition, MtError *err);

#endif
