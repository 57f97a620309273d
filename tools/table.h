/* SPDX-License-Identifier: MIT */
/*
 * table.h - text tables for pcpupoolctl's human output: rows of cells,
 * printed with each column as wide as its widest cell.
 */
#ifndef PCPUPOOLCTL_TABLE_H
#define PCPUPOOLCTL_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TABLE_MAX_COLS       16
#define TABLE_CELL           72         /* a pool name (63) fits */

/**
 * struct table - rows of cells printed with columns as wide as needed.
 * @ncols: columns.
 * @head: column titles.
 * @left: left-align the column (numbers go right).
 * @nrows: rows filled.
 * @cap: rows allocated.
 * @cells: @nrows rows of @ncols cells.
 */
struct table {
	int ncols;
	const char *head[TABLE_MAX_COLS];
	bool left[TABLE_MAX_COLS];
	size_t nrows, cap;
	char (*cells)[TABLE_MAX_COLS][TABLE_CELL];
};

void table_free(struct table *t);
char (*table_row(struct table *t))[TABLE_CELL];
void table_print(const struct table *t, FILE *f, const char *indent);
void table_cell_int(char *cell, json_t *o, const char *key);
void table_cell_us(char *cell, json_t *o, const char *key);

#endif
