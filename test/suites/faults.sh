#!/usr/bin/env bash
# The kill -9 fault suite (issue 9): the worker, run_pending sessions and deliver_loop are killed
# -9 at random moments, at least MT_FAULT_KILLS (20) times each, on a private cluster with
# restart_after_crash and a real SMTP server that counts Message-IDs; then nothing may be lost and
# nothing doubled but the one message in flight at each kill. See test/faults/faults.py and
# docs/faults.md. Prints "faults: N passed, M failed".
set -u
cd "$(dirname "$0")/../faults"
exec /usr/bin/python3 faults.py
