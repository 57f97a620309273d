/* SPDX-License-Identifier: MIT */
/*
 * prom.h - pcpupoolctl --prometheus: the daemon's stats in the Prometheus
 * text exposition format 0.0.4.
 */
#ifndef PCPUPOOLCTL_PROM_H
#define PCPUPOOLCTL_PROM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

void prom_daemon_out(FILE *f, json_t *d);
void prom_pools_out(FILE *f, json_t *pools, bool cpus);

#endif
