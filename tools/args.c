// SPDX-License-Identifier: MIT
/*
 * args.c - pcpupoolctl's argument parsing: the options every command takes
 * before or after its name (--socket, --json, --prometheus, --help), a
 * command's own options through getopt_long(), the usage errors for what
 * it refuses, and the checks of numbers and pool names.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "protocol.h"

#include "args.h"

/* A decimal integer in [@min, @max], nothing else. */
int args_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret_v)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret_v = v;
	return 0;
}

/* 0 if @name is a pool name, else a usage error. */
int args_pool(const struct ctl *ctl, const char *name)
{
	if (!pcp_name_valid(name))
		return ctl_usage_err(ctl, "'%s' is not a pool name (1 to %d characters of "
				     "A-Z a-z 0-9 _ . -, not starting with '.')", name, PCP_NAME_MAX);
	return 0;
}

/* Options every command takes, before or after its name.  Return an
 * ARGS_* value, or a negative exit status (a clash of formats). */
int args_common(struct ctl *ctl, int opt, const char *arg)
{
	enum ctl_format f;

	switch (opt) {
	case 's':
		ctl->socket = arg;
		return ARGS_TAKEN;
	case OPT_JSON:
	case OPT_PROMETHEUS:
		f = opt == OPT_JSON ? CTL_FMT_JSON : CTL_FMT_PROMETHEUS;
		if (ctl->fmt != CTL_FMT_HUMAN && ctl->fmt != f)
			return -ctl_usage_err(ctl, "--json and --prometheus exclude each other");
		ctl->fmt = f;
		return ARGS_TAKEN;
	case 'h':
		return ARGS_HELP;
	default:
		return ARGS_NOT_MINE;
	}
}

/* The message for the option getopt_long() just refused. */
int args_bad_option(const struct ctl *ctl, int opt, char **argv)
{
	const char *what = argv[optind - 1];

	if (opt == ':')
		return ctl_usage_err(ctl, "option '%s' needs a value", what);
	if (optopt && optopt < 0x100 && !(what[0] == '-' && what[1] == '-'))
		return ctl_usage_err(ctl, "unknown option '-%c'", optopt);
	return ctl_usage_err(ctl, "unknown or malformed option '%s'", what);
}

/**
 * args_parse() - parse a command's arguments.
 * @ctl: the tool; the common options are stored there.
 * @argc: argument count, argv[0] being the command's name.
 * @argv: the arguments.
 * @shortopts: the command's own short options (after the common ones).
 * @longopts: the command's long options, ARGS_COMMON_LONGOPTS included.
 * @own: called for each of the command's own options; returns 0 or an
 *       exit status.
 * @arg: passed to @own.
 * @min_args: positional arguments required.
 * @max_args: positional arguments allowed.
 * @ret_first: index of the first positional argument in @argv.
 *
 * Return: 0 to go on, -1 after --help (exit 0), or an exit status.
 */
int args_parse(struct ctl *ctl, int argc, char **argv, const char *shortopts,
	       const struct option *longopts,
	       int (*own)(struct ctl *ctl, int opt, const char *val, void *arg),
	       void *arg, int min_args, int max_args, int *ret_first)
{
	const struct ctl_cmd *cmd;
	char so[64];
	int opt, r, n;

	snprintf(so, sizeof(so), "%s%s", ARGS_COMMON_SHORTOPTS, shortopts);
	optind = 0;     /* glibc: start over, argv[0] is the command */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, so, longopts, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return args_bad_option(ctl, opt, argv);
		r = args_common(ctl, opt, optarg);
		if (r == ARGS_HELP) {
			cmd = ctl_cmd_find(ctl->cmd);
			if (cmd)
				fputs(cmd->help, stdout);
			return -1;
		}
		if (r < 0)
			return -r;
		if (r == ARGS_TAKEN)
			continue;
		r = own ? own(ctl, opt, optarg, arg) : args_bad_option(ctl, opt, argv);
		if (r)
			return r;
	}
	cmd = ctl_cmd_find(ctl->cmd);
	if (cmd && !cmd->formats && ctl->fmt != CTL_FMT_HUMAN)
		return ctl_usage_err(ctl, "--json and --prometheus apply to status, pools "
				     "and stats only");
	n = argc - optind;
	if (n < min_args)
		return ctl_usage_err(ctl, "missing argument");
	if (n > max_args)
		return ctl_usage_err(ctl, "unexpected argument '%s'", argv[optind + max_args]);
	*ret_first = optind;
	return 0;
}
