/*
 * microtrigger.h: what the extension's C files share.
 */
#ifndef MICROTRIGGER_H
#define MICROTRIGGER_H

#include "postgres.h"

/*
 * Settings (GUCs) are defined by the subsystem that reads them: worker.c (database, naptime,
 * batch_size), deliver.c (smtp_*, from_address, unsubscribe_*, retries, retention), engine.c
 * (context_timeout), condition_eval.c (regex_max_input); _PG_init calls their *_init().
 */

#endif
