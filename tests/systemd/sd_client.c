// SPDX-License-Identifier: MIT
/*
 * sd_client.c - a long-lived client for the systemd tests (test_systemd.sh).
 *
 *   sd_client DIR
 *
 * Attaches to pool "sdtest" (creating it if missing), holds 32 elements
 * with known contents, then allocates and frees with NOWAIT every few ms,
 * counting successes in DIR/count.  On SIGUSR1 it checks the held contents
 * and asks for a synchronous refill (which has to reconnect if the daemon
 * restarted), writing the result to DIR/check.  SIGTERM ends it.
 */
#include <errno.h>
#include <pcpupool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HELD 32

static volatile sig_atomic_t want_check, want_exit;

static void on_usr1(int s) { (void)s; want_check = 1; }
static void on_term(int s) { (void)s; want_exit = 1; }

static void put(const char *dir, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void put(const char *dir, const char *file, const char *fmt, ...)
{
	char path[512], tmp[520];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	rename(tmp, path);
}

int main(int argc, char **argv)
{
	uint64_t *held[HELD];
	unsigned long ok = 0, miss = 0, loops = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: sd_client DIR\n");
		return 2;
	}
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	struct pcpupool_client *c = pcpupool_connect(NULL);
	if (!c) {
		put(argv[1], "error", "connect: %s\n", strerror(errno));
		return 1;
	}
	struct pcpupool *pool = pcpupool_open(c, "sdtest");
	if (!pool && errno == ENOENT)
		pool = pcpupool_create(c, "sdtest", 16, 64, 64);
	if (!pool) {
		put(argv[1], "error", "open: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < HELD; i++) {
		held[i] = pcpupool_alloc(pool, PCPUPOOL_WAIT);
		if (!held[i]) {
			put(argv[1], "error", "alloc: %s\n", strerror(errno));
			return 1;
		}
		for (int w = 0; w < 8; w++)
			held[i][w] = 0x5ca1ab1e00000000ull + (uint64_t)i * 8 + (uint64_t)w;
	}
	put(argv[1], "ready", "%d\n", (int)getpid());
	while (!want_exit) {
		void *p = pcpupool_alloc(pool, PCPUPOOL_NOWAIT);
		if (p) {
			*(volatile char *)p = 1;
			pcpupool_free(p, pool);
			ok++;
		} else {
			miss++;
		}
		if (++loops % 100 == 0)
			put(argv[1], "count", "%lu %lu\n", ok, miss);
		if (want_check) {
			int bad = 0;
			want_check = 0;
			for (int i = 0; i < HELD; i++)
				for (int w = 0; w < 8; w++)
					bad += held[i][w] != 0x5ca1ab1e00000000ull +
						(uint64_t)i * 8 + (uint64_t)w;
			int r = pcpupool_refill(pool, PCPUPOOL_WAIT);
			put(argv[1], "check", "contents=%s refill=%d level=%d\n",
			    bad ? "corrupt" : "intact", r, pcpupool_nr_elems(pool));
		}
		usleep(2000);
	}
	for (int i = 0; i < HELD; i++)
		pcpupool_free(held[i], pool);
	pcpupool_close(pool);
	pcpupool_disconnect(c);
	return 0;
}
