/* selgw: InfluxDB line protocol for journal records. Pure functions, one escaper per
 * element, because the rules differ by element (docs/INFLUXDB.md gives the schema):
 *   measurement      escape comma and space
 *   tag key, value   escape comma, equals sign and space
 *   field key        escape comma, equals sign and space
 *   string field     double-quoted; escape double quote and backslash
 * No element may contain a newline (it would end the line): newlines and other control
 * characters are replaced by a space. Empty tag values are left out (InfluxDB rejects
 * them). InfluxDB cannot store a backslash that ends a tag value, field key or measurement,
 * not even escaped (influxdb #5231): such a backslash, or one right before an escaped
 * character, is written as '/'; elsewhere a backslash is an ordinary character. Inside a
 * quoted string field every backslash is escaped. */
#ifndef SELGW_LINEPROTO_H
#define SELGW_LINEPROTO_H

#include <stddef.h>

#include "journal/record.h"

/* Each appends the escaped text at *len in buf (never past cap, NUL-terminated when it
 * fits) and advances *len by the full escaped length, snprintf-style. */
void selgw_lp_measurement(char *buf, size_t cap, size_t *len, const char *s, size_t n);
void selgw_lp_tag(char *buf, size_t cap, size_t *len, const char *s, size_t n); /* key or value */
void selgw_lp_field_key(char *buf, size_t cap, size_t *len, const char *s, size_t n);
void selgw_lp_string_field(char *buf, size_t cap, size_t *len, const char *s, size_t n);

/* One line (with its trailing newline) for a reading record, snprintf-style, in
 * `measurement` (the config's influxdb.measurement). Returns 0 for records that have no line
 * (events), and without a measurement. A reading always has its `attempts` field, so a
 * failed poll is a line too and the gap is visible. NaN and infinite values are never
 * written: such a field is left out and named in the `quality` string field
 * ("soil_ph:invalid"), as are fields out of range. The timestamp is the reading's time in
 * nanoseconds. Schema: docs/INFLUXDB.md. */
size_t selgw_lp_record(const selgw_record *rec, const char *measurement, char *buf, size_t cap);

#endif
