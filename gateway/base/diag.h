/* selgw: a list of diagnostics, each "FILE:LINE:COLUMN: message".
 *
 * Config and profile loading report every problem they find into one of these instead of
 * stopping at the first, so that an operator fixes a file in one pass. */
#ifndef SELGW_DIAG_H
#define SELGW_DIAG_H

#include <stddef.h>
#include <stdio.h>

typedef struct selgw_diag selgw_diag;

selgw_diag *selgw_diag_new(void);
void selgw_diag_free(selgw_diag *diag); /* NULL is fine */

/* line and column are 1-based; 0 means "unknown" and is left out of the message. */
void selgw_diag_add(selgw_diag *diag, const char *file, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

size_t selgw_diag_count(const selgw_diag *diag);

/* The i-th message in the order of selgw_diag_sort (or of addition before sorting). */
const char *selgw_diag_message(const selgw_diag *diag, size_t i);

/* Sorts by file, then line, then column, keeping the order of equal positions. */
void selgw_diag_sort(selgw_diag *diag);

/* Sorts, then prints one message a line. */
void selgw_diag_print(selgw_diag *diag, FILE *out);

#endif
