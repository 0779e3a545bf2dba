/*
 * smtp_blast.c: the ceiling of an SMTP sink, for test/bench/deliver_bench.sh. Sends N messages of
 * SIZE bytes over CONNS connections (one process each), with the dialogue libcurl uses (EHLO once,
 * then per message MAIL FROM, RCPT TO, DATA, the data: each command waits for its reply, nothing
 * pipelined), and prints "N messages in S s = R msg/s". Nothing else is done per message, so the
 * figure is what the sink (and the loopback) can take in the dialogue microtrigger speaks.
 * Usage: smtp_blast PORT N CONNS SIZE
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Reads until a final reply line ("NNN " at a line start) arrives; returns its code, -1 on EOF. */
static int
read_reply(int fd)
{
	char		buf[4096];
	size_t		len = 0;

	for (;;)
	{
		ssize_t		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		char	   *last;

		if (r <= 0)
			return -1;
		len += (size_t) r;
		buf[len] = '\0';
		if (len < 2 || buf[len - 1] != '\n')
			continue;
		/* the start of the last complete line decides: "250 " is final, "250-" is not */
		last = buf + len - 1;
		while (last > buf && last[-1] != '\n')
			last--;
		if (strlen(last) >= 4 && last[3] == ' ')
			return atoi(last);
		if (len >= sizeof(buf) - 1)
			len = 0;
	}
}

/* Writes all of buf. */
static int
write_all(int fd, const char *buf, size_t n)
{
	while (n > 0)
	{
		ssize_t		w = write(fd, buf, n);

		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t) w;
	}
	return 0;
}

/* One connection sending count messages; returns how many were accepted. */
static int
blast(int port, int count, const char *data, size_t size)
{
	struct sockaddr_in addr;
	int			fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, ok = 0;
	char		cmd[256];

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short) port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
		return 0;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	read_reply(fd);
	write_all(fd, "EHLO blast\r\n", 12);
	read_reply(fd);
	for (int i = 0; i < count; i++)
	{
		write_all(fd, "MAIL FROM:<bench@example.com>\r\n", 31);
		read_reply(fd);
		snprintf(cmd, sizeof(cmd), "RCPT TO:<user%d@example.com>\r\n", i);
		write_all(fd, cmd, strlen(cmd));
		read_reply(fd);
		write_all(fd, "DATA\r\n", 6);
		read_reply(fd);
		write_all(fd, data, size);
		if (read_reply(fd) == 250)
			ok++;
	}
	write_all(fd, "QUIT\r\n", 6);
	read_reply(fd);
	close(fd);
	return ok;
}

/* Forks CONNS senders, waits for them and prints the rate. */
int
main(int argc, char **argv)
{
	int			port, n, conns;
	size_t		size;
	char	   *data;
	struct timespec t0, t1;
	double		secs;

	if (argc != 5)
	{
		fprintf(stderr, "usage: smtp_blast PORT N CONNS SIZE\n");
		return 2;
	}
	port = atoi(argv[1]);
	n = atoi(argv[2]);
	conns = atoi(argv[3]);
	size = (size_t) atol(argv[4]);
	if (size < 64)
		size = 64;
	/* a message of size bytes in 76-character lines, ending with the terminator */
	data = malloc(size + 8);
	for (size_t i = 0; i < size; i++)
		data[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : 'x';
	memcpy(data + size - 5, "\r\n.\r\n", 5);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int c = 0; c < conns; c++)
	{
		if (fork() == 0)
		{
			int			mine = n / conns + (c < n % conns ? 1 : 0);

			_exit(blast(port, mine, data, size) == mine ? 0 : 1);
		}
	}
	{
		int			status, failed = 0;

		while (wait(&status) > 0)
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
		printf("%d messages in %.3f s = %.0f msg/s%s\n", n, secs, n / secs,
			   failed ? " (some connections failed)" : "");
		return failed ? 1 : 0;
	}
}
