#include "base/yaml.h"

#include <errno.h>
#include <libfyaml.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/safe_text.h"

struct selgw_yaml {
    char *file;               /* display name */
    char *text;               /* the input; libfyaml points into it */
    struct fy_diag *fy_diag;  /* collects libfyaml's errors instead of printing them */
    struct fy_parser *parser; /* owns the document */
    struct fy_document *doc;
    selgw_diag *diag;
    unsigned errors;
};

/* libfyaml writes through this when it is not collecting (and a summary line even when it
 * is); the messages we want are taken from the collected errors, so drop the text. */
static void discard_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

void selgw_yaml_free(selgw_yaml *yaml)
{
    if (!yaml)
        return;
    if (yaml->doc)
        fy_parse_document_destroy(yaml->parser, yaml->doc);
    if (yaml->parser)
        fy_parser_destroy(yaml->parser);
    if (yaml->fy_diag)
        fy_diag_destroy(yaml->fy_diag);
    free(yaml->text);
    free(yaml->file);
    free(yaml);
}

struct fy_node *selgw_yaml_root(const selgw_yaml *yaml)
{
    return yaml && yaml->doc ? fy_document_root(yaml->doc) : NULL;
}

const char *selgw_yaml_file(const selgw_yaml *yaml)
{
    return yaml ? yaml->file : NULL;
}

unsigned selgw_yaml_error_count(const selgw_yaml *yaml)
{
    return yaml ? yaml->errors : 0;
}

selgw_yaml_pos selgw_yaml_node_pos(struct fy_node *node)
{
    selgw_yaml_pos pos = {0, 0};
    if (!node)
        return pos;
    /* libfyaml 0.7.12 has no public start mark for a node; the first event of the node,
     * replayed by a document iterator, carries it (for block collections that is their
     * first key or dash, for flow collections the bracket). */
    struct fy_document_iterator *iter = fy_document_iterator_create();
    if (!iter)
        return pos;
    fy_document_iterator_node_start(iter, node);
    struct fy_event *event = fy_document_iterator_body_next(iter);
    if (event) {
        const struct fy_mark *mark = fy_event_start_mark(event);
        if (mark) {
            pos.line = mark->line + 1;
            pos.column = mark->column + 1;
            /* the mark of a quoted scalar is its first character inside the quote; point at
             * the opening quote, where the value starts for a reader */
            enum fy_node_style style = fy_node_get_style(node);
            if ((style == FYNS_SINGLE_QUOTED || style == FYNS_DOUBLE_QUOTED) && pos.column > 1)
                pos.column--;
        }
        fy_document_iterator_event_free(iter, event);
    }
    fy_document_iterator_destroy(iter);
    return pos;
}

static void add_error(selgw_yaml *yaml, selgw_yaml_pos pos, const char *fmt, va_list ap)
{
    yaml->errors++;
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0) {
        selgw_diag_add(yaml->diag, yaml->file, pos.line, pos.column, "(out of memory)");
        return;
    }
    selgw_diag_add(yaml->diag, yaml->file, pos.line, pos.column, "%s", text);
    free(text);
}

void selgw_yaml_error(selgw_yaml *yaml, struct fy_node *node, const char *fmt, ...)
{
    selgw_yaml_pos pos = node ? selgw_yaml_node_pos(node) : (selgw_yaml_pos){1, 1};
    va_list ap;
    va_start(ap, fmt);
    add_error(yaml, pos, fmt, ap);
    va_end(ap);
}

void selgw_yaml_error_at(selgw_yaml *yaml, selgw_yaml_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error(yaml, pos, fmt, ap);
    va_end(ap);
}

/* ---- node shape ---- */

bool selgw_yaml_is_null(struct fy_node *node)
{
    if (!node)
        return false;
    if (fy_node_is_null(node))
        return true;
    if (!fy_node_is_scalar(node) || fy_node_get_style(node) != FYNS_PLAIN)
        return false;
    const char *text = fy_node_get_scalar0(node);
    return text && (!*text || !strcmp(text, "~") || !strcmp(text, "null") ||
                    !strcmp(text, "Null") || !strcmp(text, "NULL"));
}

bool selgw_yaml_is_mapping(struct fy_node *node)
{
    return node && fy_node_is_mapping(node);
}

bool selgw_yaml_is_sequence(struct fy_node *node)
{
    return node && fy_node_is_sequence(node);
}

bool selgw_yaml_is_scalar(struct fy_node *node)
{
    return node && fy_node_is_scalar(node) && !fy_node_is_alias(node) && !selgw_yaml_is_null(node);
}

const char *selgw_yaml_text(struct fy_node *node)
{
    if (!node || !fy_node_is_scalar(node) || fy_node_is_alias(node))
        return NULL;
    const char *text = fy_node_get_scalar0(node);
    return text ? text : "";
}

struct fy_node *selgw_yaml_get(struct fy_node *map, const char *key, struct fy_node **key_node)
{
    if (key_node)
        *key_node = NULL;
    if (!selgw_yaml_is_mapping(map))
        return NULL;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(map, &iter))) {
        struct fy_node *k = fy_node_pair_key(pair);
        const char *text = selgw_yaml_text(k);
        if (text && !strcmp(text, key)) {
            if (key_node)
                *key_node = k;
            return fy_node_pair_value(pair);
        }
    }
    return NULL;
}

size_t selgw_yaml_count(struct fy_node *node)
{
    int n = -1;
    if (selgw_yaml_is_sequence(node))
        n = fy_node_sequence_item_count(node);
    else if (selgw_yaml_is_mapping(node))
        n = fy_node_mapping_item_count(node);
    return n > 0 ? (size_t)n : 0;
}

struct fy_node *selgw_yaml_seq_next(struct fy_node *seq, void **iter)
{
    return selgw_yaml_is_sequence(seq) ? fy_node_sequence_iterate(seq, iter) : NULL;
}

bool selgw_yaml_map_next(struct fy_node *map, void **iter, struct fy_node **key,
                         struct fy_node **value)
{
    if (!selgw_yaml_is_mapping(map))
        return false;
    struct fy_node_pair *pair = fy_node_mapping_iterate(map, iter);
    if (!pair)
        return false;
    *key = fy_node_pair_key(pair);
    *value = fy_node_pair_value(pair);
    return true;
}

/* A short description of a node for "expected X, got Y" messages. */
static void describe(struct fy_node *node, char *buf, size_t size)
{
    if (!node || selgw_yaml_is_null(node))
        snprintf(buf, size, "nothing");
    else if (fy_node_is_mapping(node))
        snprintf(buf, size, "a mapping");
    else if (fy_node_is_sequence(node))
        snprintf(buf, size, "a sequence");
    else if (fy_node_is_alias(node))
        snprintf(buf, size, "an alias");
    else {
        const char *text = selgw_yaml_text(node);
        size_t len = strlen(text);
        if (len > 40)
            snprintf(buf, size, "'%.37s...'", text);
        else
            snprintf(buf, size, "'%s'", text);
    }
}

void selgw_yaml_type_error(selgw_yaml *yaml, struct fy_node *node, const char *what,
                           const char *expected)
{
    char got[64];
    describe(node, got, sizeof(got));
    selgw_yaml_error(yaml, node, "%s: expected %s, got %s", what, expected, got);
}

bool selgw_yaml_check_sequence(selgw_yaml *yaml, struct fy_node *node, const char *what)
{
    if (selgw_yaml_is_sequence(node))
        return true;
    selgw_yaml_type_error(yaml, node, what, "a sequence");
    return false;
}

bool selgw_yaml_check_keys(selgw_yaml *yaml, struct fy_node *node, const char *what,
                           const char *const *allowed)
{
    if (!selgw_yaml_is_mapping(node)) {
        selgw_yaml_type_error(yaml, node, what, "a mapping");
        return false;
    }
    void *iter = NULL;
    struct fy_node *key, *value;
    while (selgw_yaml_map_next(node, &iter, &key, &value)) {
        const char *text = selgw_yaml_text(key);
        if (!text || selgw_yaml_is_null(key)) {
            selgw_yaml_error(yaml, key, "keys in %s must be plain names", what);
            continue;
        }
        bool known = false;
        for (size_t i = 0; allowed[i]; i++)
            if (!strcmp(allowed[i], text)) {
                known = true;
                break;
            }
        if (known)
            continue;
        const char *guess = selgw_closest(text, allowed);
        if (guess)
            selgw_yaml_error(yaml, key, "unknown key '%s' in %s (did you mean '%s'?)", text, what,
                             guess);
        else
            selgw_yaml_error(yaml, key, "unknown key '%s' in %s", text, what);
    }
    return true;
}

/* ---- typed reads ---- */

/* Plain or quoted scalar text, or NULL (and an error) for anything else. */
static const char *scalar_or_error(selgw_yaml *yaml, struct fy_node *node, const char *what,
                                   const char *expected)
{
    if (!selgw_yaml_is_scalar(node)) {
        selgw_yaml_type_error(yaml, node, what, expected);
        return NULL;
    }
    return selgw_yaml_text(node);
}

/* Numbers and booleans must be plain: a quoted "12" is a string in YAML. */
static const char *plain_or_error(selgw_yaml *yaml, struct fy_node *node, const char *what,
                                  const char *expected)
{
    const char *text = scalar_or_error(yaml, node, what, expected);
    if (text && fy_node_get_style(node) != FYNS_PLAIN) {
        selgw_yaml_type_error(yaml, node, what, expected);
        return NULL;
    }
    return text;
}

bool selgw_yaml_string(selgw_yaml *yaml, struct fy_node *node, const char *what, char **out)
{
    const char *text = scalar_or_error(yaml, node, what, "a string");
    if (!text)
        return false;
    char *copy = strdup(text);
    if (!copy) {
        selgw_yaml_error(yaml, node, "%s: out of memory", what);
        return false;
    }
    *out = copy;
    return true;
}

bool selgw_yaml_int(selgw_yaml *yaml, struct fy_node *node, const char *what, int64_t *out)
{
    const char *text = plain_or_error(yaml, node, what, "an integer");
    if (!text)
        return false;
    if (!selgw_parse_int(text, out)) {
        selgw_yaml_type_error(yaml, node, what, "an integer");
        return false;
    }
    return true;
}

bool selgw_yaml_double(selgw_yaml *yaml, struct fy_node *node, const char *what, double *out)
{
    const char *text = plain_or_error(yaml, node, what, "a number");
    if (!text)
        return false;
    if (!selgw_parse_double(text, out)) {
        selgw_yaml_type_error(yaml, node, what, "a number");
        return false;
    }
    return true;
}

bool selgw_yaml_bool(selgw_yaml *yaml, struct fy_node *node, const char *what, bool *out)
{
    const char *text = plain_or_error(yaml, node, what, "true or false");
    if (!text)
        return false;
    if (!selgw_parse_bool(text, out)) {
        selgw_yaml_type_error(yaml, node, what, "true or false");
        return false;
    }
    return true;
}

bool selgw_yaml_duration_ms(selgw_yaml *yaml, struct fy_node *node, const char *what, int64_t *out)
{
    static const char expected[] = "a duration such as 500ms, 30s, 5m, 1h or 1d";
    const char *text = scalar_or_error(yaml, node, what, expected);
    if (!text)
        return false;
    if (!selgw_parse_duration_ms(text, out)) {
        selgw_yaml_type_error(yaml, node, what, expected);
        return false;
    }
    return true;
}

bool selgw_yaml_size_bytes(selgw_yaml *yaml, struct fy_node *node, const char *what, uint64_t *out)
{
    static const char expected[] = "a size such as 1048576, 512KiB, 64MiB or 2GiB";
    const char *text = scalar_or_error(yaml, node, what, expected);
    if (!text)
        return false;
    if (!selgw_parse_size_bytes(text, out)) {
        selgw_yaml_type_error(yaml, node, what, expected);
        return false;
    }
    return true;
}

bool selgw_yaml_date(selgw_yaml *yaml, struct fy_node *node, const char *what, int32_t *out)
{
    static const char expected[] = "a date YYYY-MM-DD";
    const char *text = scalar_or_error(yaml, node, what, expected);
    if (!text)
        return false;
    if (!selgw_parse_date(text, out)) {
        selgw_yaml_type_error(yaml, node, what, expected);
        return false;
    }
    return true;
}

/* ---- text parsers ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool selgw_parse_int(const char *text, int64_t *out)
{
    if (!text)
        return false;
    const char *p = text;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        p += 2;
        if (!*p)
            return false;
        uint64_t value = 0;
        for (; *p; p++) {
            int digit = hex_value(*p);
            if (digit < 0 || value > ((uint64_t)INT64_MAX >> 4))
                return false;
            value = value << 4 | (uint64_t)digit;
        }
        if (value > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)value;
        return true;
    }
    bool negative = false;
    if (*p == '+' || *p == '-')
        negative = *p++ == '-';
    if (!*p)
        return false;
    /* Decimal only: a leading zero does not mean octal in a config an operator writes. */
    uint64_t value = 0;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *p; p++) {
        if (!is_digit(*p))
            return false;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (limit - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    if (negative)
        *out = value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)value;
    else
        *out = (int64_t)value;
    return true;
}

bool selgw_parse_double(const char *text, double *out)
{
    if (!text || !*text)
        return false;
    /* Only decimal notation: strtod alone would also take "nan", "inf" and hex floats. */
    const char *p = text;
    if (*p == '+' || *p == '-')
        p++;
    bool digits = false;
    while (is_digit(*p)) {
        p++;
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (is_digit(*p)) {
            p++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!is_digit(*p))
            return false;
        while (is_digit(*p))
            p++;
    }
    if (*p)
        return false;
    errno = 0;
    char *end = NULL;
    double value = strtod(text, &end);
    if (end != p || !isfinite(value))
        return false;
    *out = value;
    return true;
}

bool selgw_parse_bool(const char *text, bool *out)
{
    if (!text)
        return false;
    if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "TRUE")) {
        *out = true;
        return true;
    }
    if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "FALSE")) {
        *out = false;
        return true;
    }
    return false;
}

bool selgw_parse_duration_ms(const char *text, int64_t *out)
{
    if (!text)
        return false;
    /* number part: digits with an optional fraction, no sign */
    const char *p = text;
    const char *start = p;
    while (is_digit(*p))
        p++;
    if (*p == '.') {
        p++;
        while (is_digit(*p))
            p++;
    }
    size_t number_len = (size_t)(p - start);
    if (number_len == 0 || (number_len == 1 && *start == '.') || number_len > 30)
        return false;
    char number[32];
    memcpy(number, start, number_len);
    number[number_len] = 0;
    double factor;
    if (!*p || !strcmp(p, "s"))
        factor = 1000;
    else if (!strcmp(p, "ms"))
        factor = 1;
    else if (!strcmp(p, "m") || !strcmp(p, "min"))
        factor = 60e3;
    else if (!strcmp(p, "h"))
        factor = 3600e3;
    else if (!strcmp(p, "d"))
        factor = 86400e3;
    else
        return false;
    double value;
    if (!selgw_parse_double(number, &value))
        return false;
    double ms = value * factor;
    /* whole milliseconds only; a tiny tolerance absorbs binary fractions like 0.1s */
    double rounded = nearbyint(ms);
    if (fabs(ms - rounded) > 1e-6 * (1 + fabs(ms)) || rounded > 1e15)
        return false;
    *out = (int64_t)rounded;
    return true;
}

bool selgw_parse_size_bytes(const char *text, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t factor;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"KiB", UINT64_C(1) << 10},
        {"MiB", UINT64_C(1) << 20},
        {"GiB", UINT64_C(1) << 30},
        {"TiB", UINT64_C(1) << 40},
        {"kB", 1000},
        {"KB", 1000},
        {"MB", 1000000},
        {"GB", 1000000000},
        {"TB", UINT64_C(1000000000000)},
    };
    const uint64_t limit = UINT64_C(1) << 53;
    if (!text)
        return false;
    /* number part: digits with an optional fraction, no sign */
    const char *p = text;
    uint64_t whole = 0;
    while (is_digit(*p)) {
        whole = whole * 10 + (uint64_t)(*p - '0');
        if (whole > limit)
            return false;
        p++;
    }
    const char *digits_end = p;
    bool fraction = *p == '.';
    if (fraction) {
        p++;
        while (is_digit(*p))
            p++;
    }
    size_t number_len = (size_t)(p - text);
    if (number_len == 0 || (number_len == 1 && fraction) || number_len > 30)
        return false;
    uint64_t factor = 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(p, units[i].unit))
            factor = units[i].factor;
    /* a bare number counts whole bytes: "1.5" is not a size */
    if (factor <= 1 && fraction)
        return false;
    if (factor == 0)
        return false;
    if (!fraction) {
        if (digits_end == text || whole > limit / factor)
            return false;
        *out = whole * factor;
        return true;
    }
    char number[32];
    memcpy(number, text, number_len);
    number[number_len] = 0;
    double value;
    if (!selgw_parse_double(number, &value))
        return false;
    /* exact for the binary units; a decimal fraction of a decimal unit ("1.5MB") comes out
     * whole after rounding away the binary representation error */
    double bytes = value * (double)factor;
    double rounded = nearbyint(bytes);
    if (fabs(bytes - rounded) > 1e-6 * (1 + bytes) || rounded > (double)limit)
        return false;
    *out = (uint64_t)rounded;
    return true;
}

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar. */
size_t selgw_edit_distance(const char *a, const char *b)
{
    /* optimal string alignment: insertions, deletions, substitutions and transpositions of
     * neighbours ("ordre" for "order") each count one */
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return la > lb ? la : lb;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* The last part of a name after '_', '-' or '.', e.g. "ph" of "soil_ph". */
static const char *last_part(const char *name)
{
    const char *part = name;
    for (const char *p = name; *p; p++)
        if (*p == '_' || *p == '-' || *p == '.')
            part = p + 1;
    return part;
}

/* "soil_ph" is two edits from "soil_ec", yet nobody types one for the other: a candidate
 * whose distinctive last part shares nothing with the word's is not a likely typo. */
static bool different_last_part(const char *word, const char *candidate)
{
    const char *a = last_part(word), *b = last_part(candidate);
    size_t la = strlen(a), lb = strlen(b);
    size_t longest = la > lb ? la : lb;
    return (a != word || b != candidate) && longest >= 2 && selgw_edit_distance(a, b) >= longest;
}

const char *selgw_closest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_distance = SIZE_MAX;
    size_t len = strlen(word);
    /* a third of the word's length, at least one edit and at most three */
    size_t threshold = len / 3;
    if (threshold < 1)
        threshold = 1;
    if (threshold > 3)
        threshold = 3;
    for (size_t i = 0; candidates[i]; i++) {
        size_t d = selgw_edit_distance(word, candidates[i]);
        if (d < best_distance && !different_last_part(word, candidates[i])) {
            best_distance = d;
            best = candidates[i];
        }
    }
    if (best_distance <= threshold)
        return best;
    /* an abbreviation of exactly one candidate ("lat" for "latitude") */
    const char *prefixed = NULL;
    for (size_t i = 0; len >= 3 && candidates[i]; i++) {
        if (strncmp(candidates[i], word, len))
            continue;
        if (prefixed)
            return NULL;
        prefixed = candidates[i];
    }
    return prefixed;
}

/* ---- loading ---- */

/* Reports every duplicate key of every mapping under node. libfyaml is told to accept
 * them so that loading goes on and the other errors of the file are found as well. */
static void check_duplicate_keys(selgw_yaml *yaml, struct fy_node *node, int depth)
{
    if (!node || depth > 200)
        return;
    if (fy_node_is_sequence(node)) {
        void *iter = NULL;
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(node, &iter)))
            check_duplicate_keys(yaml, item, depth + 1);
        return;
    }
    if (!fy_node_is_mapping(node))
        return;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(node, &iter))) {
        struct fy_node *key = fy_node_pair_key(pair);
        const char *text = selgw_yaml_text(key);
        if (text && !strcmp(text, "<<") && fy_node_get_style(key) == FYNS_PLAIN) {
            /* libfyaml 0.7.12 rejects a merged key given again beside the merge, which
             * is the point of merging, so merges are refused here with a clear word */
            selgw_yaml_error(yaml, key, "merge keys ('<<') are not supported: write the keys out");
        } else if (text) {
            void *earlier_iter = NULL;
            struct fy_node_pair *earlier;
            while ((earlier = fy_node_mapping_iterate(node, &earlier_iter)) != pair) {
                struct fy_node *earlier_key = fy_node_pair_key(earlier);
                const char *earlier_text = selgw_yaml_text(earlier_key);
                if (earlier_text && !strcmp(earlier_text, text)) {
                    selgw_yaml_pos first = selgw_yaml_node_pos(earlier_key);
                    selgw_yaml_error(yaml, key, "duplicate key '%s' (first at %d:%d)", text,
                                     first.line, first.column);
                    break;
                }
            }
        }
        check_duplicate_keys(yaml, fy_node_pair_value(pair), depth + 1);
    }
}

/* libfyaml's messages speak of scalars and flow mappings; an operator editing a config in
 * the field needs to know what to change. The parser's words stay at the end, in
 * parentheses, for anyone who knows YAML. Matched by the start of libfyaml's message. */
static const struct {
    const char *start;
    const char *plain;
} fy_plain_words[] = {
    {"wrongly indented", "a text in quotes is not closed, or its next line is not indented: "
                         "check the quotes on this line and the line before"},
    {"missing comma in flow", "a list in [ ] or { } lacks a comma or its closing bracket"},
    {"flow sequence without a closing bracket", "a list in [ ] has no closing ]"},
    {"invalid indentation", "this line is indented differently from the keys around it: keys "
                            "of the same level start in the same column"},
    {"invalid nested block mapping on the same line",
     "two 'key:' on one line: a value with ': ' in it must be in quotes"},
    {"invalid block mapping key on same line", "two keys on one line: put each key on a line "
                                               "of its own"},
    {"block sequence on the same line", "a '- ' item starts on the line of a key: put it on the "
                                        "next line, indented"},
    {"could not find expected ':'", "a key without ':' (or a line that should be part of the "
                                    "line before)"},
    {"missing ':'", "a key without ':'"},
    {"invalid trailing content", "text after a closing quote: put the whole value in the quotes"},
    {"plain scalar cannot start with", "a value starts with a character YAML reserves (such as "
                                       "@, `, % or *): put the value in quotes"},
    {"invalid escape", "a backslash in double quotes that YAML does not know: write \\\\ for "
                       "a backslash, or use single quotes"},
    {"invalid comment without whitespace", "a '#' comment needs a space before it"},
    {"invalid alias", "a '*' starts an alias: put the value in quotes"},
};

static void take_fy_errors(selgw_yaml *yaml)
{
    void *iter = NULL;
    struct fy_diag_error *err;
    while ((err = fy_diag_errors_iterate(yaml->fy_diag, &iter))) {
        if (err->type < FYET_ERROR)
            continue;
        const char *msg = err->msg ? err->msg : "YAML syntax error";
        const char *plain = NULL;
        for (size_t i = 0; !plain && i < sizeof fy_plain_words / sizeof fy_plain_words[0]; i++)
            if (!strncmp(msg, fy_plain_words[i].start, strlen(fy_plain_words[i].start)))
                plain = fy_plain_words[i].plain;
        selgw_yaml_pos pos = {err->line, err->column};
        if (plain)
            selgw_yaml_error_at(yaml, pos, "%s (YAML: %s)", plain, msg);
        else
            selgw_yaml_error_at(yaml, pos, "YAML syntax: %s", msg);
    }
}

/* YAML is Unicode text; a file in another encoding (GBK from a Chinese editor, a byte
 * damaged on an SD card) is refused here, where it is, before the parser sees it:
 * libfyaml 0.7.12 loops forever on some such bytes (its issue #101). */
/* The longest run of apostrophes given to the parser. libfyaml 0.7.12 (Debian 12) misreads
 * two escaped quotes in a row ('''') inside a single-quoted scalar: the text comes out
 * wrong, and often a buffer is lost (found by fuzzing the profile reader; every run of at
 * most three read right in a randomised check, most of four or more did not). Runs up to
 * three cover 'it''s', '''quoted''' and an escape at either end. */
#define APOSTROPHE_RUN_MAX 3

/* Text libfyaml can be given: UTF-8 (on some other bytes libfyaml 0.7.12 hangs), without a
 * run of apostrophes it misreads, and without tabs: it crashes (a NULL write in its cleanup)
 * on a tab after a key's ':' inside a complex key ("? a:\t? d", found by fuzzing), and YAML
 * indents with spaces anyway. The first problem is reported where it is. */
static bool text_is_parseable(selgw_yaml *yaml)
{
    const unsigned char *p = (const unsigned char *)yaml->text;
    size_t n = strlen(yaml->text);
    int line = 1, column = 1;
    int run = 0, run_column = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t seq = p[i] < 0x80 ? 1 : selgw_utf8_sequence(p + i, n - i, &cp);
        if (seq == 0) {
            selgw_yaml_error_at(yaml, (selgw_yaml_pos){line, column},
                                "byte 0x%02x is not UTF-8: save the file as UTF-8 (was it "
                                "written in another encoding, such as GBK?)",
                                p[i]);
            return false;
        }
        if (p[i] == '\t') {
            selgw_yaml_error_at(yaml, (selgw_yaml_pos){line, column},
                                "a tab: YAML indents and separates with spaces only (replace "
                                "the tab with spaces)");
            return false;
        }
        if (p[i] == '\'') {
            if (run++ == 0)
                run_column = column;
            if (run > APOSTROPHE_RUN_MAX) {
                selgw_yaml_error_at(yaml, (selgw_yaml_pos){line, run_column},
                                    "more than %d apostrophes (') in a row: the YAML library "
                                    "(libfyaml 0.7.12) misreads them; write fewer",
                                    APOSTROPHE_RUN_MAX);
                return false;
            }
        } else {
            run = 0;
        }
        if (p[i] == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
        i += seq;
    }
    return true;
}

static selgw_err parse_text(selgw_yaml *yaml)
{
    if (!text_is_parseable(yaml))
        return SELGW_ERR_CONFIG;
    struct fy_diag_cfg diag_cfg;
    fy_diag_cfg_default(&diag_cfg);
    diag_cfg.fp = NULL;
    diag_cfg.output_fn = discard_output;
    diag_cfg.colorize = false;
    yaml->fy_diag = fy_diag_create(&diag_cfg);
    if (!yaml->fy_diag)
        return SELGW_ERR_NOMEM;
    fy_diag_set_collect_errors(yaml->fy_diag, true);

    struct fy_parse_cfg parse_cfg = {
        .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE |
                 FYPCF_ALLOW_DUPLICATE_KEYS | FYPCF_DISABLE_MMAP_OPT,
        .diag = yaml->fy_diag,
    };
    yaml->parser = fy_parser_create(&parse_cfg);
    if (!yaml->parser)
        return SELGW_ERR_NOMEM;
    if (fy_parser_set_string(yaml->parser, yaml->text, strlen(yaml->text)) != 0)
        return SELGW_ERR_NOMEM;

    yaml->doc = fy_parse_load_document(yaml->parser);
    if (yaml->doc && !fy_diag_got_error(yaml->fy_diag)) {
        struct fy_document *extra = fy_parse_load_document(yaml->parser);
        if (extra) {
            struct fy_node *root = fy_document_root(extra);
            selgw_yaml_pos pos = selgw_yaml_node_pos(root);
            if (!pos.line)
                pos = (selgw_yaml_pos){1, 1};
            selgw_yaml_error_at(yaml, pos, "a second YAML document: one file holds one document");
            fy_parse_document_destroy(yaml->parser, extra);
        }
    }
    take_fy_errors(yaml);
    if (yaml->errors)
        return SELGW_ERR_CONFIG;
    if (!yaml->doc || !fy_document_root(yaml->doc)) {
        selgw_yaml_error_at(yaml, (selgw_yaml_pos){1, 1}, "empty document");
        return SELGW_ERR_CONFIG;
    }
    check_duplicate_keys(yaml, fy_document_root(yaml->doc), 0);
    if (yaml->errors)
        return SELGW_ERR_CONFIG;
    /* aliases and merge keys (<<) are replaced by what they refer to */
    if (fy_document_resolve(yaml->doc) != 0) {
        take_fy_errors(yaml);
        if (!yaml->errors)
            selgw_yaml_error_at(yaml, (selgw_yaml_pos){1, 1}, "cannot resolve aliases");
        return SELGW_ERR_CONFIG;
    }
    return SELGW_OK;
}

static selgw_err load_owned_text(const char *display_name, char *text, selgw_diag *diag,
                                 selgw_yaml **out)
{
    *out = NULL;
    selgw_yaml *yaml = calloc(1, sizeof(*yaml));
    char *file = strdup(display_name ? display_name : "<input>");
    if (!yaml || !file) {
        free(yaml);
        free(file);
        free(text);
        return SELGW_ERR_NOMEM;
    }
    yaml->file = file;
    yaml->text = text;
    yaml->diag = diag;
    selgw_err err = parse_text(yaml);
    if (err == SELGW_ERR_NOMEM && !yaml->errors)
        selgw_diag_add(diag, yaml->file, 0, 0, "out of memory while parsing");
    if (err != SELGW_OK) {
        selgw_yaml_free(yaml);
        return err;
    }
    *out = yaml;
    return SELGW_OK;
}

selgw_err selgw_yaml_load_string(const char *display_name, const char *text, size_t len,
                                 selgw_diag *diag, selgw_yaml **out)
{
    *out = NULL;
    if (!text)
        return SELGW_ERR_INVALID;
    if (memchr(text, 0, len)) {
        selgw_diag_add(diag, display_name ? display_name : "<input>", 0, 0,
                       "contains a NUL byte: not a text file");
        return SELGW_ERR_CONFIG;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return SELGW_ERR_NOMEM;
    memcpy(copy, text, len);
    copy[len] = 0;
    return load_owned_text(display_name, copy, diag, out);
}

selgw_err selgw_yaml_load_file(const char *path, const char *display_name, selgw_diag *diag,
                               selgw_yaml **out)
{
    *out = NULL;
    const char *name = display_name ? display_name : path;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        selgw_diag_add(diag, name, 0, 0, "cannot open: %s", strerror(errno));
        return SELGW_ERR_IO;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            if (cap > (size_t)64 << 20) {
                fclose(fp);
                free(text);
                selgw_diag_add(diag, name, 0, 0, "file too large (over 64 MiB)");
                return SELGW_ERR_IO;
            }
            size_t grown_cap = cap ? cap * 2 : 8192;
            char *grown = realloc(text, grown_cap);
            if (!grown) {
                fclose(fp);
                free(text);
                return SELGW_ERR_NOMEM;
            }
            text = grown;
            cap = grown_cap;
        }
        size_t n = fread(text + len, 1, cap - len - 1, fp);
        len += n;
        if (n == 0)
            break;
    }
    int read_error = ferror(fp);
    int saved_errno = errno;
    fclose(fp);
    if (read_error) {
        free(text);
        selgw_diag_add(diag, name, 0, 0, "cannot read: %s", strerror(saved_errno));
        return SELGW_ERR_IO;
    }
    text[len] = 0;
    if (strlen(text) != len) {
        free(text);
        selgw_diag_add(diag, name, 0, 0, "contains a NUL byte: not a text file");
        return SELGW_ERR_CONFIG;
    }
    return load_owned_text(name, text, diag, out);
}
