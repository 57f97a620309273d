/* SPDX-License-Identifier: MIT */
/*
 * cmd.h - the control protocol's commands.
 */
#ifndef PCPUPOOLD_CMD_H
#define PCPUPOOLD_CMD_H

#include <stddef.h>

struct conn;

void cmd_dispatch(struct conn *c, const char *line, size_t n);

#endif
