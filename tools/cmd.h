/* SPDX-License-Identifier: MIT */
/*
 * cmd.h - pcpupoolctl's commands but top and help: status, pools and stats
 * read the daemon's stats; create, resize, refill and destroy administer a
 * pool.  Each takes the command's arguments, argv[0] its name, and returns
 * the exit status.
 */
#ifndef PCPUPOOLCTL_CMD_H
#define PCPUPOOLCTL_CMD_H

#include "pcpupoolctl.h"

int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_pools(struct ctl *ctl, int argc, char **argv);
int cmd_stats(struct ctl *ctl, int argc, char **argv);
int cmd_create(struct ctl *ctl, int argc, char **argv);
int cmd_resize(struct ctl *ctl, int argc, char **argv);
int cmd_refill(struct ctl *ctl, int argc, char **argv);
int cmd_destroy(struct ctl *ctl, int argc, char **argv);

#endif
