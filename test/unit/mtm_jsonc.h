/*
 * mtm_jsonc.h: the Mustache data interface (mustache.h) over json-c, for the spec runner, the
 * fuzz target and the benchmark; and a partial lookup over a json-c object of template texts.
 */
#ifndef MTM_JSONC_H
#define MTM_JSONC_H

#include <json-c/json.h>

#include "mustache.h"

/* The data operations; handles are json_object pointers (JSON null has its own handle). */
extern const MtmDataOps mtm_jsonc_ops;

/* The handle of a json-c value (json-c represents null as NULL). */
extern MtmValue mtm_jsonc_value(struct json_object *obj);

/* Partials from a JSON object {name: template text}, compiled on first use and cached. */
typedef struct MtmJsoncPartials MtmJsoncPartials;

extern MtmJsoncPartials *mtm_jsonc_partials_new(struct json_object *partials);
extern void mtm_jsonc_partials_free(MtmJsoncPartials *p);
/* An MtmPartialLookup; ctx is an MtmJsoncPartials */
extern const MtmTemplate *mtm_jsonc_lookup(void *ctx, const char *name, size_t len, MtmError *err);

#endif
