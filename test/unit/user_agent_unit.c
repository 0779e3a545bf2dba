/*
 * user_agent_unit.c: PostgreSQL-free unit tests of the device classification (src/core/user_agent.c)
 * over real user-agent strings: iPhone, iPad, Android phones and tablets, Kindle, desktop Chrome,
 * Firefox, Safari and Edge, and bots, with uap-core's regexes.yaml (Debian package uap-core).
 * Prints "user-agent-unit: N passed, M failed". Built and run by test/suites/user_agent_unit.sh.
 */
#include <stdio.h>
#include <string.h>

#include "user_agent.h"

#include "unit_check.h"

static MtUaDb *db;

/* The user agent is classified as `kind`. */
static void
expect_kind(const char *what, const char *ua, const char *kind)
{
	MtDeviceInfo info;
	char		detail[300];

	mt_ua_classify(db, ua, strlen(ua), &info);
	snprintf(detail, sizeof(detail), "got %s (family \"%s\", os \"%s\"), expected %s",
			 mt_device_kind_name(info.kind), info.family, info.os, kind);
	check(strcmp(mt_device_kind_name(info.kind), kind) == 0, what, detail);
}

/* Runs every test. */
int
main(int argc, char **argv)
{
	char		err[512] = "";
	MtDeviceInfo info;
	int			n_os = 0;
	MtUaDb	   *bad;

	db = mt_ua_db_load(argc > 1 ? argv[1] : MT_UAP_REGEXES_PATH, err, sizeof(err));
	check(db != NULL, "regexes.yaml loads", err);
	if (db == NULL)
	{
		printf("user-agent-unit: %d passed, %d failed\n", passed, failed);
		return 1;
	}
	check(mt_ua_db_size(db, &n_os) > 300 && n_os > 100, "hundreds of device and OS parsers", NULL);
	bad = mt_ua_db_load("/nonexistent/regexes.yaml", err, sizeof(err));
	check(bad == NULL && strstr(err, "install the package uap-core") != NULL, "a missing file is an error", err);

	expect_kind("iPhone Safari",
				"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "mobile");
	expect_kind("iPhone Chrome",
				"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1", "mobile");
	expect_kind("iPod touch",
				"Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1", "mobile");
	expect_kind("iPad Safari",
				"Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", "tablet");
	expect_kind("Android phone Chrome (Pixel)",
				"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36", "mobile");
	expect_kind("Android phone Samsung Internet",
				"Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", "mobile");
	expect_kind("Android phone Firefox",
				"Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0", "mobile");
	expect_kind("Android reduced UA (K) phone",
				"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", "mobile");
	expect_kind("Android tablet (Galaxy Tab S8)",
				"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "tablet");
	expect_kind("Android tablet (Galaxy Tab A)",
				"Mozilla/5.0 (Linux; Android 11; SM-T220) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36", "tablet");
	expect_kind("Android tablet Firefox",
				"Mozilla/5.0 (Android 13; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0", "tablet");
	expect_kind("Nexus 7",
				"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 7 Build/MOB30X) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/56.0.2924.87 Safari/537.36", "tablet");
	expect_kind("Kindle Fire (Silk)",
				"Mozilla/5.0 (Linux; Android 9; KFMAWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/120.3.1 like Chrome/120.0.6099.71 Safari/537.36", "tablet");
	expect_kind("Kindle e-reader",
				"Mozilla/5.0 (X11; U; Linux armv7l like Android; en-us) AppleWebKit/531.2+ (KHTML, like Gecko) Version/5.0 Safari/531.2+ Kindle/3.0+", "tablet");
	expect_kind("desktop Chrome (Windows)",
				"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "desktop");
	expect_kind("desktop Chrome (macOS)",
				"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "desktop");
	expect_kind("desktop Firefox (Linux)",
				"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "desktop");
	expect_kind("desktop Firefox (Windows)",
				"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", "desktop");
	expect_kind("desktop Safari",
				"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15", "desktop");
	expect_kind("desktop Edge",
				"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", "desktop");
	expect_kind("ChromeOS",
				"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "desktop");
	expect_kind("Windows Phone",
				"Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977", "mobile");
	expect_kind("Opera Mini",
				"Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54", "mobile");
	expect_kind("Googlebot",
				"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot");
	expect_kind("Googlebot smartphone",
				"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot");
	expect_kind("Bingbot",
				"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot");
	expect_kind("facebook link preview", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot");
	expect_kind("Slack link preview", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "bot");
	/* uap-core does not list command-line tools as spiders */
	expect_kind("curl (not a spider to uap-core)", "curl/8.5.0", "desktop");
	expect_kind("empty", "", "desktop");
	expect_kind("garbage", "\x01\xff((([[[", "desktop");

	mt_ua_classify(db, "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X)", 45, &info);
	check(strcmp(info.family, "iPad") == 0 && strcmp(info.os, "iOS") == 0, "iPad family and OS", info.family);
	{
		/* a long user agent is classified by its first 2048 bytes */
		static char longua[10000];

		memset(longua, 'x', sizeof(longua) - 1);
		memcpy(longua, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile", 62);
		expect_kind("10 kB user agent", longua, "mobile");
	}
	mt_ua_db_free(db);
	printf("user-agent-unit: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
