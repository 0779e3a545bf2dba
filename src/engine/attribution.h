/*
 * attribution.h: the last stage of run_pending — goal events attributed to the email (or the
 * holdout decision) of a trigger or sequence that preceded them, as rows of
 * microtrigger.conversions (docs/goals.md).
 */
#ifndef MT_ATTRIBUTION_H
#define MT_ATTRIBUTION_H

#include "postgres.h"

#include "utils/timestamp.h"

/*
 * Attributes the goal events recorded since the watermark that occurred by as_of (SPI connected,
 * the rule cache loaded and pinned); later ones are kept for a later call. Does nothing when
 * another session is attributing. Returns the number of conversions written.
 */
extern int	mt_attribute_goals(TimestampTz as_of);

#endif
