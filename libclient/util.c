// SPDX-License-Identifier: MIT
/*
 * util.c - the small helpers the library's files share: the monotonic clock
 * in milliseconds, deadlines, back-off sleeps, closing received descriptors.
 */
#include "internal.h"

/* Sleep *backoff_us (at most @left_ms), then double it up to @max_us. */
void util_backoff_sleep(unsigned int *backoff_us, unsigned int max_us, int left_ms)
{
	unsigned int us = *backoff_us;
	struct timespec ts;

	if ((uint64_t)us > (uint64_t)left_ms * 1000)
		us = (unsigned int)left_ms * 1000;
	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	nanosleep(&ts, NULL);
	*backoff_us = *backoff_us * 2 > max_us ? max_us : *backoff_us * 2;
}

/* CLOCK_MONOTONIC in milliseconds: the clock of every deadline. */
int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until @deadline, for poll(): 0 when it has passed. */
int util_ms_left(int64_t deadline)
{
	int64_t left = deadline - util_now_ms();

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Close the descriptors of @fds[0..@n) that are open (>= 0). */
void util_close_fds(int *fds, size_t n)
{
	for (size_t i = 0; fds && i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}
