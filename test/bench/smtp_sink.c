/*
 * smtp_sink.c: a fast SMTP sink for the delivery benchmark (test/bench/deliver_bench.sh). One
 * process, epoll, any number of connections; reads in 64 kB chunks, answers every command at once
 * (pipelined commands in order), stores nothing and counts the messages it accepted. Unlike
 * test/delivery/fast_sink.py (Python, line by line) it is not the bottleneck: measure its ceiling
 * with smtp_blast.c. On SIGTERM/SIGINT writes the count to OUTDIR/count; OUTDIR/ready once it listens.
 * Usage: smtp_sink PORT OUTDIR
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536

/* One client connection: its unparsed input and whether it is inside DATA. */
typedef struct Conn
{
	int			fd;
	int			in_data;
	size_t		len;
	char		buf[BUF_SIZE];
} Conn;

static volatile sig_atomic_t stopping = 0;
static long accepted = 0;

/* Asks the main loop to stop. */
static void
on_signal(int sig)
{
	(void) sig;
	stopping = 1;
}

/* Writes all of a reply (blocking briefly when the socket buffer is full). */
static void
reply(Conn *c, const char *text)
{
	size_t		n = strlen(text);

	while (n > 0)
	{
		ssize_t		w = write(c->fd, text, n);

		if (w < 0 && errno == EAGAIN)
			continue;
		if (w <= 0)
			return;
		text += w;
		n -= (size_t) w;
	}
}

/* Handles the complete lines in c->buf; returns 0 when the client said QUIT. */
static int
handle_input(Conn *c)
{
	size_t		pos = 0;
	int			alive = 1;

	while (pos < c->len)
	{
		char	   *start = c->buf + pos;
		char	   *nl = memchr(start, '\n', c->len - pos);
		size_t		linelen;

		if (nl == NULL)
			break;
		linelen = (size_t) (nl - start) + 1;
		if (c->in_data)
		{
			if (linelen == 3 && start[0] == '.' && start[1] == '\r')
			{
				c->in_data = 0;
				accepted++;
				reply(c, "250 2.0.0 OK\r\n");
			}
		}
		else if (strncasecmp(start, "EHLO", 4) == 0 || strncasecmp(start, "HELO", 4) == 0)
			reply(c, "250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
		else if (strncasecmp(start, "DATA", 4) == 0)
		{
			c->in_data = 1;
			reply(c, "354 go ahead\r\n");
		}
		else if (strncasecmp(start, "QUIT", 4) == 0)
		{
			reply(c, "221 bye\r\n");
			alive = 0;
		}
		else
			reply(c, "250 OK\r\n");
		pos += linelen;
	}
	memmove(c->buf, c->buf + pos, c->len - pos);
	c->len -= pos;
	if (c->len == BUF_SIZE)
		c->len = 0;				/* an absurd line: drop it */
	return alive;
}

/* Listens on 127.0.0.1:PORT and serves until a signal. */
int
main(int argc, char **argv)
{
	int			lfd, ep, one = 1;
	struct sockaddr_in addr;
	struct epoll_event ev, events[64];
	char		path[4096];
	FILE	   *f;

	if (argc != 3)
	{
		fprintf(stderr, "usage: smtp_sink PORT OUTDIR\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short) atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *) &addr, sizeof(addr)) != 0 || listen(lfd, 128) != 0)
	{
		perror("smtp_sink: bind/listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	snprintf(path, sizeof(path), "%s/ready", argv[2]);
	if ((f = fopen(path, "w")) != NULL)
	{
		fprintf(f, "%d\n", (int) getpid());
		fclose(f);
	}
	while (!stopping)
	{
		int			n = epoll_wait(ep, events, 64, 500);

		for (int i = 0; i < n; i++)
		{
			Conn	   *c = events[i].data.ptr;

			if (c == NULL)
			{
				int			fd = accept(lfd, NULL, NULL);

				if (fd < 0)
					continue;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				c = calloc(1, sizeof(Conn));
				c->fd = fd;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				reply(c, "220 sink ESMTP\r\n");
				continue;
			}
			{
				ssize_t		r = read(c->fd, c->buf + c->len, BUF_SIZE - c->len);

				if (r > 0)
					c->len += (size_t) r;
				if (r <= 0 || !handle_input(c))
				{
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					close(c->fd);
					free(c);
				}
			}
		}
	}
	snprintf(path, sizeof(path), "%s/count", argv[2]);
	if ((f = fopen(path, "w")) != NULL)
	{
		fprintf(f, "%ld\n", accepted);
		fclose(f);
	}
	return 0;
}
