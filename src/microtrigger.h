/*
 * microtrigger.h: settings (GUCs) and entry points shared across the extension's C files.
 */
#ifndef MICROTRIGGER_H
#define MICROTRIGGER_H

#include "postgres.h"

/* GUCs, defined in microtrigger.c */
extern char *mt_database;			/* microtrigger.database: the database the worker serves */
extern char *mt_smtp_url;			/* microtrigger.smtp_url: empty = nothing is sent */
extern char *mt_from_address;		/* microtrigger.from_address */
extern char *mt_unsubscribe_url;	/* microtrigger.unsubscribe_url: base of the one-click link */
extern int	mt_naptime_ms;			/* microtrigger.naptime: the worker's longest sleep */
extern int	mt_batch_size;			/* microtrigger.batch_size: firings per run_pending transaction */

/* delivery settings (deliver.c) */
extern void mt_delivery_define_gucs(void);

#endif
