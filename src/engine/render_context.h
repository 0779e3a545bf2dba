/*
 * render_context.h: the render stage's data — the render context of README "The render context",
 * built in C from rows the load stage read (no SQL per email).
 */
#ifndef MT_RENDER_CONTEXT_H
#define MT_RENDER_CONTEXT_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "act_load.h"
#include "send_window.h"

/*
 * The render context of an event (its user is the event's), for trigger_name (may be NULL),
 * with the context query's row `profile` (may be NULL) and the user as loaded (may be NULL: no
 * contact, no segments, no last page). key: the unsubscribe key (NULL: read it now). local: the
 * moment of sending in the contact's zone (local_hour, weekday, daypart; NULL: those are null);
 * device: mobile, tablet or desktop (NULL: null).
 */
extern Jsonb *mt_render_context_make(const MtLoadedEvent *event, const MtLoadedUser *user,
									 const char *trigger_name, Jsonb *profile, const char *key,
									 const MtLocalTime *local, const char *device);

#endif
