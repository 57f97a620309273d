// SPDX-License-Identifier: MIT
/*
 * table.c - text tables for pcpupoolctl's human output (pools, stats,
 * top): rows of fixed-size cells filled from the daemon's stats, printed
 * with each column as wide as its widest cell, names left, numbers right.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

void table_free(struct table *t)
{
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* A new row (cells empty), or NULL when out of memory. */
char (*table_row(struct table *t))[TABLE_CELL]
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		void *n = realloc(t->cells, ncap * sizeof(*t->cells));

		if (!n)
			return NULL;
		t->cells = n;
		t->cap = ncap;
	}
	memset(t->cells[t->nrows], 0, sizeof(*t->cells));
	return t->cells[t->nrows++];
}

/* @t, its titles first, each line after @indent. */
void table_print(const struct table *t, FILE *f, const char *indent)
{
	size_t w[TABLE_MAX_COLS];

	for (int c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++)
			if (strlen(t->cells[r][c]) > w[c])
				w[c] = strlen(t->cells[r][c]);
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		fputs(indent, f);
		for (int c = 0; c < t->ncols; c++) {
			const char *s = r ? t->cells[r - 1][c] : t->head[c];
			bool last = c == t->ncols - 1;

			if (t->left[c])
				fprintf(f, "%-*s", last ? 0 : (int)w[c], s);
			else
				fprintf(f, "%*s", (int)w[c], s);
			fputs(last ? "\n" : "  ", f);
		}
	}
}

/* A cell with the integer field @key of @o, or "-". */
void table_cell_int(char *cell, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		snprintf(cell, TABLE_CELL, "%lld", (long long)json_integer_value(v));
	else
		snprintf(cell, TABLE_CELL, "-");
}

/* A cell with the number field @key of @o, microseconds to 0.1, or "-". */
void table_cell_us(char *cell, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_number(v))
		snprintf(cell, TABLE_CELL, "%.1f", json_number_value(v));
	else
		snprintf(cell, TABLE_CELL, "-");
}
