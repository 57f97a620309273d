// SPDX-License-Identifier: MIT
/*
 * test_exports.c - the shared library exports exactly the public API: the
 * functions declared in include/pcpupool.h, nothing more (no slab_*, no
 * helpers) and nothing less, all under the version node, with the SONAME.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MAX_SYMS 128

struct symset {
	char *name[MAX_SYMS];
	int n;
};

static void add(struct symset *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return;
	assert_true(s->n < MAX_SYMS);
	s->name[s->n++] = strdup(name);
}

static int has(const struct symset *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return 1;
	return 0;
}

static void drop(struct symset *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->name[i]);
}

/* Functions the installed header @path declares: "pcpupool_xxx(" at a
 * declaration. */
static void header_api_of(struct symset *s, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	regex_t re;
	regmatch_t m[2];

	assert_non_null(f);
	assert_int_equal(regcomp(&re, "[ *](pcpupool_[a-z0-9_]+)\\(", REG_EXTENDED), 0);
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == ' ' || line[0] == '\t' || line[0] == '/' || line[0] == '#')
			continue;   /* continuation lines, comments, macros */
		if (regexec(&re, line, 2, m, 0) == 0) {
			line[m[1].rm_eo] = '\0';
			add(s, line + m[1].rm_so);
		}
	}
	regfree(&re);
	fclose(f);
}

/* ... of pcpupool.h and the headers it includes (the inline ABI). */
static void header_api(struct symset *s)
{
	header_api_of(s, "include/pcpupool.h");
	header_api_of(s, "include/pcpupool/inline.h");
	header_api_of(s, "include/pcpupool/rseq-x86_64.h");
}

static void test_exports_match_public_header(void **state)
{
	struct symset api = { 0 }, got = { 0 };
	char cmd[512], line[512];
	FILE *p;

	(void)state;
	header_api(&api);
	assert_true(api.n >= 18);
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only %s", LIB_SO);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char addr[64], type[8], name[256];
		if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3)
			continue;
		if (!strcmp(type, "A"))   /* the version node itself */
			continue;
		char *at = strchr(name, '@');
		if (at)
			*at = '\0';
		add(&got, name);
	}
	assert_int_equal(pclose(p), 0);
	for (int i = 0; i < got.n; i++) {
		if (!has(&api, got.name[i]))
			print_error("exported but not in pcpupool.h: %s\n", got.name[i]);
		assert_true(has(&api, got.name[i]));
	}
	for (int i = 0; i < api.n; i++) {
		if (!has(&got, api.name[i]))
			print_error("declared in pcpupool.h but not exported: %s\n", api.name[i]);
		assert_true(has(&got, api.name[i]));
	}
	drop(&api);
	drop(&got);
}

static void test_soname_and_version_node(void **state)
{
	char cmd[512], line[512];
	int soname = 0, versioned = 0;
	FILE *p;

	(void)state;
	snprintf(cmd, sizeof(cmd), "objdump -p %s; nm -D --defined-only %s", LIB_SO, LIB_SO);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		if (strstr(line, "SONAME") && strstr(line, "libpcpupool.so.1"))
			soname = 1;
		if (strstr(line, "pcpupool_alloc@@PCPUPOOL_1.0"))
			versioned = 1;
	}
	assert_int_equal(pclose(p), 0);
	assert_true(soname);
	assert_true(versioned);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exports_match_public_header),
		cmocka_unit_test(test_soname_and_version_node),
	};
	return cmocka_run_group_tests_name("exports", tests, NULL, NULL);
}
