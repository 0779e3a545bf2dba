#!/usr/bin/env bash
# PostgreSQL-free unit tests of the experiment statistics (src/core/stats.c), built by `make unit`
# (AddressSanitizer and UBSan). The reference values come from scipy / statsmodels: generated now
# by test/unit/gen_stats_cases.py with Debian's python3 (python3-scipy and python3-statsmodels are
# installed when missing, as test/lib.sh does), and also the committed test/unit/stats_cases.txt
# (made by the same script), so the module is checked against today's and the recorded values.
set -u
cd "${MT_BUILD:-.}"
make -s test/unit/stats_unit.bin || { echo "stats-unit: 0 passed, 1 failed"; exit 1; }
missing=""
for p in python3-scipy python3-statsmodels; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null 2>&1; }
fi
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
if /usr/bin/python3 test/unit/gen_stats_cases.py >"$fresh"; then
    echo "== reference values generated now by scipy / statsmodels"
    ./test/unit/stats_unit.bin "$fresh" | sed 's/^stats-unit: /stats-unit (fresh): /'
    fresh_rc=${PIPESTATUS[0]}
    echo "$(diff "$fresh" test/unit/stats_cases.txt | grep -c '^<') lines differ from the committed file (other library versions)"
else
    echo "FAIL: could not generate reference values with /usr/bin/python3 (scipy, statsmodels)"
    fresh_rc=1
fi
echo "== committed reference values"
./test/unit/stats_unit.bin test/unit/stats_cases.txt
rc=$?
# one result line for test/run.sh: the committed file's count, failed if either run failed
[ "$fresh_rc" = 0 ] || { echo "stats-unit: 0 passed, 1 failed"; exit 1; }
exit $rc
