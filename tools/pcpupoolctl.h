/* SPDX-License-Identifier: MIT */
/*
 * pcpupoolctl.h - what every module of pcpupoolctl works with: the tool's
 * state (struct ctl), its exit statuses and output formats, the command
 * table's entries, and the functions of pcpupoolctl.c that report errors
 * and reach the daemon.
 */
#ifndef PCPUPOOLCTL_H
#define PCPUPOOLCTL_H

#include <jansson.h>
#include <stdbool.h>

struct pcpupool_client;

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_DAEMON = 1,       /* the daemon refused or failed the request */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3,  /* no daemon on the socket, or no answer */
	CTL_EXIT_NOPOOL = 4,
};

enum ctl_format { CTL_FMT_HUMAN, CTL_FMT_JSON, CTL_FMT_PROMETHEUS };

/**
 * struct ctl - what every command works with.
 * @socket: --socket, or NULL for $PCPUPOOL_SOCKET or the default.
 * @fmt: output format.
 * @cmd: the command's name, for messages.
 * @client: the connection, once ctl_connect() made it.
 */
struct ctl {
	const char *socket;
	enum ctl_format fmt;
	const char *cmd;
	struct pcpupool_client *client;
};

struct ctl_cmd {
	const char *name;
	int (*fn)(struct ctl *ctl, int argc, char **argv);
	bool formats;              /* takes --json and --prometheus */
	const char *help;
};

/* The command table's entry for @name, or NULL. */
const struct ctl_cmd *ctl_cmd_find(const char *name);

void ctl_err(const struct ctl *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int ctl_usage_err(const struct ctl *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *ctl_socket_path(const struct ctl *ctl);
int ctl_fail(const struct ctl *ctl, const char *pool, int err);
int ctl_connect(struct ctl *ctl);
int ctl_stats(struct ctl *ctl, const char *pool, bool need_schema, json_t **ret_stats);

#endif
