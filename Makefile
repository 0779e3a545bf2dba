# microtrigger: PGXS build. `make`, `make install`; `make installcheck` runs pg_regress, isolation and
# TAP against temporary instances; `make unitcheck` the PostgreSQL-free unit tests. CI: test/run.sh.
EXTENSION    = microtrigger
EXTVERSION   = 0.1.0
MODULE_big   = microtrigger

# Every C file under src/ is one concern of the extension; the folders are its areas, in the
# one-way order written at the top of src/microtrigger.h (test/lint/layout.py checks it).
SRC_AREAS    = core common define render segments deliver track engine ingest worker
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c $(addsuffix /*.c,$(addprefix src/,$(SRC_AREAS))))))

# The install script is kept in readable parts (src/sql/NN_*.sql), joined in order.
DATA_built   = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN  = $(EXTENSION)--$(EXTVERSION).sql

# `make installcheck` (after `make install`), as pg_cron does: each part on a temporary instance
# configured by test/regress.conf (pg_cron and microtrigger preloaded), never on a running server.
# The pg_regress suite: every sql/*.sql, in file-name order, in database contrib_regression.
REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=pg_cron --temp-config=test/regress.conf --temp-instance=./tmp_check
# The isolation specs: test/isolation/{specs,expected}.
ISOLATION      = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --temp-config=test/regress.conf --temp-instance=./tmp_check_iso
# The TAP tests (test/tap/t): each starts its own clusters with PostgreSQL::Test::Cluster.
TAP_TESTS    = 1
PROVE_TESTS  = $(sort $(wildcard test/tap/t/*.pl))
# The templates and tests hold UTF-8 text: instances are UTF8 with the C.UTF-8 locale.
ENCODING     = UTF8

PG_CONFIG   ?= pg_config
PG_CPPFLAGS += -Isrc $(addprefix -Isrc/,$(SRC_AREAS)) $(shell pkg-config --cflags json-c libcurl libpcre2-8 yaml-0.1 gumbo libmicrohttpd)
SHLIB_LINK  += $(shell pkg-config --libs json-c libcurl libpcre2-8 yaml-0.1 gumbo libmicrohttpd)
PG_CFLAGS   += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql))
	cat $^ > $@

# Instances get the locale of initdb's environment (pg_regress drops LC_ALL, so set these).
INSTALLCHECKS = installcheck installcheck-regress installcheck-isolation installcheck-tap
$(INSTALLCHECKS): export LANG = C.UTF-8
$(INSTALLCHECKS): export LC_COLLATE = C.UTF-8
$(INSTALLCHECKS): export LC_CTYPE = C.UTF-8

# The three parts of installcheck one at a time (test/suites/{regress,isolation,tap}.sh use them).
.PHONY: installcheck-regress installcheck-isolation installcheck-tap
installcheck-regress: submake
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)
installcheck-isolation: submake
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)
installcheck-tap:
	$(prove_installcheck)

# The PostgreSQL-free unit tests (test/unit): one recipe, always with AddressSanitizer and UBSan
# (a finding aborts the test). A compiler without them stops the build with an error; nothing is
# ever built without them, except mustache_limits_O2, built on purpose as the extension is (-O2)
# because its stack figure is the one that must fit max_stack_depth.
UNIT_CC     ?= gcc
UNIT_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_WARN    = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
UNIT_CFLAGS  = -std=gnu11 -g $(UNIT_WARN) -Isrc/core -Itest/unit $(shell pkg-config --cflags json-c libpcre2-8 yaml-0.1 gumbo)
UNIT_LIBS    = $(shell pkg-config --libs json-c libpcre2-8 yaml-0.1 gumbo) -lm
UNIT_DEPS    = $(wildcard src/core/*.h test/unit/*.h) Makefile
UNIT_BINS    = $(addprefix test/unit/,condition_unit.bin segment_unit.bin mime_test.bin html_links_test.bin \
                 mustache_spec.bin mustache_limits.bin mustache_limits_O2.bin send_window_unit.bin \
                 user_agent_unit.bin stats_unit.bin send_time_unit.bin)

test/unit/condition_unit.bin: test/unit/condition_unit.c src/core/condition.c src/core/mterror.c test/unit/mtalloc_std.c
test/unit/segment_unit.bin: test/unit/segment_unit.c src/core/segment_def.c src/core/segment_timeline.c \
		src/core/definition.c src/core/send_window.c src/core/condition.c src/core/mterror.c test/unit/mtalloc_std.c
test/unit/send_window_unit.bin: test/unit/send_window_unit.c src/core/send_window.c src/core/definition.c \
		src/core/condition.c src/core/mterror.c test/unit/mtalloc_std.c
test/unit/user_agent_unit.bin: test/unit/user_agent_unit.c src/core/user_agent.c
test/unit/send_time_unit.bin: test/unit/send_time_unit.c src/core/send_time.c
test/unit/mime_test.bin: test/unit/mime_test.c src/core/mime.c test/unit/mtalloc_std.c
test/unit/html_links_test.bin: test/unit/html_links_test.c src/core/html_links.c src/core/mime.c test/unit/mtalloc_std.c
test/unit/mustache_spec.bin: test/unit/mustache_spec.c test/unit/mtm_jsonc.c src/core/mustache.c src/core/mterror.c \
		test/unit/mtalloc_std.c
test/unit/stats_unit.bin: test/unit/stats_unit.c src/core/stats.c
test/unit/mustache_limits.bin test/unit/mustache_limits_O2.bin: test/unit/mustache_limits.c \
		test/unit/mtm_jsonc.c src/core/mustache.c src/core/mterror.c test/unit/mtalloc_std.c

$(filter-out %_O2.bin,$(UNIT_BINS)): $(UNIT_DEPS) | unit-sanitizers
	$(UNIT_CC) $(UNIT_CFLAGS) -O1 $(UNIT_SAN) $(filter %.c,$^) $(UNIT_LIBS) -o $@
test/unit/mustache_limits_O2.bin: $(UNIT_DEPS)
	$(UNIT_CC) $(UNIT_CFLAGS) -O2 $(filter %.c,$^) $(UNIT_LIBS) -o $@

# Fails loudly when the compiler cannot build and run a program with the sanitizers.
.PHONY: unit-sanitizers unit unitcheck
unit-sanitizers:
	@printf 'int main(void) { return 0; }\n' > test/unit/sanitizer_probe.c
	@$(UNIT_CC) $(UNIT_SAN) test/unit/sanitizer_probe.c -o test/unit/sanitizer_probe.bin && ./test/unit/sanitizer_probe.bin \
		|| { rm -f test/unit/sanitizer_probe.*; echo "error: $(UNIT_CC) cannot build and run with $(UNIT_SAN); the unit tests require it" >&2; exit 1; }
	@rm -f test/unit/sanitizer_probe.*

unit: $(UNIT_BINS)

# Runs every unit test; each prints "name: N passed, M failed" and exits non-zero on a failure.
unitcheck: unit
	@rc=0; for t in $(UNIT_BINS); do echo "== $$t"; \
		case $$t in *mustache_spec*) ./$$t test/spec/mustache test/spec/mustache_lines/*.json ;; *) ./$$t ;; esac || rc=1; done; exit $$rc

EXTRA_CLEAN += test/unit/*.bin output_iso tmp_check_iso
