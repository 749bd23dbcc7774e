/* selgw: a harvest lot (docs/EVIDENCE.md, "Lots"): its canonical JSON, as recorded in a LOT
 * record of each of its plots' chains, and that JSON read back.
 *
 * The text is one line, members in this order, no whitespace, like the tags text: the same
 * lot always gives the same bytes, so every plot's LOT record of one lot holds identical
 * text, which the verifier of a lot bundle compares.
 *   {"format":1,"lot":"ZY-2026-001","product":"紫阳富硒茶",
 *    "plots":[{"plot":"hw-p01","season_from":"2025-10-01","harvest_from":"2026-04-01",
 *              "harvest_to":"2026-04-10"}],
 *    "quantity":120.5,"unit":"kg","households":["HH-001"],"processing":"杀青、揉捻、烘干",
 *    "refs":["LAB-2026-118"],"url":"https://trace.example.com/lot/ZY-2026-001"}
 * Dates are local dates (the gateway's utc_offset), ranges inclusive; processing and url
 * may be null. A plot's evidence period for the lot is [season_from 00:00 local,
 * harvest_to + 1 day 00:00 local). Pure functions. */
#ifndef SELGW_LOT_H
#define SELGW_LOT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct selgw_lot_plot {
    char *plot;
    char *season_from, *harvest_from, *harvest_to; /* "YYYY-MM-DD" */
} selgw_lot_plot;

typedef struct selgw_lot {
    char *lot, *product, *unit;
    char *utc_offset; /* "+08:00": the gateway's, at which the lot's dates are local dates */
    char *processing, *url; /* NULL when null */
    double quantity;
    size_t plot_count;
    selgw_lot_plot *plots;
    size_t household_count;
    char **households;
    size_t ref_count;
    char **refs;
} selgw_lot;

/* The canonical text of a lot, snprintf-style (returns the length it needs; the text is
 * complete and NUL-terminated when that is < cap). */
size_t selgw_lot_json(const selgw_lot *lot, char *buf, size_t cap);

/* Reads a lot's text. Refused (SELGW_ERR_CORRUPT, with `why`): anything but a canonical
 * text as selgw_lot_json writes it (other member order, whitespace, unknown or duplicate
 * members), format other than 1, a lot or plot id that is not an id, no plots or a plot
 * twice, dates that are not YYYY-MM-DD days or not in order (season_from <= harvest_from
 * <= harvest_to), a quantity that is not a positive finite number. */
selgw_err selgw_lot_parse(const char *text, size_t len, selgw_lot **out, char *why, size_t cap);
void selgw_lot_free(selgw_lot *lot); /* NULL is fine */

/* Whether s is an id: 1..64 bytes of letters, digits, '.', '_', '-' (lot, plot, household). */
int selgw_lot_is_id(const char *s);

/* A plot's evidence period for the lot: [season_from 00:00, harvest_to + 1 day 00:00) local
 * at offset_minutes, as UTC nanoseconds, ending instead at recorded_ns (the time of the
 * plot's LOT record) when that is earlier: a lot recorded on the last day of its harvest
 * needs no readings after it was recorded, so it can be exported at once. False if the
 * plot's dates do not parse. */
int selgw_lot_plot_period(const selgw_lot_plot *p, int offset_minutes, int64_t recorded_ns,
                          int64_t *from_ns, int64_t *to_ns);

/* What `selgw lot` was given. Plots as "P:YYYY-MM-DD..YYYY-MM-DD" (the harvest dates,
 * local, inclusive). */
struct selgw_config;
typedef struct selgw_lot_request {
    const char *id, *product, *unit, *processing; /* processing may be NULL */
    double quantity;
    size_t plot_count;
    const char *const *plots;
    size_t household_count;
    const char *const *households;
    size_t ref_count;
    const char *const *refs;
} selgw_lot_request;

/* The lot's canonical text (malloc'd) from a request, checked against the config: the id
 * an id; the product one of the config's; each plot one of the config's, once, growing a
 * crop the product covers, with harvest dates that exist, in order, and not after today
 * (the local day of now_ns); each household contracted (the config's contracts) on at least
 * one of the lot's plots on at least one day of that plot's harvest; quantity a positive
 * number; unit, processing and refs single clean lines. season_from is harvest_to minus the
 * product's season_days; url the product's lot_url with every {lot} replaced by the id, or
 * null. SELGW_ERR_INVALID with `why` naming what is wrong. Pure. */
selgw_err selgw_lot_build(const struct selgw_config *cfg, const selgw_lot_request *req,
                          int64_t now_ns, char **json, char *why, size_t cap);

#endif
