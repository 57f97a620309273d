/* SPDX-License-Identifier: MIT */
/*
 * log.h - pcpupoold's logging: one line per message on stderr, prefixed
 * with its syslog priority as "<N>" so journald keeps the level.
 */
#ifndef PCPUPOOLD_LOG_H
#define PCPUPOOLD_LOG_H

#include <syslog.h>

void log_set_level(int max_prio);
int log_get_level(void);
int log_level_parse(const char *name);
const char *log_level_name(int prio);
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)     log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
