// SPDX-License-Identifier: MIT
/*
 * log.c - priority-prefixed logging to stderr.
 *
 * The one piece of mutable file-scope state in the daemon is the maximum
 * priority to print: it is read by every log call from anywhere and set
 * once at start and on SIGHUP, from the event loop thread.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int log_max_prio = LOG_INFO;

static const char *const log_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/**
 * log_set_level() - print messages up to @max_prio (LOG_ERR..LOG_DEBUG).
 * @max_prio: syslog priority.
 *
 * Context: event loop thread.
 */
void log_set_level(int max_prio)
{
	if (max_prio >= LOG_EMERG && max_prio <= LOG_DEBUG)
		log_max_prio = max_prio;
}

/**
 * log_get_level() - the current maximum priority printed.
 *
 * Return: a syslog priority.
 */
int log_get_level(void)
{
	return log_max_prio;
}

/**
 * log_level_parse() - a level name ("err", "warning", "notice", "info",
 * "debug", also "error" and "warn") to its priority.
 * @name: the name.
 *
 * Return: the priority, or -EINVAL.
 */
int log_level_parse(const char *name)
{
	if (!name)
		return -EINVAL;
	if (!strcasecmp(name, "error"))
		return LOG_ERR;
	if (!strcasecmp(name, "warn"))
		return LOG_WARNING;
	for (int i = LOG_EMERG; i <= LOG_DEBUG; i++)
		if (!strcasecmp(name, log_names[i]))
			return i;
	return -EINVAL;
}

/**
 * log_level_name() - the name of a priority.
 * @prio: syslog priority.
 *
 * Return: a static string.
 */
const char *log_level_name(int prio)
{
	return prio >= LOG_EMERG && prio <= LOG_DEBUG ? log_names[prio] : "?";
}

/**
 * log_msg() - log one line at @prio.
 * @prio: syslog priority.
 * @fmt: printf format, without trailing newline.
 *
 * Context: event loop thread (not async-signal-safe).  errno is preserved.
 */
void log_msg(int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int saved = errno;

	if (prio > log_max_prio)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write per line: lines from a crash-looping daemon stay whole */
	fprintf(stderr, "<%d>%s\n", prio, line);
	errno = saved;
}
