/* SPDX-License-Identifier: MIT */
/*
 * config.h - pcpupoold.json: daemon settings and the pools to create.
 */
#ifndef PCPUPOOLD_CONFIG_H
#define PCPUPOOLD_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#define CONFIG_DEFAULT_PATH     "/etc/pcpupool/pcpupoold.json"
#define CONFIG_MAX_BYTES        (1u << 20)
#define CONFIG_DEFAULT_SWEEP_MS 50u
#define CONFIG_MIN_SWEEP_MS     1u
#define CONFIG_MAX_SWEEP_MS     60000u
#define CONFIG_DEFAULT_POLL_US  1000u     /* refill_poll_us */
#define CONFIG_MIN_POLL_US      50u       /* shorter: the timer would never rest */
#define CONFIG_MAX_POLL_US      1000000u
#define CONFIG_DEFAULT_LINGER_MS 100u     /* refill_poll_linger_ms */
#define CONFIG_MAX_LINGER_MS    60000u
/* request_timeout_ms: how long a request line may stay incomplete (its
 * first bytes came, its newline has not) before the connection is closed.
 * A client writes a line in one go, so seconds are generous; a peer that
 * stops mid-line would otherwise hold its connection (and its slot of
 * max_clients) for ever. */
#define CONFIG_DEFAULT_REQUEST_TIMEOUT_MS 10000u
#define CONFIG_MIN_REQUEST_TIMEOUT_MS     100u
#define CONFIG_MAX_REQUEST_TIMEOUT_MS     3600000u
#define CONFIG_ERR_MAX          512

/* One pool's parameters: from the config file or a create request. */
struct pool_config {
	char name[PCP_NAME_MAX + 1];
	uint64_t elem_size;
	uint64_t align;
	uint32_t min_nr;
	uint32_t low_watermark;   /* 0: min_nr / 4, at least 1 */
	uint64_t max_elems;       /* 0: derived from min_nr and the CPUs */
	bool hugepages;           /* the file on 2 MiB hugepages (hugetlbfs) */
	/* who may attach: like a file, read+write for the matching class */
	bool has_owner, has_group, has_mode;
	uint32_t owner;           /* uid */
	uint32_t group;           /* gid */
	uint32_t mode;            /* 0..0777 */
};

#define POOL_DEFAULT_MODE 0660u

struct config {
	char *socket_path;        /* NULL: PCP_DEFAULT_SOCKET */
	int log_level;            /* syslog priority */
	uint32_t sweep_ms;
	uint32_t poll_us;         /* 0: never poll, every crossing sends */
	uint32_t poll_linger_ms;  /* poll this long after the last request */
	uint32_t max_clients;
	uint32_t request_timeout_ms; /* a partial request line lives this long;
				      * 0 (a context not read from a file):
				      * CONFIG_DEFAULT_REQUEST_TIMEOUT_MS */
	bool has_admin_group, has_socket_group;
	uint32_t admin_group;     /* gid whose members may create/resize/destroy */
	uint32_t socket_group;    /* gid of the control socket the daemon binds */
	struct pool_config *pools;
	size_t nr_pools;
};

int config_load(const char *path, bool must_exist, struct config **ret_cfg,
		char *err, size_t errlen);
void config_free(struct config *cfg);
int config_pool_from_json(json_t *obj, struct pool_config *ret_pc, char *err, size_t errlen);
int config_pool_check(const struct pool_config *pc, char *err, size_t errlen);
int config_user(json_t *v, uint32_t *ret_uid, char *err, size_t errlen);
int config_group(json_t *v, uint32_t *ret_gid, char *err, size_t errlen);
int config_mode(json_t *v, uint32_t *ret_mode, char *err, size_t errlen);

#endif
