/* selgw: where a plot lies against a geographic indication's protected area, from the
 * plot's signed tags alone (docs/EVIDENCE.md, "The place and the GI check").
 *
 * Coordinates are WGS84 [latitude, longitude] degrees, taken as plane coordinates: the
 * areas concerned (a county, a few townships) are small and nowhere near the poles or the
 * antimeridian, where a plane would mislead. All functions are pure. */
#ifndef SELGW_GEO_H
#define SELGW_GEO_H

#include <stdbool.h>
#include <stddef.h>

#include "evidence/provenance.h"

/* Whether the point lies inside the polygon (n >= 3 vertices, closed implicitly; concave
 * is fine). A point on an edge or a vertex counts as inside: a plot surveyed to the line of
 * the area is in it. Ray casting. */
bool selgw_geo_point_in_polygon(double lat, double lon, const double (*polygon)[2], size_t n);

/* Whether polygon `inner` (m >= 3) lies inside `outer` (n >= 3): every vertex of inner
 * inside outer (edges included) and no edge of inner properly crossing an edge of outer. */
bool selgw_geo_polygon_in_polygon(const double (*inner)[2], size_t m, const double (*outer)[2],
                                  size_t n);

typedef enum { SELGW_GI_INSIDE, SELGW_GI_OUTSIDE, SELGW_GI_UNDETERMINED } selgw_gi_verdict;

/* Whether the plot of the tags lies in the area of t->products[product]:
 *  - a polygon area: the plot's boundary must lie inside it, else the plot's point, else
 *    the base's coordinates;
 *  - counties/townships: the base's county must be one of `counties` or its township one
 *    of `townships`;
 *  - both kinds: both must hold.
 * UNDETERMINED when the tags lack what is needed (no location and no coordinates; no county
 * and no township for a list). `why` (may be NULL) says in English what decided it; it
 * holds names from the tags: escape it before printing. */
selgw_gi_verdict selgw_gi_check(const selgw_tags *t, size_t product, char *why, size_t cap);
/* The same, with `why` in Chinese (zh-CN) when zh: for the report people read. */
selgw_gi_verdict selgw_gi_check_in(const selgw_tags *t, size_t product, bool zh, char *why,
                                   size_t cap);

/* The area a product declares, as people read it (the enterprise's own declaration, from
 * the signed tags: a certifier compares it with the official protected area): "counties
 * 紫阳县, 岚皋县; townships ...; polygon 32.300000 108.300000, ..." or in Chinese. Its names
 * come from the tags: escape before printing. Writes at most cap bytes, NUL-terminated,
 * cut short if it does not fit; returns its length. */
size_t selgw_gi_area_text(const selgw_tags_product *p, bool zh, char *buf, size_t cap);

/* "inside", "OUTSIDE", "undetermined" */
const char *selgw_gi_verdict_name(selgw_gi_verdict v);

#endif
