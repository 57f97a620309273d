// SPDX-License-Identifier: MIT
/*
 * main.c - pcpupoold: options, configuration, the event loop, signals.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "cpus.h"
#include "daemon.h"
#include "guard.h"
#include "log.h"
#include "place.h"
#include "pool.h"
#include "refill.h"
#include "state.h"
#include "watch.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: pcpupoold [OPTIONS]\n"
"\n"
"The pcpupool daemon: owns per-CPU pools of fixed-size elements in shared\n"
"memory, refills their reserves in the background, and serves clients\n"
"(libpcpupool) on a Unix control socket speaking newline-delimited JSON.\n"
"\n"
"Options:\n"
"  -c, --config FILE    configuration file (default %s;\n"
"                       a missing default file means no pools yet, a missing\n"
"                       named file is an error)\n"
"  -s, --socket PATH    control socket path, overriding the configuration\n"
"                       (default %s)\n"
"  -l, --log-level LVL  err, warning, notice, info or debug, overriding the\n"
"                       configuration\n"
"      --check-config   validate the configuration, print a summary, exit\n"
"  -h, --help           show this help and exit\n"
"  -V, --version        show the version and exit\n"
"\n"
"Signals: SIGHUP reloads the configuration (a bad file keeps the running\n"
"one); SIGTERM and SIGINT shut down cleanly.  Logs go to stderr with <N>\n"
"syslog priority prefixes.  Under systemd the socket may be passed in\n"
"(socket activation) and readiness is reported with sd_notify.\n"
"\n"
"Exit status: 0 on clean shutdown or a valid --check-config, 1 on a bad\n"
"configuration or a start-up failure, 2 on bad usage.\n",
		CONFIG_DEFAULT_PATH, PCP_DEFAULT_SOCKET);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	log_notice("signal %d: shutting down", (int)sig);
	sd_notify(0, "STOPPING=1");
	event_base_loopexit(d->base, NULL);
}

static void status_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd; (void)what;
	if (d->watchdog_usec)
		sd_notify(0, "WATCHDOG=1");
	sd_notifyf(0, "STATUS=%u pools, %u clients", d->nr_pools, conn_count(d));
}

/* Take what systemd passed: the control socket (socket activation) and the
 * pools a previous instance left in the fd store ("pool.NAME" with its
 * "depot.NAME").  Returns the socket or -1; -2 on a fatal error. */
static int adopt_fds(struct daemon *d)
{
	char **names = NULL, err[CONFIG_ERR_MAX];
	int n = sd_listen_fds_with_names(1, &names), lfd = -1;

	if (n < 0) {
		log_err("sd_listen_fds: %s", strerror(-n));
		return -2;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *nm = names ? names[i] : "";

		if (!strncmp(nm, "pool.", 5)) {
			int sfd = -1;
			for (int j = 0; j < n; j++)
				if (names && !strncmp(names[j], "depot.", 6) &&
				    !strcmp(names[j] + 6, nm + 5))
					sfd = SD_LISTEN_FDS_START + j;
			struct pool *p;
			if (sfd < 0) {
				log_err("fd store: pool %s has no depot; dropped", nm + 5);
				close(fd);
			} else if (state_restore(d, nm + 5, fd, dup(sfd), &p, err,
						 sizeof(err)) < 0) {
				log_err("fd store: pool %s cannot be restored (%s); dropped",
					nm + 5, err);
				sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=pool.%s", nm + 5);
				sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=depot.%s", nm + 5);
			} else {
				log_notice("pool %s restored from the fd store: %llu elements, "
					   "%llu in the depot", p->cfg.name,
					   (unsigned long long)p->published,
					   (unsigned long long)p->st->depot_n);
			}
		} else if (!strncmp(nm, "depot.", 6)) {
			continue;   /* taken with its pool (dup'ed), closed below */
		} else if (lfd < 0 && sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0) {
			lfd = fd;
		} else {
			log_warning("ignoring passed descriptor %d (%s)", fd, nm);
			close(fd);
		}
	}
	for (int i = 0; i < n; i++)
		if (names && !strncmp(names[i], "depot.", 6))
			close(SD_LISTEN_FDS_START + i);
	if (names) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return lfd;
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd; (void)what;
	for (struct pool *p = d->pools; p; p = p->next) {
		refill_sweep(p);
		place_update(d, p, false);
	}
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t expirations;

	(void)what;
	if (read(fd, &expirations, sizeof(expirations)) < 0)
		return;   /* EAGAIN: disarmed meanwhile */
	refill_poll_tick(arg);
}

static int arm_sweep(struct daemon *d)
{
	struct timeval tv = { d->cfg->sweep_ms / 1000, (d->cfg->sweep_ms % 1000) * 1000 };

	return event_add(d->ev_sweep, &tv);
}

/* Create the configured pools that do not exist, resize those whose
 * reserve changed.  Returns the number of failures. */
static int apply_pools(struct daemon *d, const struct config *cfg)
{
	char err[CONFIG_ERR_MAX];
	int failures = 0;

	for (size_t i = 0; i < cfg->nr_pools; i++) {
		const struct pool_config *pc = &cfg->pools[i];
		struct pool *p = pool_find(d, pc->name);

		if (!p) {
			if (pool_create(d, pc, 0, &p, err, sizeof(err)) < 0) {
				log_err("pool %s: %s", pc->name, err);
				failures++;
			} else {
				log_info("pool %s: %llu-byte elements, min_nr %u per CPU, "
					 "up to %llu elements%s", p->cfg.name,
					 (unsigned long long)p->cfg.elem_size, p->cfg.min_nr,
					 (unsigned long long)p->v.max_elems,
					 p->cfg.hugepages ? ", on 2 MiB hugepages" : "");
			}
			continue;
		}
		if (pc->has_owner)
			p->st->uid = pc->owner;
		if (pc->has_group)
			p->st->gid = pc->group;
		if (pc->has_mode)
			p->st->mode = pc->mode;
		/* the daemon's own record: the shared header is the clients' to
		 * scribble on */
		if (pc->elem_size != p->cfg.elem_size || pc->align != p->cfg.align ||
		    pc->hugepages != p->cfg.hugepages)
			log_warning("pool %s: elem_size/align/hugepages cannot change on a live "
				    "pool; destroy and recreate it", pc->name);
		if (pc->min_nr != p->cfg.min_nr ||
		    (pc->low_watermark && pc->low_watermark != p->cfg.low_watermark)) {
			int r = refill_set_reserve(p, pc->min_nr, pc->low_watermark);
			if (r < 0 && r != -ENOMEM) {
				log_err("pool %s: resize to %u: %s", pc->name, pc->min_nr,
					strerror(-r));
				failures++;
			} else {
				log_info("pool %s: min_nr now %u", pc->name, pc->min_nr);
			}
		}
	}
	return failures;
}

/* Every connection, attachment (its refill channel) and exited client
 * being watched (its pidfd) costs a descriptor, and a soft limit of 1024
 * (the default) is soon reached: take what the hard limit allows (the
 * unit raises both; under its system call filter this is refused, and
 * the unit's limit stands).  The event loop is epoll, so large numbers
 * are fine. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max > (1u << 20) ? (1u << 20) : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_debug("cannot raise the descriptor limit to %llu: %s",
			  (unsigned long long)rl.rlim_cur, strerror(errno));
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	char err[CONFIG_ERR_MAX];
	struct config *cfg;

	(void)sig; (void)what;
	sd_notify(0, "RELOADING=1");
	if (config_load(d->config_path, d->config_explicit, &cfg, err, sizeof(err)) < 0) {
		log_err("reload failed, keeping the running configuration: %s", err);
		sd_notify(0, "READY=1");
		return;
	}
	if (!d->socket_override && cfg->socket_path &&
	    strcmp(cfg->socket_path, d->socket_path))
		log_warning("reload: the socket path changes only at restart (still %s)",
			    d->socket_path);
	/* --log-level outranks the file, now as at start */
	log_set_level(d->log_level_override >= 0 ? d->log_level_override : cfg->log_level);
	apply_pools(d, cfg);
	config_free(d->cfg);
	d->cfg = cfg;
	arm_sweep(d);
	log_notice("configuration reloaded from %s: %u pools", d->config_path, d->nr_pools);
	sd_notifyf(0, "READY=1\nSTATUS=%u pools, %u clients", d->nr_pools,
		   conn_count(d));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct daemon d = { .config_path = CONFIG_DEFAULT_PATH, .poll_fd = -1 };
	const char *level = NULL;
	char err[CONFIG_ERR_MAX];
	bool check_only = false, bound = false;
	int c, rc = 1, lfd = -1;

	while ((c = getopt_long(argc, argv, "c:s:l:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; d.config_explicit = true; break;
		case 's': d.socket_override = optarg; break;
		case 'l': level = optarg; break;
		case 'C': check_only = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("pcpupoold %s (protocol %d)\n", PCPUPOOLD_VERSION,
				 PCP_PROTO_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pcpupoold: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (level && log_level_parse(level) < 0) {
		fprintf(stderr, "pcpupoold: --log-level: '%s' is not one of err, warning, "
			"notice, info, debug\n", level);
		return 2;
	}
	if (config_load(d.config_path, d.config_explicit, &d.cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return 1;
	}
	if (check_only) {
		printf("%s: OK, %zu pool(s)\n", d.config_path, d.cfg->nr_pools);
		config_free(d.cfg);
		return 0;
	}
	d.log_level_override = level ? log_level_parse(level) : -1;
	log_set_level(d.log_level_override >= 0 ? d.log_level_override : d.cfg->log_level);
	d.nr_cpus = (uint32_t)get_nprocs_conf();
	clock_gettime(CLOCK_MONOTONIC, &d.started);
	snprintf(d.socket_path, sizeof(d.socket_path), "%s",
		 d.socket_override ? d.socket_override :
		 d.cfg->socket_path ? d.cfg->socket_path : PCP_DEFAULT_SOCKET);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	d.base = event_base_new();
	if (!d.base) {
		log_err("cannot create the event loop");
		goto out;
	}
	/* signals before the socket: a SIGTERM that comes as soon as it
	 * accepts (from a test, from systemd) is kept for the loop's start,
	 * and the shutdown is as clean as ever */
	d.ev_term = evsignal_new(d.base, SIGTERM, on_stop, &d);
	d.ev_int = evsignal_new(d.base, SIGINT, on_stop, &d);
	d.ev_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
	if (!d.ev_term || !d.ev_int || !d.ev_hup || event_add(d.ev_term, NULL) < 0 ||
	    event_add(d.ev_int, NULL) < 0 || event_add(d.ev_hup, NULL) < 0) {
		log_err("cannot set up signal handling");
		goto out;
	}
	if (guard_init() < 0) {
		log_err("cannot set up the SIGBUS guard: %s", strerror(errno));
		goto out;
	}
	if (cpus_init(&d) < 0) {
		log_err("out of memory");
		goto out;
	}
	lfd = adopt_fds(&d);
	if (lfd == -2)
		goto out;
	if (apply_pools(&d, d.cfg) > 0) {
		log_err("not starting with a partial configuration");
		goto out;
	}
	if (lfd >= 0) {
		log_info("using the control socket passed by systemd");
	} else {
		int r = conn_bind(d.socket_path, &lfd);
		if (r < 0) {
			log_err("cannot listen on %s: %s", d.socket_path,
				r == -EADDRINUSE ? "another pcpupoold is serving it" : strerror(-r));
			goto out;
		}
		bound = true;
		if (d.cfg->has_socket_group &&
		    chown(d.socket_path, (uid_t)-1, (gid_t)d.cfg->socket_group) < 0)
			log_warning("cannot give %s to group %u: %s", d.socket_path,
				    d.cfg->socket_group, strerror(errno));
	}
	if (conn_listen(&d, lfd) < 0) {
		log_err("cannot serve the control socket");
		close(lfd);
		goto out;
	}
	watch_holders(&d);
	d.ev_sweep = event_new(d.base, -1, EV_PERSIST, sweep_cb, &d);
	d.ev_status = event_new(d.base, -1, EV_PERSIST, status_cb, &d);
	d.poll_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d.poll_fd >= 0)
		d.ev_poll = event_new(d.base, d.poll_fd, EV_READ | EV_PERSIST, poll_cb, &d);
	if (d.ev_poll && event_add(d.ev_poll, NULL) < 0) {
		event_free(d.ev_poll);
		d.ev_poll = NULL;
	}
	if (!d.ev_poll)   /* every crossing then sends, as with refill_poll_us 0 */
		log_warning("refill poll unavailable (timerfd: %s): clients send every request",
			    d.poll_fd < 0 ? strerror(errno) : "cannot watch it");
	/* WATCHDOG=1 from the loop itself, at half the interval: a stuck loop
	 * stops the pings and systemd restarts us */
	uint64_t status_us = 1000000;
	if (sd_watchdog_enabled(0, &d.watchdog_usec) > 0 && d.watchdog_usec / 2 < status_us)
		status_us = d.watchdog_usec / 2;
	struct timeval stv = { (time_t)(status_us / 1000000), (suseconds_t)(status_us % 1000000) };
	if (!d.ev_status || event_add(d.ev_status, &stv) < 0) {
		log_err("cannot set up the status timer");
		goto out;
	}
	if (!d.ev_sweep || arm_sweep(&d) < 0) {
		log_err("cannot set up events");
		goto out;
	}
	log_notice("pcpupoold %s ready on %s: %u pool(s), %u CPUs", PCPUPOOLD_VERSION,
		   d.socket_path, d.nr_pools, d.nr_cpus);
	sd_notifyf(0, "READY=1\nSTATUS=%u pools, 0 clients", d.nr_pools);
	if (event_base_dispatch(d.base) < 0)
		log_err("event loop failed");
	else
		rc = 0;
out:
	conn_shutdown(&d);
	watch_shutdown(&d);
	while (d.pools) {
		struct pool *p = d.pools;
		pool_shutdown(p);   /* stays in the fd store for the next start */
		pool_unregister(&d, p);
		pool_dispose(p);
	}
	if (bound)
		unlink(d.socket_path);
	if (d.ev_sweep)
		event_free(d.ev_sweep);
	if (d.ev_status)
		event_free(d.ev_status);
	if (d.ev_poll)
		event_free(d.ev_poll);
	if (d.poll_fd >= 0)
		close(d.poll_fd);
	if (d.ev_term)
		event_free(d.ev_term);
	if (d.ev_int)
		event_free(d.ev_int);
	if (d.ev_hup)
		event_free(d.ev_hup);
	cpus_fini(&d);
	if (d.base)
		event_base_free(d.base);
	libevent_global_shutdown();
	config_free(d.cfg);
	return rc;
}
