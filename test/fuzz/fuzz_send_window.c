/*
 * fuzz_send_window.c: libFuzzer target for send windows and quiet hours (src/core/send_window.c).
 * The input is parsed as a send_window JSON text (or a quiet-hours string); when it parses, the
 * next opening is computed on a fake zone with two offset changes from an instant taken from the
 * input's hash, and must be at or after it and open. Run by test/fuzz/run_send_window.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "send_window.h"

/* A zone at -05:00 that is -04:00 between two instants of 2024. */
static bool
fake_local(void *zone, int64_t s, MtLocalTime *out)
{
	int32_t		off = (s >= 1710054000 && s < 1730613600) ? -14400 : -18000;
	int64_t		local = s + off;
	int64_t		days = local / 86400,
				rem = local % 86400;

	(void) zone;
	if (rem < 0)
	{
		rem += 86400;
		days--;
	}
	mt_civil_from_days(days, &out->year, &out->month, &out->day);
	out->hour = (int) (rem / 3600);
	out->minute = (int) (rem % 3600 / 60);
	out->second = (int) (rem % 60);
	out->weekday = mt_weekday_of_days(days);
	out->utc_offset = off;
	return true;
}

/* One input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text = malloc(size + 1);
	MtSendWindow w;
	MtError		err = {0};
	bool		is_set;
	uint64_t	h = 1469598103934665603ULL;
	MtClock		clock = {fake_local, NULL};

	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	if (mt_quiet_hours_parse(text, "q", &is_set, &w, &err) && is_set && w.start_minute == w.end_minute)
		abort();
	memset(&err, 0, sizeof(err));
	if (mt_send_window_parse_text(text, "$", &is_set, &w, &err) && is_set)
	{
		int64_t		t = (int64_t) (1704067200 + h % (366 * 86400) - 946684800) * 1000000 + (int64_t) (h % 1000000);
		int64_t		next;
		MtLocalTime lt;

		if (mt_send_window_next(&w, &clock, t, &next) == MT_WINDOW_OK)
		{
			int64_t		s = next / 1000000 + 946684800 - (next % 1000000 < 0);

			fake_local(NULL, s, &lt);
			if (next < t || !mt_send_window_open_at(&w, &lt))
				abort();
		}
	}
	free(text);
	return 0;
}
