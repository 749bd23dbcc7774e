#include "base/diag.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct diag_entry {
    char *file;
    int line;
    int column;
    size_t order;  /* insertion order, keeps the sort stable */
    char *message; /* the full "FILE:LINE:COLUMN: text" */
};

struct selgw_diag {
    struct diag_entry *entries;
    size_t count;
    size_t capacity;
    size_t dropped; /* entries lost to allocation failure, reported by print */
};

selgw_diag *selgw_diag_new(void)
{
    return calloc(1, sizeof(selgw_diag));
}

void selgw_diag_free(selgw_diag *diag)
{
    if (!diag)
        return;
    for (size_t i = 0; i < diag->count; i++) {
        free(diag->entries[i].file);
        free(diag->entries[i].message);
    }
    free(diag->entries);
    free(diag);
}

void selgw_diag_add(selgw_diag *diag, const char *file, int line, int column, const char *fmt, ...)
{
    if (!diag)
        return;
    if (diag->count == diag->capacity) {
        size_t cap = diag->capacity ? diag->capacity * 2 : 16;
        struct diag_entry *grown = realloc(diag->entries, cap * sizeof(*grown));
        if (!grown) {
            diag->dropped++;
            return;
        }
        diag->entries = grown;
        diag->capacity = cap;
    }
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0) {
        diag->dropped++;
        return;
    }
    if (!file)
        file = "<input>";
    char *message = NULL;
    if (line > 0 && column > 0)
        n = asprintf(&message, "%s:%d:%d: %s", file, line, column, text);
    else if (line > 0)
        n = asprintf(&message, "%s:%d: %s", file, line, text);
    else
        n = asprintf(&message, "%s: %s", file, text);
    free(text);
    char *file_copy = strdup(file);
    if (n < 0 || !file_copy) {
        if (n >= 0)
            free(message);
        free(file_copy);
        diag->dropped++;
        return;
    }
    /* the order is the count before this entry: read it before the count moves on (using and
     * incrementing it in one expression would be unsequenced) */
    size_t order = diag->count;
    diag->entries[order] = (struct diag_entry){
        .file = file_copy, .line = line, .column = column, .order = order, .message = message};
    diag->count = order + 1;
}

size_t selgw_diag_count(const selgw_diag *diag)
{
    return diag ? diag->count + diag->dropped : 0;
}

const char *selgw_diag_message(const selgw_diag *diag, size_t i)
{
    if (!diag || i >= diag->count)
        return "(diagnostic lost: out of memory)";
    return diag->entries[i].message;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct diag_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

void selgw_diag_sort(selgw_diag *diag)
{
    if (diag && diag->count > 1)
        qsort(diag->entries, diag->count, sizeof(*diag->entries), entry_cmp);
}

void selgw_diag_print(selgw_diag *diag, FILE *out)
{
    if (!diag)
        return;
    selgw_diag_sort(diag);
    /* Under journald each line is an error of its own, not info (a rejected reload). */
    const char *prefix = out == stderr ? selgw_log_journal_prefix(SELGW_LOG_ERROR) : "";
    for (size_t i = 0; i < diag->count; i++)
        fprintf(out, "%s%s\n", prefix, diag->entries[i].message);
    if (diag->dropped)
        fprintf(out, "%s(%zu more diagnostics lost: out of memory)\n", prefix, diag->dropped);
}
