// SPDX-License-Identifier: MIT
/*
 * config.c - read and validate pcpupoold.json with jansson.
 *
 * The whole file is parsed and checked before anything is applied, so a
 * bad file leaves the daemon as it was (not started, or on SIGHUP, running
 * the previous configuration).  Syntax errors carry file:line:column;
 * semantic errors name the setting (pools[N].field).
 *
 *   {
 *     "socket": "/run/pcpupool/control.sock",
 *     "log_level": "info",
 *     "sweep_interval_ms": 50,
 *     "refill_poll_us": 1000, "refill_poll_linger_ms": 100,
 *     "max_clients": 1024, "request_timeout_ms": 10000,
 *     "pools": [ { "name": "frames", "elem_size": 1024, "align": 64,
 *                  "min_nr": 64, "low_watermark": 16, "max_elems": 65536,
 *                  "hugepages": false } ]
 *   }
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "log.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/**
 * config_pool_check() - range-check one pool's parameters.
 * @pc: the parameters.
 * @err: receives the reason.
 * @errlen: size of @err.
 *
 * Return: 0 or -EINVAL.
 */
int config_pool_check(const struct pool_config *pc, char *err, size_t errlen)
{
	if (!pcp_name_valid(pc->name)) {
		seterr(err, errlen, "name must be 1-%d of [A-Za-z0-9_.-], not starting with '.'",
		       PCP_NAME_MAX);
		return -EINVAL;
	}
	if (pc->elem_size < 1 || pc->elem_size > PCP_MAX_ELEM_SIZE) {
		seterr(err, errlen, "elem_size must be 1..%u", PCP_MAX_ELEM_SIZE);
		return -EINVAL;
	}
	if (pc->align < 1 || pc->align > 4096 || (pc->align & (pc->align - 1))) {
		seterr(err, errlen, "align must be a power of two, 1..4096");
		return -EINVAL;
	}
	if (pc->min_nr < 1 || pc->min_nr > PCP_MAX_MIN_NR) {
		seterr(err, errlen, "min_nr must be 1..%u", PCP_MAX_MIN_NR);
		return -EINVAL;
	}
	if (pc->low_watermark > pc->min_nr) {
		seterr(err, errlen, "low_watermark must not exceed min_nr");
		return -EINVAL;
	}
	if (pc->max_elems > PCP_MAX_ELEMS) {
		seterr(err, errlen, "max_elems must be at most %u", PCP_MAX_ELEMS);
		return -EINVAL;
	}
	return 0;
}

/**
 * config_user() - a user given as a name or a uid.
 * @v: JSON string or integer.
 * @ret_uid: the uid.
 * @err: receives the reason.
 * @errlen: size of @err.
 *
 * Return: 0 or -EINVAL.
 */
int config_user(json_t *v, uint32_t *ret_uid, char *err, size_t errlen)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) < UINT32_MAX) {
		*ret_uid = (uint32_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		struct passwd *pw = getpwnam(json_string_value(v));
		if (pw) {
			*ret_uid = pw->pw_uid;
			return 0;
		}
		seterr(err, errlen, "no user named \"%.64s\"", json_string_value(v));
		return -EINVAL;
	}
	seterr(err, errlen, "a user is a name or a uid");
	return -EINVAL;
}

/**
 * config_group() - a group given as a name or a gid.
 * @v: JSON string or integer.
 * @ret_gid: the gid.
 * @err: receives the reason.
 * @errlen: size of @err.
 *
 * Return: 0 or -EINVAL.
 */
int config_group(json_t *v, uint32_t *ret_gid, char *err, size_t errlen)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) < UINT32_MAX) {
		*ret_gid = (uint32_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		struct group *gr = getgrnam(json_string_value(v));
		if (gr) {
			*ret_gid = gr->gr_gid;
			return 0;
		}
		seterr(err, errlen, "no group named \"%.64s\"", json_string_value(v));
		return -EINVAL;
	}
	seterr(err, errlen, "a group is a name or a gid");
	return -EINVAL;
}

/**
 * config_mode() - permission bits, given as a string of one to four octal
 * digits ("0660", "640"), as chmod(1) takes them.
 * @v: JSON string.
 * @ret_mode: the bits, 0..0777.
 * @err: receives the reason, naming the key.
 * @errlen: size of @err.
 *
 * A JSON number is refused, not converted: JSON has no octal, so 440
 * would be the decimal 440, mode 0670, and let the group attach a pool
 * that 0440 keeps it out of (attaching needs read and write).  The
 * message says so.
 *
 * Return: 0 or -EINVAL.
 */
int config_mode(json_t *v, uint32_t *ret_mode, char *err, size_t errlen)
{
	const char *t = json_string_value(v);
	size_t n = t ? strlen(t) : 0;
	uint32_t m = 0;

	if (json_is_integer(v)) {
		seterr(err, errlen, "mode must be an octal string such as \"0660\", not a number "
		       "(%lld would be read as decimal)", (long long)json_integer_value(v));
		return -EINVAL;
	}
	if (!t) {
		seterr(err, errlen, "mode must be an octal string such as \"0660\"");
		return -EINVAL;
	}
	/* digits only: strtol() would take a sign, blanks and "0x" too */
	for (size_t i = 0; i < n && n <= 4; i++) {
		if (t[i] < '0' || t[i] > '7') {
			n = 0;
			break;
		}
		m = m * 8 + (uint32_t)(t[i] - '0');
	}
	if (n < 1 || n > 4 || m > 0777) {
		seterr(err, errlen, "mode must be an octal string such as \"0660\": one to four "
		       "octal digits, at most 0777, not \"%.16s\"", t);
		return -EINVAL;
	}
	*ret_mode = m;
	return 0;
}

/**
 * config_pool_from_json() - read one pool object (config file entry or
 * create request without its "cmd") into @ret_pc.
 * @obj: JSON object; keys other than the pool's are refused.
 * @ret_pc: filled on success.
 * @err: receives the reason.
 * @errlen: size of @err.
 *
 * Return: 0 or -EINVAL.
 */
int config_pool_from_json(json_t *obj, struct pool_config *ret_pc, char *err, size_t errlen)
{
	struct pool_config pc = { .align = 8 };
	json_int_t size = 0, align = 8, min_nr = 0, low = 0, max = 0;
	const char *name = NULL;
	json_error_t je;

	json_t *owner = NULL, *group = NULL, *mode = NULL;
	json_t *hv = json_is_object(obj) ? json_object_get(obj, PCP_F_HUGEPAGES) : NULL;
	int huge = 0;

	/* jansson's own message would not name the key */
	if (hv && !json_is_boolean(hv)) {
		seterr(err, errlen, "hugepages must be true or false");
		return -EINVAL;
	}
	if (json_unpack_ex(obj, &je, JSON_STRICT,
			   "{s:s, s:I, s?I, s:I, s?I, s?I, s?o, s?o, s?o, s?b}",
			   PCP_F_NAME, &name, PCP_F_ELEM_SIZE, &size, PCP_F_ALIGN, &align,
			   PCP_F_MIN_NR, &min_nr, PCP_F_LOW_WM, &low,
			   PCP_F_MAX_ELEMS, &max, PCP_F_OWNER, &owner, PCP_F_GROUP, &group,
			   PCP_F_MODE, &mode, PCP_F_HUGEPAGES, &huge) < 0) {
		seterr(err, errlen, "%s", je.text);
		return -EINVAL;
	}
	pc.hugepages = huge != 0;
	if ((owner && config_user(owner, &pc.owner, err, errlen) < 0) ||
	    (group && config_group(group, &pc.group, err, errlen) < 0) ||
	    (mode && config_mode(mode, &pc.mode, err, errlen) < 0))
		return -EINVAL;
	pc.has_owner = owner != NULL;
	pc.has_group = group != NULL;
	pc.has_mode = mode != NULL;
	if (size < 0 || align < 0 || min_nr < 0 || low < 0 || max < 0 ||
	    min_nr > UINT32_MAX || low > UINT32_MAX) {
		seterr(err, errlen, "numbers must be non-negative and in range");
		return -EINVAL;
	}
	snprintf(pc.name, sizeof(pc.name), "%s", name);
	if (strlen(name) > PCP_NAME_MAX) {
		seterr(err, errlen, "name longer than %d bytes", PCP_NAME_MAX);
		return -EINVAL;
	}
	pc.elem_size = (uint64_t)size;
	pc.align = align ? (uint64_t)align : 8;   /* 0: the default */
	pc.min_nr = (uint32_t)min_nr;
	pc.low_watermark = (uint32_t)low;
	pc.max_elems = (uint64_t)max;
	if (config_pool_check(&pc, err, errlen) < 0)
		return -EINVAL;
	*ret_pc = pc;
	return 0;
}

/**
 * config_free() - free a configuration.
 * @cfg: configuration or NULL.
 */
void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->socket_path);
	free(cfg->pools);
	free(cfg);
}

static int config_parse(json_t *root, const char *path, struct config *cfg,
			char *err, size_t errlen)
{
	const char *sock = NULL, *level = NULL;
	json_int_t sweep = CONFIG_DEFAULT_SWEEP_MS, maxc = PCP_MAX_CLIENTS;
	json_int_t poll = CONFIG_DEFAULT_POLL_US, linger = CONFIG_DEFAULT_LINGER_MS;
	json_int_t req_to = CONFIG_DEFAULT_REQUEST_TIMEOUT_MS;
	json_t *pools = NULL, *admin = NULL, *sgroup = NULL;
	json_error_t je;
	char why[CONFIG_ERR_MAX];

	/* jansson's own message would not name the setting */
	static const char *const ints[] = { "sweep_interval_ms", "refill_poll_us",
					    "refill_poll_linger_ms", "max_clients",
					    "request_timeout_ms" };
	for (size_t i = 0; json_is_object(root) && i < sizeof(ints) / sizeof(ints[0]); i++) {
		json_t *v = json_object_get(root, ints[i]);

		if (v && !json_is_integer(v)) {
			seterr(err, errlen, "%s: %s: must be an integer", path, ints[i]);
			return -EINVAL;
		}
	}
	if (json_unpack_ex(root, &je, JSON_STRICT,
			   "{s?s, s?s, s?I, s?I, s?I, s?I, s?I, s?o, s?o, s?o}",
			   "socket", &sock, "log_level", &level, "sweep_interval_ms", &sweep,
			   "refill_poll_us", &poll, "refill_poll_linger_ms", &linger,
			   "max_clients", &maxc, "request_timeout_ms", &req_to, "pools", &pools,
			   "admin_group", &admin, "socket_group", &sgroup) < 0) {
		seterr(err, errlen, "%s: %s", path, je.text);
		return -EINVAL;
	}
	if (admin && config_group(admin, &cfg->admin_group, why, sizeof(why)) < 0) {
		seterr(err, errlen, "%s: admin_group: %s", path, why);
		return -EINVAL;
	}
	if (sgroup && config_group(sgroup, &cfg->socket_group, why, sizeof(why)) < 0) {
		seterr(err, errlen, "%s: socket_group: %s", path, why);
		return -EINVAL;
	}
	cfg->has_admin_group = admin != NULL;
	cfg->has_socket_group = sgroup != NULL;
	if (sock) {
		if (sock[0] != '/' || strlen(sock) >= 108) {
			seterr(err, errlen, "%s: socket: must be an absolute path under 108 bytes",
			       path);
			return -EINVAL;
		}
		cfg->socket_path = strdup(sock);
		if (!cfg->socket_path)
			return -ENOMEM;
	}
	cfg->log_level = LOG_INFO;
	if (level && (cfg->log_level = log_level_parse(level)) < 0) {
		seterr(err, errlen, "%s: log_level: \"%s\" is not one of err, warning, notice, "
		       "info, debug", path, level);
		return -EINVAL;
	}
	if (sweep < CONFIG_MIN_SWEEP_MS || sweep > CONFIG_MAX_SWEEP_MS) {
		seterr(err, errlen, "%s: sweep_interval_ms: must be %u..%u", path,
		       CONFIG_MIN_SWEEP_MS, CONFIG_MAX_SWEEP_MS);
		return -EINVAL;
	}
	cfg->sweep_ms = (uint32_t)sweep;
	if (poll != 0 && (poll < CONFIG_MIN_POLL_US || poll > CONFIG_MAX_POLL_US)) {
		seterr(err, errlen, "%s: refill_poll_us: must be 0 (no polling) or %u..%u", path,
		       CONFIG_MIN_POLL_US, CONFIG_MAX_POLL_US);
		return -EINVAL;
	}
	cfg->poll_us = (uint32_t)poll;
	if (linger < 1 || linger > CONFIG_MAX_LINGER_MS) {
		seterr(err, errlen, "%s: refill_poll_linger_ms: must be 1..%u", path,
		       CONFIG_MAX_LINGER_MS);
		return -EINVAL;
	}
	cfg->poll_linger_ms = (uint32_t)linger;
	if (maxc < 1 || maxc > PCP_MAX_CLIENTS) {
		seterr(err, errlen, "%s: max_clients: must be 1..%u", path, PCP_MAX_CLIENTS);
		return -EINVAL;
	}
	cfg->max_clients = (uint32_t)maxc;
	if (req_to < CONFIG_MIN_REQUEST_TIMEOUT_MS || req_to > CONFIG_MAX_REQUEST_TIMEOUT_MS) {
		seterr(err, errlen, "%s: request_timeout_ms: must be %u..%u", path,
		       CONFIG_MIN_REQUEST_TIMEOUT_MS, CONFIG_MAX_REQUEST_TIMEOUT_MS);
		return -EINVAL;
	}
	cfg->request_timeout_ms = (uint32_t)req_to;
	if (!pools)
		return 0;
	if (!json_is_array(pools)) {
		seterr(err, errlen, "%s: pools: must be an array", path);
		return -EINVAL;
	}
	if (json_array_size(pools) > PCP_MAX_POOLS) {
		seterr(err, errlen, "%s: pools: more than %u pools", path, (unsigned int)PCP_MAX_POOLS);
		return -EINVAL;
	}
	cfg->pools = calloc(json_array_size(pools) + 1, sizeof(*cfg->pools));
	if (!cfg->pools)
		return -ENOMEM;
	size_t i;
	json_t *p;
	json_array_foreach(pools, i, p) {
		if (config_pool_from_json(p, &cfg->pools[i], why, sizeof(why)) < 0) {
			seterr(err, errlen, "%s: pools[%zu]: %s", path, i, why);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cfg->pools[j].name, cfg->pools[i].name)) {
				seterr(err, errlen, "%s: pools[%zu]: name \"%s\" used twice",
				       path, i, cfg->pools[i].name);
				return -EINVAL;
			}
		cfg->nr_pools++;
	}
	return 0;
}

/**
 * config_load() - read and validate a configuration file.
 * @path: file to read.
 * @must_exist: false for the default path: a missing file is then an empty
 *              configuration (no pools, defaults).
 * @ret_cfg: the configuration, on success.
 * @err: receives "file:line:column: reason" or "file: setting: reason".
 * @errlen: size of @err.
 *
 * Context: event loop thread; reads the file.
 * Return: 0, or a negative errno with @err set.
 */
int config_load(const char *path, bool must_exist, struct config **ret_cfg,
		char *err, size_t errlen)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	json_error_t je;
	json_t *root = NULL;
	struct stat st;
	int r;

	if (!cfg)
		return -ENOMEM;
	cfg->log_level = LOG_INFO;
	cfg->sweep_ms = CONFIG_DEFAULT_SWEEP_MS;
	cfg->poll_us = CONFIG_DEFAULT_POLL_US;
	cfg->poll_linger_ms = CONFIG_DEFAULT_LINGER_MS;
	cfg->max_clients = PCP_MAX_CLIENTS;
	cfg->request_timeout_ms = CONFIG_DEFAULT_REQUEST_TIMEOUT_MS;
	if (stat(path, &st) < 0) {
		r = -errno;
		if (r == -ENOENT && !must_exist) {
			*ret_cfg = cfg;
			return 0;
		}
		seterr(err, errlen, "%s: %s", path, strerror(-r));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
		seterr(err, errlen, "%s: not a regular file of at most %u bytes", path,
		       CONFIG_MAX_BYTES);
		r = -EINVAL;
		goto fail;
	}
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		seterr(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		r = -EINVAL;
		goto fail;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "%s:1:1: the top level must be an object", path);
		r = -EINVAL;
		goto fail;
	}
	r = config_parse(root, path, cfg, err, errlen);
	if (r < 0)
		goto fail;
	json_decref(root);
	*ret_cfg = cfg;
	return 0;
fail:
	json_decref(root);
	config_free(cfg);
	return r;
}
