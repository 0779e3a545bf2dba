/*
 * smtp.h: one SMTP session over libcurl (no PostgreSQL here). A session keeps one CURL easy handle,
 * so libcurl keeps the connection open and reuses it for every message of a batch, as long as
 * messages succeed: after any failure (a timeout, a dropped connection, an error reply) the
 * connection is closed, so a late reply to one message can never be read as the reply to the next.
 *
 * Each message goes to one recipient; the reply to the command that failed decides the outcome:
 * no session (connection, greeting, TLS, AUTH) stops the whole run; a 5xx to RCPT TO rejects the
 * recipient, a 5xx to DATA or to the end of the data rejects the message; a timeout or a dropped
 * connection after the whole message was sent leaves its outcome unknown; 4xx replies and other
 * broken transfers are worth another try.
 */
#ifndef MT_SMTP_H
#define MT_SMTP_H

#include <stdbool.h>
#include <stddef.h>

typedef enum MtSmtpOutcome
{
	MT_SMTP_SENT,				/* the server answered 2xx to the end of the data */
	MT_SMTP_RETRY,				/* 4xx, or the connection broke or timed out before the end of
								 * the data: not delivered, try again later */
	MT_SMTP_UNREACHABLE,		/* no session: no connection, no or a 4xx/5xx greeting, EHLO,
								 * STARTTLS, TLS or AUTH failed; not this message's fault, so
								 * the whole run waits */
	MT_SMTP_UNKNOWN,			/* the whole message was sent, then no reply to the end of the
								 * data (timeout, dropped connection): it may have been delivered */
	MT_SMTP_REJECTED_RECIPIENT, /* 5xx to RCPT TO: the address is bad */
	MT_SMTP_REJECTED_MESSAGE	/* 5xx to DATA or to the end of the data: this message is refused */
} MtSmtpOutcome;

typedef struct MtSmtpResult
{
	MtSmtpOutcome outcome;
	int			reply_code;		/* the last SMTP reply code, 0 when none came */
	char		detail[512];	/* e.g. "RCPT TO: 550 5.1.1 no such user" or a libcurl error */
} MtSmtpResult;

typedef struct MtSmtpConfig
{
	const char *url;			/* smtp://host:port[/ehlo-domain] or smtps://... */
	const char *username;		/* AUTH credentials; NULL or "" for none */
	const char *password;
	const char *ca_file;		/* PEM file of CAs to verify the server with; NULL or "": the system's */
	long		timeout_ms;		/* the longest one message may take, connection included */
	long		connect_timeout_ms;
	bool		(*interrupted) (void);	/* polled while waiting; true aborts the transfer */
} MtSmtpConfig;

typedef struct MtSmtpSession MtSmtpSession;

/* A new session, or NULL with the reason in errbuf when libcurl cannot be set up. */
extern MtSmtpSession *mt_smtp_open(const MtSmtpConfig *config, char *errbuf, size_t errsize);

/*
 * Sends one message (CRLF lines) from one address to one address; fills *result. Reuses the
 * session's connection when the previous message succeeded, else opens a new one.
 */
extern void mt_smtp_send(MtSmtpSession *session, const char *from_address, const char *to_address,
						 const char *data, size_t len, MtSmtpResult *result);

/* Closes the connection (QUIT, waiting at most timeout_ms for its reply) and frees the session. */
extern void mt_smtp_close(MtSmtpSession *session);

#endif
