/* SPDX-License-Identifier: MIT */
/*
 * print.h - pcpupoolctl's output of status, pools and stats for humans
 * (text and tables) and for scripts (JSON), and the safe printing of the
 * daemon's strings.
 */
#ifndef PCPUPOOLCTL_PRINT_H
#define PCPUPOOLCTL_PRINT_H

#include <jansson.h>
#include <stddef.h>

#define PRINT_SAFE_MAX       128        /* bytes of a daemon string shown */

const char *print_safe(const char *s, char *buf, size_t n);
void print_duration(char *buf, size_t n, json_int_t s);
void print_status(json_t *stats);
void print_pools(json_t *stats);
void print_stats(json_t *stats);
int print_json(json_t *o);
json_t *print_pools_json(json_t *stats);

#endif
