/* SPDX-License-Identifier: MIT */
/* message.h - the message the examples pass through the pool. */
#ifndef PCPUPOOL_EXAMPLE_MESSAGE_H
#define PCPUPOOL_EXAMPLE_MESSAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct message {
	uint64_t seq;
	uint64_t sender;
	uint64_t checksum;
	char text[232];
};

static inline uint64_t message_sum(const struct message *m)
{
	uint64_t h = 1469598103934665603ull ^ m->seq ^ (m->sender << 32);

	for (size_t i = 0; i < sizeof(m->text) && m->text[i]; i++)
		h = (h ^ (uint8_t)m->text[i]) * 1099511628211ull;
	return h;
}

static inline void message_fill(struct message *m, uint64_t seq, uint64_t sender)
{
	m->seq = seq;
	m->sender = sender;
	snprintf(m->text, sizeof(m->text), "message %llu from pid %llu",
		 (unsigned long long)seq, (unsigned long long)sender);
	m->checksum = message_sum(m);
}

static inline bool message_check(const struct message *m, uint64_t seq)
{
	return m->seq == seq && m->checksum == message_sum(m);
}

#endif
