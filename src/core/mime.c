/*
 * mime.c: RFC 5322 / MIME messages (no PostgreSQL here; see mime.h). Quoted-printable bodies,
 * RFC 2047 encoded-words, folded headers, the hidden preheader, CRLF everywhere.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mime.h"
#include "mtalloc.h"

#define MT_HEADER_LINE_MAX 78	/* RFC 5322 2.1.1: SHOULD be no more than 78 characters */
#define MT_QP_LINE_MAX 76		/* RFC 2045 6.7: encoded lines no more than 76 characters */
#define MT_WORD_RAW_MAX 36		/* bytes per encoded-word: 48 base64 chars, 60-char word */

static const char base64_std[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char base64_url[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Starts an empty buffer. */
void
mt_buf_init(MtBuf *buf)
{
	buf->cap = 256;
	buf->len = 0;
	buf->data = mt_alloc(buf->cap);
	buf->data[0] = '\0';
}

/* Appends len bytes, growing the buffer geometrically. */
void
mt_buf_append(MtBuf *buf, const char *bytes, size_t len)
{
	if (buf->len + len + 1 > buf->cap)
	{
		size_t		cap = buf->cap;

		while (buf->len + len + 1 > cap)
			cap *= 2;
		buf->data = mt_realloc(buf->data, cap);
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, bytes, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

/* Appends a NUL-terminated string. */
void
mt_buf_puts(MtBuf *buf, const char *s)
{
	mt_buf_append(buf, s, strlen(s));
}

/* Appends printf-formatted text. */
void
mt_buf_printf(MtBuf *buf, const char *fmt,...)
{
	va_list		ap;
	char		small[256];
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t) n < sizeof(small))
	{
		mt_buf_append(buf, small, n);
		return;
	}
	{
		char	   *big = mt_alloc(n + 1);

		va_start(ap, fmt);
		vsnprintf(big, n + 1, fmt, ap);
		va_end(ap);
		mt_buf_append(buf, big, n);
		mt_free(big);
	}
}

/* Base64 of bytes into a new string; url-safe alphabet and no padding when url is true. */
char *
mt_base64_encode(const unsigned char *bytes, size_t len, bool url)
{
	const char *alphabet = url ? base64_url : base64_std;
	char	   *out = mt_alloc(4 * ((len + 2) / 3) + 1);
	size_t		o = 0;

	for (size_t i = 0; i < len; i += 3)
	{
		uint32_t	v = (uint32_t) bytes[i] << 16;
		size_t		rest = len - i;

		if (rest > 1)
			v |= (uint32_t) bytes[i + 1] << 8;
		if (rest > 2)
			v |= bytes[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		if (rest > 1)
			out[o++] = alphabet[(v >> 6) & 63];
		else if (!url)
			out[o++] = '=';
		if (rest > 2)
			out[o++] = alphabet[v & 63];
		else if (!url)
			out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

/* The value of one url-safe base64 character, or -1. */
static int
base64url_value(char c)
{
	const char *p = (c == '\0') ? NULL : strchr(base64_url, c);

	return p ? (int) (p - base64_url) : -1;
}

/* Decodes url-safe base64 (trailing '=' padding allowed); NULL when malformed or not canonical. */
unsigned char *
mt_base64url_decode(const char *text, size_t *len)
{
	size_t		n = strlen(text);
	unsigned char *out;
	size_t		o = 0;
	uint32_t	acc = 0;
	int			bits = 0;

	while (n > 0 && text[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return NULL;
	out = mt_alloc(n * 3 / 4 + 1);
	for (size_t i = 0; i < n; i++)
	{
		int			v = base64url_value(text[i]);

		if (v < 0)
		{
			mt_free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[o++] = (unsigned char) ((acc >> bits) & 0xFF);
		}
	}
	/* the bits left over must be zero: one encoding per byte string, no look-alike tokens */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
	{
		mt_free(out);
		return NULL;
	}
	out[o] = '\0';
	*len = o;
	return out;
}

/* Appends text with the five HTML special characters escaped. */
void
mt_html_escape(MtBuf *out, const char *text)
{
	for (const char *c = text; *c; c++)
	{
		switch (*c)
		{
			case '&':
				mt_buf_puts(out, "&amp;");
				break;
			case '<':
				mt_buf_puts(out, "&lt;");
				break;
			case '>':
				mt_buf_puts(out, "&gt;");
				break;
			case '"':
				mt_buf_puts(out, "&quot;");
				break;
			case '\'':
				mt_buf_puts(out, "&#39;");
				break;
			default:
				mt_buf_append(out, c, 1);
		}
	}
}

/* Appends one quoted-printable token, breaking the line softly first when it would not fit. */
static void
qp_emit(MtBuf *out, int *col, unsigned char c, bool literal, bool last_in_line)
{
	static const char hex[] = "0123456789ABCDEF";
	int			width = literal ? 1 : 3;
	int			room = last_in_line ? MT_QP_LINE_MAX : MT_QP_LINE_MAX - 1;

	if (*col + width > room)
	{
		mt_buf_append(out, "=\r\n", 3);
		*col = 0;
	}
	/* a '.' opening a line is encoded, so no SMTP dot-stuffing can ever touch the body */
	if (literal && c == '.' && *col == 0)
	{
		literal = false;
		width = 3;
	}
	if (literal)
		mt_buf_append(out, (const char *) &c, 1);
	else
	{
		char		token[3] = {'=', hex[c >> 4], hex[c & 15]};

		mt_buf_append(out, token, 3);
	}
	*col += width;
}

/* Quoted-printable (RFC 2045 6.7): hard line breaks become CRLF, lines are at most 76 chars. */
void
mt_mime_qp_encode(MtBuf *out, const char *text)
{
	const char *line = text;

	for (;;)
	{
		const char *nl = strchr(line, '\n');
		size_t		n = nl ? (size_t) (nl - line) : strlen(line);
		int			col = 0;

		if (n > 0 && line[n - 1] == '\r')
			n--;
		for (size_t i = 0; i < n; i++)
		{
			unsigned char c = (unsigned char) line[i];
			bool		last = (i == n - 1);
			bool		literal;

			if (c == ' ' || c == '\t')
				literal = !last;	/* trailing white space would be lost in transport */
			else
				literal = (c >= 33 && c <= 126 && c != '=');
			qp_emit(out, &col, c, literal, last);
		}
		if (nl == NULL)
			break;
		mt_buf_append(out, "\r\n", 2);
		line = nl + 1;
	}
}

/* True when the value can be written as it is: printable ASCII and no "=?" sequence. */
static bool
header_is_plain(const char *value)
{
	for (const unsigned char *c = (const unsigned char *) value; *c; c++)
		if (*c < 0x20 || *c > 0x7E)
			return false;
	return strstr(value, "=?") == NULL;
}

/* Length of the UTF-8 sequence starting with lead byte c (1 for stray bytes). */
static int
utf8_seq_len(unsigned char c)
{
	if (c >= 0xF0 && c < 0xF8)
		return 4;
	if (c >= 0xE0)
		return c < 0xF0 ? 3 : 1;
	if (c >= 0xC0)
		return 2;
	return 1;
}

/*
 * Appends value as RFC 2047 B encoded-words separated by folding white space; each word holds
 * whole UTF-8 characters only. *col is the current line length, updated.
 */
static void
append_encoded_words(MtBuf *out, const char *value, int *col)
{
	size_t		n = strlen(value);
	size_t		i = 0;
	bool		first = true;

	while (i < n || first)
	{
		size_t		chunk = 0;
		char	   *b64;
		int			width;

		while (i + chunk < n)
		{
			int			seq = utf8_seq_len((unsigned char) value[i + chunk]);

			if (i + chunk + seq > n)
				seq = (int) (n - i - chunk);
			if (chunk + seq > MT_WORD_RAW_MAX)
				break;
			chunk += seq;
		}
		b64 = mt_base64_encode((const unsigned char *) value + i, chunk, false);
		width = 12 + (int) strlen(b64);
		if (!first)
		{
			if (*col + 1 + width > MT_HEADER_LINE_MAX)
			{
				mt_buf_puts(out, "\r\n");
				*col = 0;
			}
			mt_buf_puts(out, " ");
			*col += 1;
		}
		mt_buf_printf(out, "=?UTF-8?B?%s?=", b64);
		*col += width;
		mt_free(b64);
		i += chunk;
		first = false;
	}
}

/* Appends plain text folded at spaces so that lines stay within 78 characters where possible. */
static void
append_folded_plain(MtBuf *out, const char *value, int *col)
{
	const char *p = value;

	while (*p)
	{
		const char *space = strchr(p + 1, ' ');
		size_t		word = space ? (size_t) (space - p) : strlen(p);

		/* a word starting with a space may move to a new line; the space becomes the fold */
		if (*p == ' ' && *col + (int) word > MT_HEADER_LINE_MAX && *col > 1)
		{
			mt_buf_puts(out, "\r\n");
			*col = 0;
		}
		mt_buf_append(out, p, word);
		*col += (int) word;
		p += word;
	}
}

/* "Name: value", encoded and folded, ending in CRLF. */
void
mt_mime_header_text(MtBuf *out, const char *name, const char *value)
{
	int			col = (int) strlen(name) + 2;

	mt_buf_printf(out, "%s: ", name);
	if (header_is_plain(value))
		append_folded_plain(out, value, &col);
	else
		append_encoded_words(out, value, &col);
	mt_buf_puts(out, "\r\n");
}

/* True for an address character we accept: printable ASCII without space, <, >, quotes, comma. */
static bool
is_address_char(unsigned char c)
{
	return c > 0x20 && c < 0x7F && c != '<' && c != '>' && c != '"' && c != ',' &&
		c != '(' && c != ')' && c != '\\' && c != ';';
}

/* The addr-spec of "Name <addr>" or "addr" into buf; false when it is not a usable address. */
bool
mt_mime_extract_address(const char *mailbox, char *buf, size_t size)
{
	const char *start = strrchr(mailbox, '<');
	const char *end;
	size_t		n;
	int			ats = 0;

	/* no control characters anywhere: they could inject SMTP commands or headers */
	for (const char *c = mailbox; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7F)
			return false;
	if (start)
	{
		start++;
		end = strchr(start, '>');
		if (end == NULL)
			return false;
	}
	else
	{
		start = mailbox;
		while (*start == ' ' || *start == '\t')
			start++;
		end = start + strlen(start);
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
	}
	n = (size_t) (end - start);
	if (n == 0 || n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		if (!is_address_char((unsigned char) start[i]))
			return false;
		if (start[i] == '@')
			ats++;
	}
	if (ats != 1 || start[0] == '@' || start[n - 1] == '@')
		return false;
	memcpy(buf, start, n);
	buf[n] = '\0';
	return true;
}

/* True when a display name needs a quoted-string (it holds an RFC 5322 special). */
static bool
name_needs_quotes(const char *name)
{
	return strpbrk(name, "()<>[]:;@\\,.\"") != NULL;
}

/* The From:/To: header for "Name <addr>", the name encoded or quoted as needed. */
void
mt_mime_header_address(MtBuf *out, const char *name, const char *mailbox)
{
	char		address[512];
	const char *lt = strrchr(mailbox, '<');
	int			col = (int) strlen(name) + 2;

	if (!mt_mime_extract_address(mailbox, address, sizeof(address)))
		snprintf(address, sizeof(address), "invalid@invalid");
	mt_buf_printf(out, "%s: ", name);
	if (lt && lt > mailbox)
	{
		/* the display name: trimmed, surrounding quotes removed */
		const char *s = mailbox;
		const char *e = lt;
		char	   *display;

		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e - s >= 2 && *s == '"' && e[-1] == '"')
		{
			s++;
			e--;
		}
		display = mt_strndup(s, (size_t) (e - s));
		if (display[0] == '\0')
		{
			/* "<addr>" alone: no display name */
		}
		else if (!header_is_plain(display))
		{
			append_encoded_words(out, display, &col);
			mt_buf_puts(out, " ");
		}
		else if (name_needs_quotes(display))
		{
			mt_buf_puts(out, "\"");
			for (const char *c = display; *c; c++)
			{
				if (*c == '"' || *c == '\\')
					mt_buf_puts(out, "\\");
				mt_buf_append(out, c, 1);
			}
			mt_buf_puts(out, "\" ");
		}
		else
			mt_buf_printf(out, "%s ", display);
		mt_free(display);
		mt_buf_printf(out, "<%s>\r\n", address);
	}
	else
		mt_buf_printf(out, "%s\r\n", address);
}

/* An RFC 5322 date in UTC, independent of the locale. */
void
mt_mime_format_date(time_t when, char *buf, size_t size)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm	tm;

	gmtime_r(&when, &tm);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000",
			 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Case-insensitive search for an ASCII needle. */
static const char *
find_ascii_ci(const char *haystack, const char *needle)
{
	size_t		n = strlen(needle);

	for (const char *h = haystack; *h; h++)
		if (strncasecmp(h, needle, n) == 0)
			return h;
	return NULL;
}

/*
 * The HTML with the preheader as hidden leading text: a hidden div right after <body ...>, or at
 * the very start when there is no body tag.
 */
static char *
html_with_preheader(const char *html, const char *preheader)
{
	MtBuf		out;
	const char *body = find_ascii_ci(html, "<body");
	const char *insert_at = html;

	if (preheader == NULL || preheader[0] == '\0')
		return mt_strndup(html, strlen(html));
	if (body)
	{
		const char *gt = strchr(body, '>');

		if (gt)
			insert_at = gt + 1;
	}
	mt_buf_init(&out);
	mt_buf_append(&out, html, (size_t) (insert_at - html));
	mt_buf_puts(&out, "<div style=\"display:none;font-size:1px;color:transparent;line-height:1px;"
				"max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all;\">");
	mt_html_escape(&out, preheader);
	mt_buf_puts(&out, "</div>");
	mt_buf_puts(&out, insert_at);
	return out.data;
}

/* Decodes the handful of entities that plain text derived from HTML commonly needs. */
static const char *
decode_entity(const char *p, MtBuf *out)
{
	static const struct
	{
		const char *entity;
		const char *text;
	}			entities[] = {
		{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""},
		{"&#39;", "'"}, {"&nbsp;", " "}, {"&zwnj;", ""}
	};

	for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
	{
		size_t		n = strlen(entities[i].entity);

		if (strncmp(p, entities[i].entity, n) == 0)
		{
			mt_buf_puts(out, entities[i].text);
			return p + n;
		}
	}
	mt_buf_append(out, p, 1);
	return p + 1;
}

/* A plain-text rendering of HTML for the text part when none is given: tags dropped. */
static char *
text_from_html(const char *html)
{
	MtBuf		out;
	const char *p = html;

	mt_buf_init(&out);
	while (*p)
	{
		if (*p == '<')
		{
			bool		block = (strncasecmp(p, "<br", 3) == 0 || strncasecmp(p, "</p", 3) == 0 ||
								 strncasecmp(p, "</div", 5) == 0 || strncasecmp(p, "</h", 3) == 0 ||
								 strncasecmp(p, "</li", 4) == 0 || strncasecmp(p, "</tr", 4) == 0);
			const char *skip_to = NULL;
			const char *gt;

			if (strncasecmp(p, "<style", 6) == 0)
				skip_to = find_ascii_ci(p, "</style");
			else if (strncasecmp(p, "<script", 7) == 0)
				skip_to = find_ascii_ci(p, "</script");
			if (skip_to)
				p = skip_to;
			gt = strchr(p, '>');
			p = gt ? gt + 1 : p + strlen(p);
			if (block)
				mt_buf_puts(&out, "\n");
		}
		else if (*p == '&')
			p = decode_entity(p, &out);
		else
			mt_buf_append(&out, p++, 1);
	}
	return out.data;
}

/* A 64-bit FNV-1a hash, to derive the MIME boundary from the message id. */
static uint64_t
fnv1a(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s; s++)
	{
		h ^= (unsigned char) *s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Appends one body part's headers and quoted-printable content. */
static void
append_part(MtBuf *out, const char *content_type, const char *content)
{
	mt_buf_printf(out, "Content-Type: %s; charset=UTF-8\r\n", content_type);
	mt_buf_puts(out, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	mt_mime_qp_encode(out, content);
	mt_buf_puts(out, "\r\n");
}

/* The whole message: headers, then a single part or multipart/alternative (text, then HTML). */
char *
mt_mime_build(const MtMailMessage *msg, size_t *len)
{
	MtBuf		out;
	char		date[64];
	char		boundary[64];
	char	   *html = NULL;
	char	   *text = NULL;

	mt_buf_init(&out);
	mt_mime_format_date(msg->date, date, sizeof(date));
	mt_buf_printf(&out, "Date: %s\r\n", date);
	mt_mime_header_address(&out, "From", msg->from);
	mt_mime_header_address(&out, "To", msg->to);
	mt_mime_header_text(&out, "Subject", msg->subject ? msg->subject : "");
	mt_buf_printf(&out, "Message-ID: %s\r\n", msg->message_id);
	mt_buf_puts(&out, "MIME-Version: 1.0\r\n");
	if (msg->unsubscribe_https || msg->unsubscribe_mailto)
	{
		const char *first = msg->unsubscribe_https ? msg->unsubscribe_https : msg->unsubscribe_mailto;

		/* a URL cannot be folded: start it on its own line when it would not fit after the name */
		mt_buf_puts(&out, strlen("List-Unsubscribe: <>") + strlen(first) > MT_HEADER_LINE_MAX
					? "List-Unsubscribe:\r\n " : "List-Unsubscribe: ");
		if (msg->unsubscribe_https)
			mt_buf_printf(&out, "<%s>", msg->unsubscribe_https);
		if (msg->unsubscribe_https && msg->unsubscribe_mailto)
			mt_buf_puts(&out, ",\r\n ");
		if (msg->unsubscribe_mailto)
			mt_buf_printf(&out, "<%s>", msg->unsubscribe_mailto);
		mt_buf_puts(&out, "\r\n");
		if (msg->unsubscribe_https)
			mt_buf_puts(&out, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
	}

	if (msg->html_body && msg->html_body[0] != '\0')
	{
		html = html_with_preheader(msg->html_part ? msg->html_part : msg->html_body, msg->preheader);
		text = (msg->text_body && msg->text_body[0] != '\0')
			? mt_strndup(msg->text_body, strlen(msg->text_body))
			: text_from_html(msg->html_body);
	}
	else
		text = mt_strndup(msg->text_body ? msg->text_body : "",
						  msg->text_body ? strlen(msg->text_body) : 0);

	if (html == NULL)
		append_part(&out, "text/plain", text);
	else
	{
		/* "=_" never occurs in quoted-printable output, so the boundary cannot clash */
		snprintf(boundary, sizeof(boundary), "=_mt_%016llx",
				 (unsigned long long) fnv1a(msg->boundary_seed ? msg->boundary_seed : msg->message_id));
		mt_buf_printf(&out, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n", boundary);
		mt_buf_printf(&out, "--%s\r\n", boundary);
		append_part(&out, "text/plain", text);
		mt_buf_printf(&out, "--%s\r\n", boundary);
		append_part(&out, "text/html", html);
		mt_buf_printf(&out, "--%s--\r\n", boundary);
	}
	mt_free(html);
	mt_free(text);
	*len = out.len;
	return out.data;
}
