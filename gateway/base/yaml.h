/* selgw: a thin layer over libfyaml shared by the config and profile loaders.
 *
 * It loads one YAML document with every syntax error turned into a "FILE:LINE:COLUMN:
 * message" diagnostic (libfyaml itself prints nothing), gives the 1-based position of any
 * node, and reads typed values, reporting a wrong type or a malformed value at the node's
 * position. Every error reported through a selgw_yaml is counted, so a loader can keep
 * going after an error and decide at the end whether the file was valid. */
#ifndef SELGW_YAML_H
#define SELGW_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"
#include "base/error.h"

struct fy_node;

typedef struct selgw_yaml selgw_yaml;

/* 1-based line and column; {0, 0} when unknown. */
typedef struct selgw_yaml_pos {
    int line;
    int column;
} selgw_yaml_pos;

/* Loads the single document of a file or a string. display_name is the name diagnostics
 * use (for a file, NULL means the path). On a syntax error, an empty stream or more than one
 * document, every problem is in diag, *out is NULL and the result is SELGW_ERR_CONFIG;
 * SELGW_ERR_IO if the file cannot be read. The text is copied. */
selgw_err selgw_yaml_load_file(const char *path, const char *display_name, selgw_diag *diag,
                               selgw_yaml **out);
selgw_err selgw_yaml_load_string(const char *display_name, const char *text, size_t len,
                                 selgw_diag *diag, selgw_yaml **out);
void selgw_yaml_free(selgw_yaml *yaml); /* NULL is fine */

struct fy_node *selgw_yaml_root(const selgw_yaml *yaml);
const char *selgw_yaml_file(const selgw_yaml *yaml); /* the display name */
/* Errors reported through this handle so far (including syntax errors found by load). */
unsigned selgw_yaml_error_count(const selgw_yaml *yaml);

selgw_yaml_pos selgw_yaml_node_pos(struct fy_node *node);

/* Reports an error at a node's position (at the document start if node is NULL). */
void selgw_yaml_error(selgw_yaml *yaml, struct fy_node *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void selgw_yaml_error_at(selgw_yaml *yaml, selgw_yaml_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Node shape. A missing node (NULL) is none of these. */
bool selgw_yaml_is_null(struct fy_node *node); /* ~, null, or nothing after the colon */
bool selgw_yaml_is_mapping(struct fy_node *node);
bool selgw_yaml_is_sequence(struct fy_node *node);
bool selgw_yaml_is_scalar(struct fy_node *node); /* and not null */

/* Text of a scalar node (NUL-terminated, owned by the document), NULL otherwise. */
const char *selgw_yaml_text(struct fy_node *node);

/* Value of key in a mapping (NULL if absent or if map is not a mapping); *key_node, if
 * key_node is not NULL, receives the key's node. */
struct fy_node *selgw_yaml_get(struct fy_node *map, const char *key, struct fy_node **key_node);

/* Checks that node is a mapping (else reports "WHAT: expected a mapping") and that every
 * key is one of allowed[] (NULL-terminated); each other key is reported at its position as
 * "unknown key 'K' in WHAT (did you mean 'X'?)". Returns false only if node is not a
 * mapping. Duplicate keys are reported once for the whole document by load. */
bool selgw_yaml_check_keys(selgw_yaml *yaml, struct fy_node *node, const char *what,
                           const char *const *allowed);

/* Reports "WHAT: expected EXPECTED, got ..." at the node, describing what it holds. */
void selgw_yaml_type_error(selgw_yaml *yaml, struct fy_node *node, const char *what,
                           const char *expected);

/* Reports "WHAT: expected a sequence" and returns false unless node is a sequence. */
bool selgw_yaml_check_sequence(selgw_yaml *yaml, struct fy_node *node, const char *what);

/* Items of a sequence or pairs of a mapping; 0 for anything else. */
size_t selgw_yaml_count(struct fy_node *node);

/* Iteration over sequence items and mapping pairs; *iter starts as NULL. */
struct fy_node *selgw_yaml_seq_next(struct fy_node *seq, void **iter);
bool selgw_yaml_map_next(struct fy_node *map, void **iter, struct fy_node **key,
                         struct fy_node **value);

/* Typed reads. Each reports a wrong type or malformed value at the node, as
 * "WHAT: expected ..., got 'TEXT'", and returns false without touching *out. `what` is
 * the key's name, e.g. "baud". */
bool selgw_yaml_string(selgw_yaml *yaml, struct fy_node *node, const char *what, char **out);
bool selgw_yaml_int(selgw_yaml *yaml, struct fy_node *node, const char *what, int64_t *out);
bool selgw_yaml_double(selgw_yaml *yaml, struct fy_node *node, const char *what, double *out);
bool selgw_yaml_bool(selgw_yaml *yaml, struct fy_node *node, const char *what, bool *out);
bool selgw_yaml_duration_ms(selgw_yaml *yaml, struct fy_node *node, const char *what, int64_t *out);
bool selgw_yaml_size_bytes(selgw_yaml *yaml, struct fy_node *node, const char *what, uint64_t *out);
bool selgw_yaml_date(selgw_yaml *yaml, struct fy_node *node, const char *what, int32_t *out);

/* The parsers behind the typed reads, on plain text (whole string must match).
 * Integers: optional sign and decimal digits ("010" is ten), or 0x/0X and hex digits.
 * Doubles: decimal notation with optional exponent, finite.
 * Durations: a non-negative number with unit ms, s, m, h or d, or a bare number meaning
 * seconds; must come to a whole number of milliseconds.
 * Byte sizes: a non-negative number with unit KiB, MiB, GiB, TiB (powers of 1024) or kB/KB,
 * MB, GB, TB (powers of 1000), or B or a bare integer meaning bytes; must come to a whole
 * number of bytes, at most 2^53. Dates: selgw_parse_date (base/clock.h). */
bool selgw_parse_int(const char *text, int64_t *out);
bool selgw_parse_double(const char *text, double *out);
bool selgw_parse_bool(const char *text, bool *out);
bool selgw_parse_duration_ms(const char *text, int64_t *out);
bool selgw_parse_size_bytes(const char *text, uint64_t *out);

/* Levenshtein distance, for did-you-mean suggestions. */
size_t selgw_edit_distance(const char *a, const char *b);

/* The closest of candidates[] (NULL-terminated) to word if close enough to be a likely
 * typo, else NULL. */
const char *selgw_closest(const char *word, const char *const *candidates);

#endif
