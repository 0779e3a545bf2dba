/*
 * unit_check.h: the tiny harness the PostgreSQL-free unit tests share — count checks, print
 * failures, and end with "name: N passed, M failed". Included once per test program.
 */
#ifndef MT_UNIT_CHECK_H
#define MT_UNIT_CHECK_H

#include <stdio.h>

static int	passed;
static int	failed;

/* Records one check; prints the failures. */
static void
check(int ok, const char *what, const char *detail)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("FAIL: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	}
}

#endif
