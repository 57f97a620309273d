// SPDX-License-Identifier: MIT
/*
 * protocol.c - what the daemon, the library and the admin tool must agree
 * on beyond the constants of protocol.h: the one rule for pool names.
 */
#include "protocol.h"

#include <string.h>

/**
 * pcp_name_valid() - whether @name is a legal pool name:
 * [A-Za-z0-9_.-]{1,PCP_NAME_MAX}, not starting with '.' (names appear in
 * memfd names, log lines and fd-store names; a leading dot would read as a
 * hidden or relative name there).
 * @name: candidate, or NULL.
 *
 * Context: any; async-signal-safe.
 * Return: true if valid.
 */
bool pcp_name_valid(const char *name)
{
	size_t n = 0;

	if (!name || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++, n++) {
		char c = *p;

		if (n >= PCP_NAME_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return n > 0;
}
