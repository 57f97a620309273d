/* SPDX-License-Identifier: MIT */
/*
 * ctl.h - the control socket: connections, JSON requests, attachments and
 * their refill channels.
 */
#ifndef PCPUPOOLD_CTL_H
#define PCPUPOOLD_CTL_H

#include "daemon.h"

int ctl_open(struct daemon *d, int listen_fd);
void ctl_close(struct ctl *ctl);
unsigned ctl_nr_clients(const struct ctl *ctl);
int ctl_bind(const char *path, int *ret_fd);
void ctl_watch_holders(struct ctl *ctl);

#endif
