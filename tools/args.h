/* SPDX-License-Identifier: MIT */
/*
 * args.h - pcpupoolctl's argument parsing: the options every command
 * takes, getopt_long() over a command's own, the messages for refused
 * options, numbers and pool names.
 */
#ifndef PCPUPOOLCTL_ARGS_H
#define PCPUPOOLCTL_ARGS_H

#include <getopt.h>
#include <stdint.h>

#include "pcpupoolctl.h"

/* long options without a short form: the common ones, then the first
 * value free for a command's own */
enum { OPT_JSON = 0x100, OPT_PROMETHEUS, OPT_OWN };

#define ARGS_COMMON_LONGOPTS                                        \
	{ "socket", required_argument, NULL, 's' },                 \
	{ "json", no_argument, NULL, OPT_JSON },                    \
	{ "prometheus", no_argument, NULL, OPT_PROMETHEUS },        \
	{ "help", no_argument, NULL, 'h' }
#define ARGS_COMMON_SHORTOPTS ":s:h"

/* What args_common() made of an option. */
enum { ARGS_NOT_MINE = 0, ARGS_TAKEN, ARGS_HELP };

int args_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret_v);
int args_pool(const struct ctl *ctl, const char *name);
int args_common(struct ctl *ctl, int opt, const char *arg);
int args_bad_option(const struct ctl *ctl, int opt, char **argv);
int args_parse(struct ctl *ctl, int argc, char **argv, const char *shortopts,
	       const struct option *longopts,
	       int (*own)(struct ctl *ctl, int opt, const char *val, void *arg),
	       void *arg, int min_args, int max_args, int *ret_first);

#endif
