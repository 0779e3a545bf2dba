/*
 * fuzz_user_agent.c: libFuzzer target for the device classification (src/core/user_agent.c) with
 * uap-core's regexes: any bytes are classified without a crash, and the families stay
 * NUL-terminated. Run by test/fuzz/run_user_agent.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "user_agent.h"

static MtUaDb *db;

/* One input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MtDeviceInfo info;

	if (db == NULL)
	{
		char		err[512];

		if ((db = mt_ua_db_load(MT_UAP_REGEXES_PATH, err, sizeof(err))) == NULL)
		{
			fprintf(stderr, "%s\n", err);
			abort();
		}
	}
	mt_ua_classify(db, (const char *) data, size, &info);
	if (strlen(info.family) >= sizeof(info.family) || strlen(info.os) >= sizeof(info.os) ||
		info.kind > MT_DEVICE_BOT)
		abort();
	return 0;
}
