/*
 * mime.h: RFC 5322 / MIME messages built without PostgreSQL, so they can be unit-tested alone
 * (test/unit/mime_test.c). Memory comes from mtalloc.h: palloc inside the extension.
 *
 * A message is multipart/alternative (text/plain + text/html) when both bodies are given, a
 * single part otherwise; bodies are UTF-8 in quoted-printable with lines of at most 76
 * characters; headers with non-ASCII text use RFC 2047 encoded-words; every line ends in CRLF.
 */
#ifndef MT_MIME_H
#define MT_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* What one message is made of; NULL means "absent" for every optional field. */
typedef struct MtMailMessage
{
	const char *from;				/* "Display Name <addr@host>" or "addr@host" */
	const char *to;					/* a bare address */
	const char *subject;
	const char *preheader;			/* optional: hidden leading text of the HTML part */
	const char *html_body;			/* optional */
	const char *html_part;			/* optional: the HTML part when it differs from html_body (its
									 * links rewritten for tracking); the text part is still
									 * derived from html_body, so it keeps the links' own URLs */
	const char *text_body;			/* optional */
	const char *message_id;			/* "<unique@host>" */
	time_t		date;				/* the Date: header, UTC */
	const char *unsubscribe_https;	/* optional one-click URL (adds List-Unsubscribe-Post) */
	const char *unsubscribe_mailto; /* optional "mailto:..." URI */
	const char *boundary_seed;		/* makes the MIME boundary unique, e.g. the message id */
} MtMailMessage;

/* A growable byte buffer (NUL-terminated at all times). */
typedef struct MtBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} MtBuf;

extern void mt_buf_init(MtBuf *buf);
extern void mt_buf_append(MtBuf *buf, const char *bytes, size_t len);
extern void mt_buf_puts(MtBuf *buf, const char *s);
extern void mt_buf_printf(MtBuf *buf, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* The whole message, headers and body, CRLF line ends; *len gets its length. */
extern char *mt_mime_build(const MtMailMessage *msg, size_t *len);

/* Appends the quoted-printable encoding of text (LF or CRLF line ends become CRLF). */
extern void mt_mime_qp_encode(MtBuf *out, const char *text);

/*
 * Appends "Name: value" folded to lines of at most 78 characters; the value becomes RFC 2047
 * encoded-words (=?UTF-8?B?...?=) when it is not plain printable ASCII.
 */
extern void mt_mime_header_text(MtBuf *out, const char *name, const char *value);

/* Appends the From: header for "Name <addr>" (name as encoded-word or quoted-string). */
extern void mt_mime_header_address(MtBuf *out, const char *name, const char *mailbox);

/* The addr-spec of "Name <addr>" or "addr" into buf; false when it is not a usable address. */
extern bool mt_mime_extract_address(const char *mailbox, char *buf, size_t size);

/* An RFC 5322 date ("Thu, 26 Nov 2026 14:17:00 +0000") into buf (at least 32 bytes). */
extern void mt_mime_format_date(time_t when, char *buf, size_t size);

/* Base64 of bytes (url-safe alphabet without padding when url is true), NUL-terminated. */
extern char *mt_base64_encode(const unsigned char *bytes, size_t len, bool url);

/* Decodes url-safe base64 (padding optional); NULL when malformed or not canonical. */
extern unsigned char *mt_base64url_decode(const char *text, size_t *len);

/* The HTML escaping of text (&, <, >, ", '), for the preheader. */
extern void mt_html_escape(MtBuf *out, const char *text);

#endif
