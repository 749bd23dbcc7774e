/* selgw: InfluxDB line protocol for journal records. Pure functions, one escaper per
 * element, because the rules differ by element (docs/INFLUXDB.md gives the schema):
 *   measurement      escape comma and space
 *   tag key, value   escape comma, equals sign and space
 *   field key        escape comma, equals sign and space
 *   string field     double-quoted; escape double quote and backslash
 * No element may contain a newline (it would end the line): newlines and other control
 * characters are replaced by a space. Empty tag values are left out (InfluxDB rejects
 * them). A trailing backslash in a tag value would escape the separator after it, so a
 * backslash is escaped everywhere it could end an element. */
#ifndef SELGW_LINEPROTO_H
#define SELGW_LINEPROTO_H

#include <stddef.h>

#include "record.h"

/* Each appends the escaped text at *len in buf (never past cap, NUL-terminated when it
 * fits) and advances *len by the full escaped length, snprintf-style. */
void selgw_lp_measurement(char *buf, size_t cap, size_t *len, const char *s, size_t n);
void selgw_lp_tag(char *buf, size_t cap, size_t *len, const char *s, size_t n); /* key or value */
void selgw_lp_field_key(char *buf, size_t cap, size_t *len, const char *s, size_t n);
void selgw_lp_string_field(char *buf, size_t cap, size_t *len, const char *s, size_t n);

/* One line (with its trailing newline) for a reading record, snprintf-style. Returns 0 for
 * records that have no line: events, and a reading left with no field at all. NaN and
 * infinite values are never written: such a field is left out and named in the
 * `invalid` string field. The timestamp is the reading's time in nanoseconds. */
size_t selgw_lp_record(const selgw_record *rec, const char *measurement, char *buf, size_t cap);

#endif
