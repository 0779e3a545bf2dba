/*
 * mime_test.c: unit tests of src/core/mime.c alone (no PostgreSQL): quoted-printable line lengths and
 * round trip, RFC 2047 encoded-words, header folding, address parsing, message structure.
 * Build: cc -Isrc/core test/unit/mime_test.c src/core/mime.c test/unit/mtalloc_std.c; prints
 * "mime-unit: N passed, M failed".
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "mtalloc.h"

static int	passed = 0;
static int	failed = 0;

/* Counts one check and reports a failure with its name. */
static void
check(int ok, const char *name)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("FAIL: %s\n", name);
	}
}

/* The longest line (without CRLF) of text, and whether every line ends in CRLF. */
static size_t
longest_line(const char *text, int *bare_lf)
{
	size_t		longest = 0;
	const char *line = text;

	*bare_lf = 0;
	for (const char *p = text; *p; p++)
	{
		if (*p == '\n')
		{
			size_t		n = (size_t) (p - line);

			if (p == text || p[-1] != '\r')
				*bare_lf = 1;
			else
				n--;
			if (n > longest)
				longest = n;
			line = p + 1;
		}
	}
	if (strlen(line) > longest)
		longest = strlen(line);
	return longest;
}

/* Decodes quoted-printable (soft breaks removed, CRLF kept as LF) for round-trip checks. */
static char *
qp_decode(const char *qp)
{
	char	   *out = malloc(strlen(qp) + 1);
	size_t		o = 0;

	for (const char *p = qp; *p;)
	{
		if (p[0] == '=' && p[1] == '\r' && p[2] == '\n')
			p += 3;
		else if (p[0] == '=' && isxdigit((unsigned char) p[1]) && isxdigit((unsigned char) p[2]))
		{
			unsigned int v = 0;

			sscanf(p + 1, "%2X", &v);
			out[o++] = (char) v;
			p += 3;
		}
		else if (p[0] == '\r' && p[1] == '\n')
		{
			out[o++] = '\n';
			p += 2;
		}
		else
			out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
}

/* Quoted-printable: line lengths, trailing white space, '=' and non-ASCII, round trip. */
static void
test_quoted_printable(void)
{
	MtBuf		buf;
	char		long_line[2000];
	int			bare_lf;
	char	   *decoded;
	const char *samples[] = {
		"hello world",
		"a = b\nline two  \n.dot first\n",
		"caf\xC3\xA9 \xE2\x82\xAC 100 \xF0\x9F\x98\x80 smile",
		"\tTab\t\n\n\nend",
		"CRLF\r\nalready\r\n",
	};

	for (size_t i = 0; i < sizeof(long_line) - 1; i++)
		long_line[i] = (i % 7 == 0) ? '=' : (i % 11 == 0 ? ' ' : (i % 13 == 0 ? '\xC3' : 'x'));
	long_line[sizeof(long_line) - 1] = '\0';

	mt_buf_init(&buf);
	mt_mime_qp_encode(&buf, long_line);
	check(longest_line(buf.data, &bare_lf) <= 76, "qp: long line folded to <= 76");
	check(!bare_lf, "qp: no bare LF");
	decoded = qp_decode(buf.data);
	check(strcmp(decoded, long_line) == 0, "qp: long line round trip");
	free(decoded);
	mt_free(buf.data);

	for (size_t s = 0; s < sizeof(samples) / sizeof(samples[0]); s++)
	{
		char	   *expect = strdup(samples[s]);
		char	   *w = expect;

		for (char *r = expect; *r; r++)	/* the encoder normalises CRLF to CRLF; LF on decode */
			if (*r != '\r')
				*w++ = *r;
		*w = '\0';
		mt_buf_init(&buf);
		mt_mime_qp_encode(&buf, samples[s]);
		decoded = qp_decode(buf.data);
		check(strcmp(decoded, expect) == 0, "qp: sample round trip");
		check(longest_line(buf.data, &bare_lf) <= 76 && !bare_lf, "qp: sample line length");
		free(decoded);
		free(expect);
		mt_free(buf.data);
	}

	mt_buf_init(&buf);
	mt_mime_qp_encode(&buf, "end space \nx");
	check(strstr(buf.data, "space=20\r\n") != NULL, "qp: trailing space encoded");
	mt_free(buf.data);

	mt_buf_init(&buf);
	mt_mime_qp_encode(&buf, "a=b caf\xC3\xA9\n.x");
	check(strcmp(buf.data, "a=3Db caf=C3=A9\r\n=2Ex") == 0, "qp: exact encoding of '=', UTF-8, leading dot");
	mt_free(buf.data);

	/* 80 x's: the soft break sits at 75 characters + '=' */
	{
		char		xs[81];

		memset(xs, 'x', 80);
		xs[80] = '\0';
		mt_buf_init(&buf);
		mt_mime_qp_encode(&buf, xs);
		check(strncmp(buf.data + 75, "=\r\nxxxxx", 8) == 0 && strlen(buf.data) == 83,
			  "qp: soft break position");
		mt_free(buf.data);
	}
}

/* Decodes the encoded-words of one header value (our own B-encoded form) for round trips. */
static char *
decode_words(const char *value)
{
	char	   *out = calloc(1, strlen(value) + 1);
	const char *p = value;

	while ((p = strstr(p, "=?UTF-8?B?")) != NULL)
	{
		const char *start = p + 10;
		const char *end = strstr(start, "?=");
		char	   *b64 = strndup(start, (size_t) (end - start));
		size_t		n;
		unsigned char *raw;

		/* standard to url-safe alphabet for our decoder */
		for (char *c = b64; *c; c++)
			*c = (*c == '+') ? '-' : (*c == '/') ? '_' : *c;
		raw = mt_base64url_decode(b64, &n);
		strncat(out, (const char *) raw, n);
		mt_free(raw);
		free(b64);
		p = end + 2;
	}
	return out;
}

/* Headers: plain, folded, encoded-words, each word <= 75 chars, UTF-8 never split. */
static void
test_headers(void)
{
	MtBuf		buf;
	int			bare_lf;
	const char *subject = "Gr\xC3\xBC\xC3\x9F" "e aus K\xC3\xB6ln \xE2\x80\x94 \xF0\x9F\x9B\x92 "
	"your cart is waiting, and it is a long subject line with many words \xE2\x9C\x93";
	char	   *decoded;

	mt_buf_init(&buf);
	mt_mime_header_text(&buf, "Subject", "Hello there");
	check(strcmp(buf.data, "Subject: Hello there\r\n") == 0, "header: plain ASCII unchanged");
	mt_free(buf.data);

	mt_buf_init(&buf);
	mt_mime_header_text(&buf, "Subject", subject);
	check(strncmp(buf.data, "Subject: =?UTF-8?B?", 19) == 0, "header: non-ASCII as encoded-word");
	check(longest_line(buf.data, &bare_lf) <= 78 && !bare_lf, "header: folded to <= 78");
	decoded = decode_words(buf.data);
	check(strcmp(decoded, subject) == 0, "header: encoded-words round trip (no split UTF-8)");
	free(decoded);
	{
		int			ok = 1;
		const char *p = buf.data;

		while ((p = strstr(p, "=?UTF-8?B?")) != NULL)
		{
			const char *end = strstr(p + 10, "?=");

			if (end == NULL || end + 2 - p > 75)
				ok = 0;
			p = end ? end + 2 : p + 10;
		}
		check(ok, "header: every encoded-word <= 75 characters");
	}
	mt_free(buf.data);

	mt_buf_init(&buf);
	mt_mime_header_text(&buf, "Subject", "evil\r\nBcc: victim@example.com");
	check(strstr(buf.data, "\r\nBcc:") == NULL, "header: CRLF in a value cannot inject a header");
	mt_free(buf.data);

	mt_buf_init(&buf);
	mt_mime_header_text(&buf, "Subject", "word word word word word word word word word word word word word word word word word");
	check(longest_line(buf.data, &bare_lf) <= 78 && strstr(buf.data, "\r\n word") != NULL,
		  "header: long ASCII folded at a space");
	mt_free(buf.data);

	mt_buf_init(&buf);
	mt_mime_header_address(&buf, "From", "Acme <hello@acme.example>");
	check(strcmp(buf.data, "From: Acme <hello@acme.example>\r\n") == 0, "from: plain display name");
	mt_free(buf.data);

	mt_buf_init(&buf);
	mt_mime_header_address(&buf, "From", "J\xC3\xBCrgen's Shop <shop@example.com>");
	check(strncmp(buf.data, "From: =?UTF-8?B?", 16) == 0 && strstr(buf.data, " <shop@example.com>\r\n"),
		  "from: non-ASCII display name encoded");
	mt_free(buf.data);

	mt_buf_init(&buf);
	mt_mime_header_address(&buf, "From", "Acme, Inc. <a@b.c>");
	check(strcmp(buf.data, "From: \"Acme, Inc.\" <a@b.c>\r\n") == 0, "from: specials quoted");
	mt_free(buf.data);

	{
		char		addr[64];

		check(mt_mime_extract_address("  a@b.c ", addr, sizeof(addr)) && strcmp(addr, "a@b.c") == 0,
			  "address: bare trimmed");
		check(!mt_mime_extract_address("a@b.c\r\nRCPT TO:<x@y>", addr, sizeof(addr)), "address: CRLF refused");
		check(!mt_mime_extract_address("no-at-sign", addr, sizeof(addr)), "address: no @ refused");
		check(!mt_mime_extract_address("", addr, sizeof(addr)), "address: empty refused");
	}
	{
		char		date[64];

		mt_mime_format_date((time_t) 0, date, sizeof(date));
		check(strcmp(date, "Thu, 01 Jan 1970 00:00:00 +0000") == 0, "date: RFC 5322 format");
	}
	{
		const unsigned char raw[] = {0xFF, 0x00, 0x10, 'a', 'b'};
		char	   *enc = mt_base64_encode(raw, sizeof(raw), true);
		size_t		n;
		unsigned char *dec = mt_base64url_decode(enc, &n);

		check(strchr(enc, '=') == NULL && strchr(enc, '+') == NULL && strchr(enc, '/') == NULL,
			  "base64url: url-safe alphabet");
		check(dec && n == sizeof(raw) && memcmp(dec, raw, n) == 0, "base64url: round trip");
		check(mt_base64url_decode("a*b", &n) == NULL, "base64url: malformed refused");
		{
			unsigned char *canonical = mt_base64url_decode("QQ", &n);

			check(canonical != NULL && n == 1 && canonical[0] == 'A' && mt_base64url_decode("QR", &n) == NULL,
				  "base64url: non-canonical trailing bits refused");
			mt_free(canonical);
		}
		mt_free(enc);
		mt_free(dec);
	}
}

/* The whole message: header set, multipart structure, preheader, CRLF only, lines <= 78/76. */
static void
test_message(void)
{
	MtMailMessage msg = {0};
	char	   *data;
	size_t		len;
	int			bare_lf;
	const char *body;

	msg.from = "Acme <hello@acme.example>";
	msg.to = "user@example.com";
	msg.subject = "Caf\xC3\xA9 time";
	msg.preheader = "Don't miss <this>";
	msg.html_body = "<html><body class=\"x\"><p>Hello &amp; welcome</p></body></html>";
	msg.text_body = NULL;
	msg.message_id = "<1.abc@acme.example>";
	msg.date = 86400;
	msg.unsubscribe_https = "https://acme.example/u?token=abc";
	msg.unsubscribe_mailto = "mailto:unsub@acme.example?subject=unsubscribe";
	data = mt_mime_build(&msg, &len);
	check(len == strlen(data), "message: length matches");
	check(longest_line(data, &bare_lf) <= 78 && !bare_lf, "message: CRLF only, lines <= 78");
	check(strncmp(data, "Date: Fri, 02 Jan 1970 00:00:00 +0000\r\n", 39) == 0, "message: Date first");
	check(strstr(data, "\r\nMessage-ID: <1.abc@acme.example>\r\n") != NULL, "message: Message-ID");
	check(strstr(data, "\r\nMIME-Version: 1.0\r\n") != NULL, "message: MIME-Version");
	check(strstr(data, "\r\nTo: user@example.com\r\n") != NULL, "message: To");
	check(strstr(data, "\r\nSubject: =?UTF-8?B?") != NULL, "message: Subject encoded");
	check(strstr(data, "List-Unsubscribe: <https://acme.example/u?token=abc>,\r\n <mailto:") != NULL,
		  "message: List-Unsubscribe with https and mailto");
	check(strstr(data, "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") != NULL,
		  "message: List-Unsubscribe-Post");
	check(strstr(data, "multipart/alternative;\r\n boundary=\"=_mt_") != NULL, "message: multipart/alternative");
	body = strstr(data, "\r\n\r\n");
	check(body != NULL && strstr(body, "text/plain; charset=UTF-8") < strstr(body, "text/html; charset=UTF-8"),
		  "message: text part before HTML part");
	{
		char	   *decoded = qp_decode(strstr(data, "text/html"));

		check(strstr(decoded, "<body class=\"x\"><div style=\"display:none;") != NULL,
			  "message: preheader div right after <body>");
		check(strstr(decoded, "Don&#39;t miss &lt;this&gt;</div>") != NULL, "message: preheader escaped");
		free(decoded);
	}
	{
		char	   *decoded = qp_decode(strstr(data, "text/plain"));

		check(strstr(decoded, "Hello & welcome") != NULL, "message: text derived from HTML");
		free(decoded);
	}
	{
		/* the closing boundary is the last line */
		const char *close = strstr(data, "--\r\n");

		check(close != NULL && close[4] == '\0', "message: closing boundary ends the message");
	}
	mt_free(data);

	msg.unsubscribe_https = "https://acme.example/unsubscribe/one-click?token=MTIzNDU6dXNlci0xMjM0NQ.AAAAAAAAAAAAAAAAAAAAAA";
	data = mt_mime_build(&msg, &len);
	check(strstr(data, "\r\nList-Unsubscribe:\r\n <https://acme.example/unsubscribe/one-click") != NULL,
		  "message: a long unsubscribe URL starts on a folded line");
	mt_free(data);

	msg.html_body = NULL;
	msg.text_body = "only text";
	msg.unsubscribe_https = NULL;
	msg.unsubscribe_mailto = NULL;
	data = mt_mime_build(&msg, &len);
	check(strstr(data, "multipart") == NULL && strstr(data, "Content-Type: text/plain; charset=UTF-8") != NULL,
		  "message: single text part without HTML");
	check(strstr(data, "List-Unsubscribe") == NULL, "message: no List-Unsubscribe when none given");
	mt_free(data);
}

/* Runs every group and prints the summary line. */
int
main(void)
{
	test_quoted_printable();
	test_headers();
	test_message();
	printf("mime-unit: %d passed, %d failed\n", passed, failed);
	fflush(stdout);				/* LeakSanitizer exits without flushing stdio */
	return failed ? 1 : 0;
}
