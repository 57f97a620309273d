// SPDX-License-Identifier: MIT
/*
 * fuzz_config.c - libFuzzer target: config_load() on arbitrary bytes.
 * A file either loads (and then describes valid pools) or is refused with
 * a non-empty reason; nothing else may happen.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64], err[CONFIG_ERR_MAX];
	struct config *cfg = NULL;

	if (fd < 0) {
		log_set_level(LOG_CRIT);
		fd = memfd_create("fuzz-config", MFD_CLOEXEC);
		if (fd < 0)
			abort();
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	if (config_load(path, true, &cfg, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < cfg->nr_pools; i++) {
			char why[CONFIG_ERR_MAX];
			if (config_pool_check(&cfg->pools[i], why, sizeof(why)) < 0)
				abort();   /* loaded a pool that does not check */
		}
		config_free(cfg);
	} else if (!err[0]) {
		abort();           /* refused without a reason */
	}
	return 0;
}
