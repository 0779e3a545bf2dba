/*
 * microtrigger.h: what the extension's C files share.
 */
#ifndef MICROTRIGGER_H
#define MICROTRIGGER_H

#include "postgres.h"

/*
 * Settings (GUCs) are defined by the subsystem that reads them: worker.c (database, naptime,
 * batch_size), deliver.c (smtp_*, from_address, unsubscribe_*, retries, retention), firings.c
 * (context_timeout), condition_eval.c (regex_max_input); _PG_init calls their *_init().
 */

/*
 * The search_path of everything the extension runs with its own or a superuser's rights: every
 * SQL function has it as a SET clause (src/sql), and the worker, deliver() and deliver_loop set
 * it themselves. No function or operator planted in a writable schema can be chosen.
 */
#define MT_SAFE_SEARCH_PATH "pg_catalog, pg_temp"

#endif
