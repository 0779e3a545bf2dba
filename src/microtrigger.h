/*
 * microtrigger.h: what the extension's C files share, the layout of the source tree, and the
 * words the code uses.
 *
 * LAYOUT. One folder per area, in the order the data flows; a file may include headers of its
 * own area and of the areas before it, never after (test/lint/layout.py fails on a back edge):
 *
 *   core      PostgreSQL-free: the condition, definition (trigger, sequence, segment) and
 *             template compilers, the segment timeline, the MIME builder, error values,
 *             allocation hooks. Built alone by the unit tests and the fuzz targets; no postgres.h.
 *   common    PostgreSQL glue every area uses: SPI helpers, subtransactions, per-user locks,
 *             condition evaluation on jsonb, history queries over events, the worker's wake-up.
 *   define    the definition rows (triggers, sequences): validation, ownership, the compiled
 *             rule cache.
 *   render    render() and the template rows.
 *   segments  segment membership: the cache of compiled segments, deltas from new events,
 *             maintenance, refresh, expiry, the segment rows.
 *   deliver   the outbox's way out: delivery over SMTP, its SQL entry points, unsubscribe.
 *   track     engagement tracking: the HTTP server (a background worker) and record_open/click.
 *   engine    acting: run_pending's stages claim -> load -> decide (policy) -> enrich ->
 *             render -> write, for firings and journey steps; decisions; the email queue.
 *   ingest    the one statement trigger on events: matching rules, journey exits, segment deltas.
 *   worker    the background worker that calls the engine on time.
 *
 * microtrigger.c (_PG_init) sits above all of them; this header below all but core.
 *
 * GLOSSARY.
 *   trigger row        a row of microtrigger.triggers: a rule an author wrote (not a PostgreSQL
 *                      trigger; those are "statement trigger" or "row trigger" here).
 *   rule               a trigger row compiled (MtRule, rule_cache.c), as ingest matches it.
 *   firing             a row of microtrigger.firings: one rule matched one event for one user,
 *                      due at its trigger time; the engine acts on it exactly once.
 *   absence window     the `unless` of a rule: a firing waits until `within` has passed with no
 *                      matching event, and is then acted on or cancelled.
 *   sequence / journey a sequence is a definition of steps (microtrigger.sequences); a journey is
 *                      one user's run through it (microtrigger.journeys).
 *   decision           a row of microtrigger.decisions: why a candidate email was queued or not.
 *   as_of              the one clock: the time run_pending acts at; nothing reads the wall clock
 *                      while acting, so tests replay time exactly.
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
