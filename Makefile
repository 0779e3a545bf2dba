# microtrigger: PGXS build. `make`, `make install`; tests: test/run.sh (see README).
EXTENSION    = microtrigger
EXTVERSION   = 0.1.0
MODULE_big   = microtrigger

# Every C file under src/ is one concern of the extension.
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is kept in readable parts (src/sql/NN_*.sql), joined in order.
DATA_built   = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN  = $(EXTENSION)--$(EXTVERSION).sql

# The pg_regress suite: every sql/*.sql, in file-name order.
REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=pg_cron

PG_CONFIG   ?= pg_config
PG_CPPFLAGS += -Isrc $(shell pkg-config --cflags json-c libcurl)
SHLIB_LINK  += $(shell pkg-config --libs json-c libcurl)
PG_CFLAGS   += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql))
	cat $^ > $@
