// SPDX-License-Identifier: MIT
/*
 * cmd.c - the control protocol's commands: one table, one dispatch
 * (cmd_dispatch(), for each request line a connection reads), a handler
 * per command.  A handler returns its reply, or NULL when it sent it
 * itself (an attach, whose reply carries descriptors).
 *
 * Peer credentials are read at accept.  Administration (create, resize,
 * destroy) needs root, the daemon's own uid or the admin group; what
 * concerns one pool (attach, refill, its stats) needs the right to attach
 * it (pool_may_attach()), or administration.  The "pools" summary, which
 * names no process, is for everyone.
 *
 * Whatever the daemon replies about a pool comes from its own records
 * (struct pool's cfg and view), never from the pool's shared header,
 * which any attached client may rewrite: pool_verify() compares the two
 * before an attach, a refill and a pool's stats.
 */
#include "cmd.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attach.h"
#include "conn.h"
#include "log.h"
#include "place.h"
#include "pool.h"
#include "protocol.h"
#include "reclaim.h"
#include "refill.h"
#include "stats.h"
#include "watch.h"

/* ---- who may do what ---- */

static bool is_admin(const struct conn *c)
{
	const struct config *cfg = c->d->cfg;

	if (c->cred.uid == 0 || c->cred.uid == geteuid())
		return true;
	for (unsigned i = 0; cfg->has_admin_group && i < c->nr_gids; i++)
		if (c->gids[i] == cfg->admin_group)
			return true;
	return false;
}

/* Whether @c may see or act on @p: the right to attach it, or
 * administration (which may destroy it anyway). */
static bool may_use(const struct conn *c, const struct pool *p)
{
	return pool_may_attach(p, c->cred.uid, c->gids, c->nr_gids) || is_admin(c);
}

/* The EACCES reply (and notice) for @c, which may not @what pool @p. */
static json_t *refuse_pool(struct conn *c, const struct pool *p, const char *what)
{
	log_notice("client pid %d uid %u: %s pool %s refused (mode %04o)",
		   (int)c->cred.pid, (unsigned)c->cred.uid, what, p->cfg.name, p->st->mode);
	return conn_error(c, EACCES, "uid %u may not %s pool \"%s\" (owner %u, "
			  "group %u, mode %04o)", (unsigned)c->cred.uid, what, p->cfg.name,
			  p->st->uid, p->st->gid, p->st->mode);
}

struct command {
	const char *name;
	json_t *(*fn)(struct conn *c, json_t *req);
	bool needs_admin;
};

static json_t *cmd_hello(struct conn *c, json_t *req)
{
	json_int_t version = PCP_PROTO_VERSION;
	const char *cmd;
	json_error_t je;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s?I}", PCP_F_CMD, &cmd,
			   PCP_F_VERSION, &version) < 0)
		return conn_error(c, EINVAL, "hello: %s", je.text);
	if (version != PCP_PROTO_VERSION)
		return conn_error(c, EPROTO, "protocol version %lld not supported; this "
				  "daemon speaks %d", (long long)version, PCP_PROTO_VERSION);
	return json_pack("{s:b, s:i, s:s}", PCP_F_OK, 1, PCP_F_VERSION, PCP_PROTO_VERSION,
			 "server", "pcpupoold " PCPUPOOLD_VERSION);
}

static json_t *cmd_ping(struct conn *c, json_t *req)
{
	const char *cmd;
	json_error_t je;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s}", PCP_F_CMD, &cmd) < 0)
		return conn_error(c, EINVAL, "ping: %s", je.text);
	return conn_ok();
}

static json_t *cmd_pools(struct conn *c, json_t *req)
{
	const char *cmd;
	json_error_t je;
	json_t *arr;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s}", PCP_F_CMD, &cmd) < 0)
		return conn_error(c, EINVAL, "pools: %s", je.text);
	arr = json_array();
	for (struct pool *p = c->d->pools; p && arr; p = p->next)
		json_array_append_new(arr, stats_pool_summary_json(p));
	return json_pack("{s:b, s:o}", PCP_F_OK, 1, PCP_F_POOLS, arr);
}

/* Unpack {"cmd":..,"pool":NAME} and find the pool. */
static struct pool *req_pool(struct conn *c, json_t *req, json_t **ret_err)
{
	const char *cmd, *name;
	json_error_t je;
	struct pool *p;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s:s}", PCP_F_CMD, &cmd,
			   PCP_F_POOL, &name) < 0) {
		*ret_err = conn_error(c, EINVAL, "%s", je.text);
		return NULL;
	}
	p = pool_find(c->d, name);
	if (!p)
		*ret_err = conn_error(c, ENOENT, "no pool named \"%.*s\"", PCP_NAME_MAX, name);
	return p;
}

/* The reply to a request about a quarantined pool (pool_verify() < 0: it
 * was, or its header has just been found rewritten). */
static json_t *quarantined_error(struct conn *c, const struct pool *p)
{
	return conn_error(c, EUCLEAN, "pool \"%s\" is quarantined (corrupt)", p->cfg.name);
}

static json_t *cmd_attach(struct conn *c, json_t *req)
{
	json_t *err = NULL, *reply;
	struct pool *p = req_pool(c, req, &err);
	struct attach *a;
	int sv[2];

	if (!p)
		return err;
	/* a header a client rewrote quarantines the pool here, before
	 * another process maps it */
	if (pool_verify(p) < 0)
		return quarantined_error(c, p);
	if (!pool_may_attach(p, c->cred.uid, c->gids, c->nr_gids)) {
		log_notice("client pid %d uid %u: attach to pool %s refused (mode %04o)",
			   (int)c->cred.pid, (unsigned)c->cred.uid, p->cfg.name, p->st->mode);
		return conn_error(c, EACCES, "uid %u may not attach pool \"%s\" (owner %u, "
				  "group %u, mode %04o)", (unsigned)c->cred.uid, p->cfg.name,
				  p->st->uid, p->st->gid, p->st->mode);
	}
	if (c->nr_attached >= PCP_MAX_ATTACH_PER_CLIENT)
		return conn_error(c, EMFILE, "at most %u attachments per connection",
				  PCP_MAX_ATTACH_PER_CLIENT);
	if (c->pidfd < 0)   /* to learn when the process exits */
		c->pidfd = pidfd_open(c->cred.pid, 0);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return conn_error(c, errno, "refill channel: %s", strerror(errno));
	a = attach_new(c, p, sv[0]);
	if (!a)
		goto fail;
	/* the geometry from the daemon's record: the library checks the
	 * header it maps against it, so a client that rewrote the header
	 * between pool_verify() and the new client's read gains nothing */
	reply = json_pack("{s:b, s:s, s:I, s:I, s:I, s:i, s:I, s:I, s:I, s:I}", PCP_F_OK, 1,
			  PCP_F_POOL, p->cfg.name,
			  PCP_F_MAP_SIZE, (json_int_t)p->v.map_size,
			  PCP_F_CLIENT_ID, (json_int_t)a->client_id,
			  PCP_F_ELEM_SIZE, (json_int_t)p->cfg.elem_size,
			  "nr_cpus", (int)p->v.nr_cpus,
			  PCP_F_MAX_ELEMS, (json_int_t)p->v.max_elems,
			  PCP_F_ALIGN, (json_int_t)p->layout.elem_align,
			  "slab_cap", (json_int_t)p->v.slab_cap,
			  PCP_F_HUGE_PAGE_SIZE, (json_int_t)p->layout.huge_page_size);
	if (!reply)
		goto fail;
	if (pool_client_add(p, a->client_id, c->cred.pid, c->cred.uid) < 0) {
		json_decref(reply);
		goto fail;
	}
	/* reserves on its CPUs before it can allocate */
	place_attached(c->d, p, c->cred.pid);
	attach_add(a);
	int fds[2] = { p->memfd, sv[1] };
	conn_send(c, reply, fds, 2);
	json_decref(reply);
	close(sv[1]);
	log_info("client pid %d uid %u attached to pool %s as %u", (int)c->cred.pid,
		 (unsigned)c->cred.uid, p->cfg.name, a->client_id);
	return NULL;   /* sent */
fail:
	attach_discard(a);
	close(sv[0]);
	close(sv[1]);
	return conn_error(c, ENOMEM, "out of memory");
}

/* A detach is pcpupool_close(): the process unmaps the pool, so what it
 * still holds is lost to it (pcpupool(3)) and comes back as a dead
 * client's would, though the process lives on.  Elements it handed to
 * another process are marked so and stay where they are.  The request
 * names the attachment by its client_id (one connection may attach a
 * pool more than once: the other attachment is still in use); without
 * one, the connection's latest attachment of the pool goes. */
static json_t *cmd_detach(struct conn *c, json_t *req)
{
	const char *cmd, *name;
	json_int_t id = 0;
	json_error_t je;
	struct pool *p;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s:s, s?I}", PCP_F_CMD, &cmd,
			   PCP_F_POOL, &name, PCP_F_CLIENT_ID, &id) < 0)
		return conn_error(c, EINVAL, "%s", je.text);
	p = pool_find(c->d, name);
	if (!p)
		return conn_error(c, ENOENT, "no pool named \"%.*s\"", PCP_NAME_MAX, name);
	unsigned of_pool = 0;

	for (struct attach *a = c->attached; a; a = a->next)
		of_pool += a->pool == p;
	for (struct attach **ap = &c->attached; *ap; ap = &(*ap)->next) {
		struct attach *a = *ap;

		if (a->pool != p || (id && a->client_id != id))
			continue;
		if (id || of_pool == 1) {
			reclaim_client_died(p, a->client_id);
		} else {
			/* no id (an older library) and several attachments: the
			 * latest may not be the handle that was closed, so what
			 * it holds waits for the process's exit */
			(void)watch_add(c->d, c->cred.pid, c->cred.uid, &c->pidfd,
					p->serial, a->client_id);
		}
		*ap = a->next;
		attach_free(a);
		return conn_ok();
	}
	if (id)
		return conn_error(c, ENOENT, "no attachment %lld of pool \"%s\" here",
				  (long long)id, p->cfg.name);
	return conn_error(c, ENOENT, "not attached to pool \"%s\"", p->cfg.name);
}

static json_t *cmd_refill(struct conn *c, json_t *req)
{
	json_t *err = NULL;
	struct pool *p = req_pool(c, req, &err);
	uint64_t moved = 0;
	int r;

	if (!p)
		return err;
	/* a refill writes into the pool's memory and costs the daemon
	 * work: for those who may attach it */
	if (!may_use(c, p))
		return refuse_pool(c, p, "refill");
	if (pool_verify(p) < 0)
		return quarantined_error(c, p);
	r = refill_all(p, &moved);
	if (r == -ENOMEM)
		return conn_error(c, ENOMEM, "pool \"%s\" is at its maximum of %llu elements",
				  p->cfg.name, (unsigned long long)p->v.max_elems);
	if (r < 0)
		return conn_error(c, r, "refill: %s", strerror(-r));
	return json_pack("{s:b, s:I}", PCP_F_OK, 1, "refilled", (json_int_t)moved);
}

/* A pool's stats name the processes attached to it (pids, uids) and
 * show its traffic: they are for those who may attach it, and
 * administrators.  Asked for one pool, any other caller gets EACCES;
 * asked for all, the pools it may not attach are left out. */
static json_t *cmd_stats(struct conn *c, json_t *req)
{
	const char *cmd, *name = NULL;
	struct pool *one = NULL;
	json_error_t je;
	json_t *pools;
	bool admin;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s?s}", PCP_F_CMD, &cmd,
			   PCP_F_POOL, &name) < 0)
		return conn_error(c, EINVAL, "stats: %s", je.text);
	if (name && !(one = pool_find(c->d, name)))
		return conn_error(c, ENOENT, "no pool named \"%.*s\"", PCP_NAME_MAX, name);
	if (one && !may_use(c, one))
		return refuse_pool(c, one, "read the stats of");
	admin = is_admin(c);
	pools = json_array();
	for (struct pool *p = c->d->pools; p && pools; p = p->next) {
		if (one ? p != one :
		    !admin && !pool_may_attach(p, c->cred.uid, c->gids, c->nr_gids))
			continue;
		/* a header a client rewrote quarantines the pool now, and its
		 * stats say so ("state", "quarantine_reason") */
		(void)pool_verify(p);
		json_array_append_new(pools, stats_pool_json(p));
	}
	return json_pack("{s:b, s:{s:i, s:o*, s:o*}}", PCP_F_OK, 1, "stats",
			 "schema", 1, "daemon", stats_daemon_json(c->d), "pools", pools);
}

static json_t *cmd_create(struct conn *c, json_t *req)
{
	json_t *spec = json_deep_copy(req), *name;
	struct pool_config pc;
	struct pool *p;
	char why[CONFIG_ERR_MAX];
	int r;

	if (!spec)
		return conn_error(c, ENOMEM, "out of memory");
	/* the request is a pool spec with "cmd" and with "pool" for "name" */
	json_object_del(spec, PCP_F_CMD);
	name = json_object_get(spec, PCP_F_POOL);
	if (name) {
		json_object_set(spec, PCP_F_NAME, name);
		json_object_del(spec, PCP_F_POOL);
	} else if (json_object_get(spec, PCP_F_NAME)) {
		json_decref(spec);
		return conn_error(c, EINVAL, "create: the pool's name goes in \"pool\"");
	}
	r = config_pool_from_json(spec, &pc, why, sizeof(why));
	json_decref(spec);
	if (r < 0)
		return conn_error(c, EINVAL, "create: %s", why);
	/* unless told otherwise, the creator owns it */
	if (!pc.has_owner) {
		pc.owner = c->cred.uid;
		pc.has_owner = true;
	}
	if (!pc.has_group) {
		pc.group = c->cred.gid;
		pc.has_group = true;
	}
	r = pool_create(c->d, &pc, c->cred.pid, &p, why, sizeof(why));
	if (r < 0) {
		log_notice("client pid %d uid %u: create pool %s failed: %s", (int)c->cred.pid,
			   (unsigned)c->cred.uid, pc.name, why);
		return conn_error(c, r, "create \"%s\": %s", pc.name, why);
	}
	log_notice("pool %s created by pid %d uid %u: %llu-byte elements, min_nr %u per CPU%s",
		   p->cfg.name, (int)c->cred.pid, (unsigned)c->cred.uid,
		   (unsigned long long)p->cfg.elem_size, p->cfg.min_nr,
		   p->cfg.hugepages ? ", on 2 MiB hugepages" : "");
	return json_pack("{s:b, s:s}", PCP_F_OK, 1, PCP_F_POOL, p->cfg.name);
}

static json_t *cmd_resize(struct conn *c, json_t *req)
{
	const char *cmd, *name;
	json_int_t min_nr, low = 0;
	json_error_t je;
	struct pool *p;
	int r;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s:s, s:I, s?I}", PCP_F_CMD, &cmd,
			   PCP_F_POOL, &name, PCP_F_MIN_NR, &min_nr, PCP_F_LOW_WM, &low) < 0)
		return conn_error(c, EINVAL, "resize: %s", je.text);
	p = pool_find(c->d, name);
	if (!p)
		return conn_error(c, ENOENT, "no pool named \"%.*s\"", PCP_NAME_MAX, name);
	if (min_nr < 1 || min_nr > PCP_MAX_MIN_NR || low < 0 || low > min_nr)
		return conn_error(c, EINVAL, "resize: min_nr must be 1..%u and "
				  "low_watermark 0..min_nr", PCP_MAX_MIN_NR);
	r = refill_set_reserve(p, (uint32_t)min_nr, (uint32_t)low);
	if (r == -ERANGE)
		return conn_error(c, ERANGE, "min_nr %lld x %u CPUs exceeds max_elems %llu",
				  (long long)min_nr, p->v.nr_cpus,
				  (unsigned long long)p->v.max_elems);
	if (r < 0 && r != -ENOMEM)
		return conn_error(c, r, "resize: %s", strerror(-r));
	log_notice("pool %s resized to min_nr %u by pid %d", p->cfg.name, p->cfg.min_nr,
		   (int)c->cred.pid);
	return conn_ok();
}

static json_t *cmd_destroy(struct conn *c, json_t *req)
{
	json_t *err = NULL;
	struct pool *p = req_pool(c, req, &err);
	unsigned own = 0;

	if (!p)
		return err;
	for (struct attach *a = c->attached; a; a = a->next)
		own += a->pool == p;
	if (p->nr_attached > own)
		return conn_error(c, EBUSY, "pool \"%s\" has %u other client(s) attached",
				  p->cfg.name, p->nr_attached - own);
	attach_end_pool(c, p);
	log_notice("pool %s destroyed by pid %d uid %u", p->cfg.name, (int)c->cred.pid,
		   (unsigned)c->cred.uid);
	pool_destroy(c->d, p);
	return conn_ok();
}

static const struct command commands[] = {
	{ PCP_CMD_HELLO,   cmd_hello,   false },
	{ PCP_CMD_PING,    cmd_ping,    false },
	{ PCP_CMD_POOLS,   cmd_pools,   false },
	{ PCP_CMD_ATTACH,  cmd_attach,  false },
	{ PCP_CMD_DETACH,  cmd_detach,  false },
	{ PCP_CMD_REFILL,  cmd_refill,  false },
	{ PCP_CMD_STATS,   cmd_stats,   false },
	{ PCP_CMD_CREATE,  cmd_create,  true },
	{ PCP_CMD_RESIZE,  cmd_resize,  true },
	{ PCP_CMD_DESTROY, cmd_destroy, true },
};

/**
 * cmd_dispatch() - answer one request line of @c: parse it, find its
 * command, check the caller may run it, run it, send the reply.
 * @c: the connection.
 * @line: the line, without its newline.
 * @n: its length.
 */
void cmd_dispatch(struct conn *c, const char *line, size_t n)
{
	struct daemon *d = c->d;
	json_error_t je;
	json_t *req, *reply = NULL;
	const char *cmd;

	d->requests++;
	if (n > PCP_MAX_LINE) {
		reply = conn_error(c, E2BIG, "request of %zu bytes exceeds the limit of %u",
				   n, PCP_MAX_LINE);
		goto send;
	}
	req = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
	if (!req) {
		reply = conn_error(c, EINVAL, "invalid JSON at column %d: %s", je.column, je.text);
		goto send;
	}
	cmd = json_string_value(json_object_get(req, PCP_F_CMD));
	if (!json_is_object(req) || !cmd) {
		reply = conn_error(c, EINVAL, "a request is an object with a \"cmd\" string");
		goto out;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name))
			continue;
		if (commands[i].needs_admin && !is_admin(c)) {
			log_notice("client pid %d uid %u: %s refused (not an administrator)",
				   (int)c->cred.pid, (unsigned)c->cred.uid, cmd);
			reply = conn_error(c, EPERM, "%s needs root, uid %u%s", cmd,
					   (unsigned)geteuid(), d->cfg->has_admin_group ?
					   " or the admin group" : "");
		} else
			reply = commands[i].fn(c, req);
		goto out;
	}
	reply = conn_error(c, ENOSYS, "unknown command \"%.32s\"", cmd);
out:
	json_decref(req);
	if (!reply)
		return;   /* the command sent its own reply */
send:
	conn_send(c, reply, NULL, 0);
	json_decref(reply);
}
