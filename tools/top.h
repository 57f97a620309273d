/* SPDX-License-Identifier: MIT */
/*
 * top.h - pcpupoolctl top: the live full-screen view of the pools.
 */
#ifndef PCPUPOOLCTL_TOP_H
#define PCPUPOOLCTL_TOP_H

#include "pcpupoolctl.h"

int top_cmd(struct ctl *ctl, int argc, char **argv);

#endif
