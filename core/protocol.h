/* SPDX-License-Identifier: MIT */
/*
 * protocol.h - the wire format between libpcpupool and pcpupoold.
 *
 * Bump PCP_PROTO_VERSION whenever anything here changes meaning.
 *
 * Control socket (Unix stream): newline-delimited JSON, one request per
 * line, one reply line per request, in order.  Every request is an object
 * with "cmd" and the command's fields; every reply is
 *   {"ok":true, ...}  or  {"ok":false,"error":{"code":"ENOENT","message":"..."}}
 * The "attach" reply carries two file descriptors (SCM_RIGHTS) on its first
 * byte: the pool's memfd and the client's end of its refill channel.
 *
 * Refill channel (Unix datagram socketpair, one per attachment): fixed-size
 * struct pcp_refill_msg, sent with MSG_DONTWAIT|MSG_NOSIGNAL from any
 * context, including signal handlers.
 */
#ifndef PCPUPOOL_PROTOCOL_H
#define PCPUPOOL_PROTOCOL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define PCP_PROTO_VERSION      1

#define PCP_DEFAULT_SOCKET     "/run/pcpupool/control.sock"
#define PCP_SOCKET_ENV         "PCPUPOOL_SOCKET"

/* limits, enforced by the daemon (and the client where it builds requests) */
#define PCP_MAX_LINE           4096     /* bytes in one request line */
#define PCP_MAX_REPLY          (64u << 20) /* bytes in one reply line: the
					 * stats of every pool of a large
					 * machine (about 0.4 kB a CPU a pool) */
#define PCP_MAX_BACKLOG        (1u << 20) /* bytes of replies a peer may
					 * leave unread before the next */
#define PCP_NAME_MAX           63       /* pool name: pcp_name_valid() */
#define PCP_MAX_POOLS          256
#define PCP_MAX_CLIENTS        1024     /* control connections */
#define PCP_MAX_CLIENTS_PER_UID 256
#define PCP_MAX_ATTACH_PER_CLIENT 64
#define PCP_MAX_ELEM_SIZE      (1u << 20)
#define PCP_MAX_POOL_BYTES     (UINT64_C(1) << 32) /* 4 GiB of elements per pool:
						   * slots hold 32-bit offsets */
#define PCP_MAX_MIN_NR         (1u << 20)
#define PCP_MAX_ELEMS          (1u << 24) /* elements per pool */

/* commands */
#define PCP_CMD_HELLO    "hello"
#define PCP_CMD_PING     "ping"
#define PCP_CMD_POOLS    "pools"
#define PCP_CMD_ATTACH   "attach"
#define PCP_CMD_DETACH   "detach"
#define PCP_CMD_REFILL   "refill"
#define PCP_CMD_STATS    "stats"
#define PCP_CMD_CREATE   "create"
#define PCP_CMD_RESIZE   "resize"
#define PCP_CMD_DESTROY  "destroy"

/* fields */
#define PCP_F_CMD        "cmd"
#define PCP_F_OK         "ok"
#define PCP_F_ERROR      "error"
#define PCP_F_CODE       "code"
#define PCP_F_MESSAGE    "message"
#define PCP_F_VERSION    "version"
#define PCP_F_POOL       "pool"
#define PCP_F_POOLS      "pools"
#define PCP_F_NAME       "name"
#define PCP_F_ELEM_SIZE  "elem_size"
#define PCP_F_ALIGN      "align"
#define PCP_F_MIN_NR     "min_nr"
#define PCP_F_MAX_ELEMS  "max_elems"
#define PCP_F_LOW_WM     "low_watermark"
#define PCP_F_CPU        "cpu"
#define PCP_F_MAP_SIZE   "map_size"
#define PCP_F_CLIENT_ID  "client_id"
#define PCP_F_TIMEOUT_MS "timeout_ms"
#define PCP_F_OWNER      "owner"
#define PCP_F_GROUP      "group"
#define PCP_F_MODE       "mode"
#define PCP_F_HUGEPAGES  "hugepages"      /* create: true for a pool on hugepages */
#define PCP_F_HUGE_PAGE_SIZE "huge_page_size" /* attach: 0, or the hugepage size */

/* error codes: the "code" of an error reply is the errno's name */
static const struct pcp_errname {
	int err;
	const char *name;
} pcp_errnames[] __attribute__((unused)) = {
	{ EINVAL, "EINVAL" }, { ENOENT, "ENOENT" }, { EEXIST, "EEXIST" },
	{ EBUSY, "EBUSY" }, { ENOMEM, "ENOMEM" }, { EPROTO, "EPROTO" },
	{ E2BIG, "E2BIG" }, { EPERM, "EPERM" }, { EACCES, "EACCES" },
	{ EMFILE, "EMFILE" }, { ENOSPC, "ENOSPC" }, { ETIMEDOUT, "ETIMEDOUT" },
	{ EAGAIN, "EAGAIN" }, { EUCLEAN, "EUCLEAN" }, { ERANGE, "ERANGE" },
	{ EOVERFLOW, "EOVERFLOW" }, { ENOSYS, "ENOSYS" }, { EUSERS, "EUSERS" },
	{ ESTALE, "ESTALE" }, { EIO, "EIO" },
};
#define PCP_NR_ERRNAMES (sizeof(pcp_errnames) / sizeof(pcp_errnames[0]))

/* refill channel message */
#define PCP_REFILL_MAGIC 0x50435246u /* "PCRF" */
enum pcp_refill_type { PCP_REFILL_REQUEST = 1 };

struct pcp_refill_msg {
	uint32_t magic;
	uint16_t version;      /* PCP_PROTO_VERSION */
	uint16_t type;         /* enum pcp_refill_type */
	uint32_t cpu;          /* slab that crossed its low watermark */
	uint32_t reserved;     /* 0 */
};
_Static_assert(sizeof(struct pcp_refill_msg) == 16, "refill message is 16 bytes");

bool pcp_name_valid(const char *name);

#endif /* PCPUPOOL_PROTOCOL_H */
