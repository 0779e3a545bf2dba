/*
 * smtp.c: SMTP sessions over libcurl (no PostgreSQL here; see smtp.h). The protocol transcript
 * is watched through libcurl's debug callback, so each failure is tied to the command it answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "smtp.h"

/* Where in the SMTP dialogue the last reply belongs. */
typedef enum SmtpStage
{
	STAGE_CONNECT,				/* greeting, EHLO, STARTTLS, AUTH */
	STAGE_MAIL,
	STAGE_RCPT,
	STAGE_DATA,
	STAGE_END_OF_DATA
} SmtpStage;

struct MtSmtpSession
{
	CURL	   *curl;
	MtSmtpConfig config;
	char		curl_error[CURL_ERROR_SIZE];
	/* the message being uploaded */
	const char *data;
	size_t		len;
	size_t		offset;
	/* the transcript of the current message */
	SmtpStage	stage;
	int			last_code;
	char		last_reply[256];
	bool		any_reply;
	bool		quitting;		/* QUIT sent after a failure: its "221" must not hide the error */
};

static bool curl_ready = false;

/* Feeds the message to libcurl (which does the SMTP dot-stuffing). */
static size_t
read_message(char *buffer, size_t size, size_t nitems, void *userdata)
{
	MtSmtpSession *s = userdata;
	size_t		room = size * nitems;
	size_t		left = s->len - s->offset;
	size_t		n = left < room ? left : room;

	memcpy(buffer, s->data + s->offset, n);
	s->offset += n;
	return n;
}

/* Copies one protocol line without its line end, truncated to fit. */
static void
copy_line(char *dest, size_t size, const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(dest, line, len);
	dest[len] = '\0';
}

/* Follows the dialogue: commands sent set the stage, replies received set the last code. */
static int
watch_transcript(CURL *curl, curl_infotype type, char *text, size_t len, void *userdata)
{
	MtSmtpSession *s = userdata;

	if (type == CURLINFO_HEADER_OUT)
	{
		if (len >= 4 && (strncmp(text, "QUIT", 4) == 0 || strncmp(text, "RSET", 4) == 0))
			s->quitting = true;
		else if (len >= 4 && strncmp(text, "MAIL", 4) == 0)
			s->stage = STAGE_MAIL;
		else if (len >= 4 && strncmp(text, "RCPT", 4) == 0)
			s->stage = STAGE_RCPT;
		else if (len >= 4 && strncmp(text, "DATA", 4) == 0)
			s->stage = STAGE_DATA;
	}
	else if (type == CURLINFO_HEADER_IN && !s->quitting && len >= 3 &&
			 text[0] >= '1' && text[0] <= '5' && text[1] >= '0' && text[1] <= '9' &&
			 text[2] >= '0' && text[2] <= '9')
	{
		s->last_code = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
		s->any_reply = true;
		copy_line(s->last_reply, sizeof(s->last_reply), text, len);
		/* after "354 go ahead" the next reply answers the end of the data */
		if (s->stage == STAGE_DATA && s->last_code == 354)
			s->stage = STAGE_END_OF_DATA;
	}
	return 0;
}

/* Lets the caller abort a transfer that is waiting (e.g. on a query cancel). */
static int
check_interrupt(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	MtSmtpSession *s = userdata;

	return (s->config.interrupted && s->config.interrupted()) ? 1 : 0;
}

/* A new easy handle with every option that does not change per message; NULL when out of memory. */
static CURL *
new_handle(MtSmtpSession *s)
{
	const MtSmtpConfig *config = &s->config;
	CURL	   *curl = curl_easy_init();

	if (curl == NULL)
		return NULL;
	curl_easy_setopt(curl, CURLOPT_URL, config->url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);	/* never touch the backend's signals */
	curl_easy_setopt(curl, CURLOPT_USE_SSL, (long) CURLUSESSL_TRY);	/* STARTTLS when offered */
	if (config->ca_file != NULL && config->ca_file[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_CAINFO, config->ca_file);	/* a private CA */
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
	curl_easy_setopt(curl, CURLOPT_READDATA, s);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, s->curl_error);
	curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);	/* feeds watch_transcript, prints nothing */
	curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, watch_transcript);
	curl_easy_setopt(curl, CURLOPT_DEBUGDATA, s);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, check_interrupt);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, s);
	if (config->timeout_ms > 0)
	{
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, config->timeout_ms);
		/* bounds each reply too, and the wait for the reply to QUIT when the handle is closed */
		curl_easy_setopt(curl, CURLOPT_SERVER_RESPONSE_TIMEOUT, (config->timeout_ms + 999) / 1000);
	}
	if (config->connect_timeout_ms > 0)
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, config->connect_timeout_ms);
	if (config->username && config->username[0] != '\0')
	{
		curl_easy_setopt(curl, CURLOPT_USERNAME, config->username);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, config->password ? config->password : "");
	}
	return curl;
}

/*
 * Closes the connection without waiting for the server: after a timeout or a broken dialogue the
 * server may still be busy with the last command, and its late reply must never reach the next
 * message. Shutting the socket down first makes libcurl's QUIT fail at once instead of waiting.
 */
static void
drop_connection(MtSmtpSession *s)
{
	curl_socket_t sock = CURL_SOCKET_BAD;

	if (s->curl == NULL)
		return;
	if (curl_easy_getinfo(s->curl, CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK && sock != CURL_SOCKET_BAD)
		shutdown(sock, SHUT_RDWR);
	curl_easy_cleanup(s->curl);
	s->curl = NULL;
}

/* A new session with every option that does not change per message. */
MtSmtpSession *
mt_smtp_open(const MtSmtpConfig *config, char *errbuf, size_t errsize)
{
	MtSmtpSession *s;
	CURLcode	rc;

	if (!curl_ready)
	{
		rc = curl_global_init(CURL_GLOBAL_DEFAULT);
		if (rc != CURLE_OK)
		{
			snprintf(errbuf, errsize, "%s", curl_easy_strerror(rc));
			return NULL;
		}
		curl_ready = true;
	}
	s = calloc(1, sizeof(MtSmtpSession));
	if (s == NULL)
	{
		snprintf(errbuf, errsize, "out of memory");
		return NULL;
	}
	s->config = *config;
	s->curl = new_handle(s);
	if (s->curl == NULL)
	{
		free(s);
		snprintf(errbuf, errsize, "curl_easy_init failed");
		return NULL;
	}
	return s;
}

/* Names the stage for error details. */
static const char *
stage_name(SmtpStage stage)
{
	switch (stage)
	{
		case STAGE_MAIL:
			return "MAIL FROM";
		case STAGE_RCPT:
			return "RCPT TO";
		case STAGE_DATA:
			return "DATA";
		case STAGE_END_OF_DATA:
			return "end of data";
		default:
			return "connection";
	}
}

/* Fills *result: outcome and a detail of at most one line. */
static void
set_result(MtSmtpResult *result, MtSmtpOutcome outcome, const char *detail, const char *detail2)
{
	result->outcome = outcome;
	if (detail2 != NULL)
		snprintf(result->detail, sizeof(result->detail), "%s: %s", detail, detail2);
	else
		snprintf(result->detail, sizeof(result->detail), "%s", detail);
}

/* Sends one message and classifies the outcome by the reply to the command that failed. */
void
mt_smtp_send(MtSmtpSession *s, const char *from_address, const char *to_address,
			 const char *data, size_t len, MtSmtpResult *result)
{
	char		mail_from[600];
	char		rcpt[600];
	struct curl_slist *recipients;
	const char *curl_reason;
	CURLcode	rc;

	result->reply_code = 0;
	if (s->curl == NULL && (s->curl = new_handle(s)) == NULL)
	{
		set_result(result, MT_SMTP_UNREACHABLE, "connection: curl_easy_init failed", NULL);
		return;
	}
	snprintf(mail_from, sizeof(mail_from), "<%s>", from_address);
	snprintf(rcpt, sizeof(rcpt), "<%s>", to_address);
	recipients = curl_slist_append(NULL, rcpt);
	s->data = data;
	s->len = len;
	s->offset = 0;
	s->stage = STAGE_CONNECT;
	s->last_code = 0;
	s->last_reply[0] = '\0';
	s->any_reply = false;
	s->quitting = false;
	s->curl_error[0] = '\0';
	curl_easy_setopt(s->curl, CURLOPT_MAIL_FROM, mail_from);
	curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, recipients);
	curl_easy_setopt(s->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) len);

	rc = curl_easy_perform(s->curl);

	curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, NULL);
	curl_slist_free_all(recipients);
	result->reply_code = s->last_code;

	if (rc == CURLE_OK)
	{
		set_result(result, MT_SMTP_SENT, s->last_reply, NULL);
		return;
	}

	/* any failure: this connection is not used again (its dialogue may be out of step) */
	drop_connection(s);
	curl_reason = s->curl_error[0] ? s->curl_error : curl_easy_strerror(rc);

	if (rc == CURLE_ABORTED_BY_CALLBACK)
	{
		/* interrupted: after the whole message was sent, the server may have it */
		if (s->stage == STAGE_END_OF_DATA && s->last_code == 354 && s->offset == s->len)
			set_result(result, MT_SMTP_UNKNOWN, "end of data: interrupted", NULL);
		else
			set_result(result, MT_SMTP_RETRY, stage_name(s->stage), "interrupted");
		return;
	}
	/*
	 * No session: no connection, no greeting, "421 busy", EHLO, STARTTLS, TLS or AUTH failed, or
	 * a reused connection that died before answering our MAIL FROM. Nothing of this message was
	 * sent; the server or our settings are at fault.
	 */
	if (s->stage == STAGE_CONNECT || (s->stage == STAGE_MAIL && !s->any_reply))
	{
		if (s->last_code >= 400)
			set_result(result, MT_SMTP_UNREACHABLE, "connection", s->last_reply);
		else
			set_result(result, MT_SMTP_UNREACHABLE, "connection", curl_reason);
		return;
	}
	if (s->last_code >= 500 && s->last_code <= 599 &&
		(s->stage == STAGE_RCPT || s->stage == STAGE_DATA || s->stage == STAGE_END_OF_DATA))
	{
		set_result(result, s->stage == STAGE_RCPT ? MT_SMTP_REJECTED_RECIPIENT : MT_SMTP_REJECTED_MESSAGE,
				   stage_name(s->stage), s->last_reply);
		return;
	}
	/* the whole message went out after "354", and no reply came: delivered or not, nobody knows */
	if (s->stage == STAGE_END_OF_DATA && s->last_code == 354 && s->offset == s->len)
	{
		set_result(result, MT_SMTP_UNKNOWN, "end of data", curl_reason);
		return;
	}
	/* 4xx, a 5xx to our own MAIL FROM, or a connection broken before the end of the data */
	if (s->last_code >= 400)
		set_result(result, MT_SMTP_RETRY, stage_name(s->stage), s->last_reply);
	else
		set_result(result, MT_SMTP_RETRY, stage_name(s->stage), curl_reason);
}

/* Ends the session; libcurl sends QUIT on the cached connection (bounded by the reply timeout). */
void
mt_smtp_close(MtSmtpSession *s)
{
	if (s == NULL)
		return;
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	free(s);
}
