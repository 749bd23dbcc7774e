#include "evidence/geo.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Twice the signed area of (a, b, c): > 0 when c is left of a->b. Points are [lat, lon];
 * x is the longitude, y the latitude. */
static double cross(const double *a, const double *b, const double *c)
{
    return (b[1] - a[1]) * (c[0] - a[0]) - (b[0] - a[0]) * (c[1] - a[1]);
}

/* Collinearity within rounding: degrees squared, far below a millimetre. */
#define ON_LINE 1e-18

static bool on_segment(const double *p, const double *a, const double *b)
{
    double c = cross(a, b, p);
    if (c > ON_LINE || c < -ON_LINE)
        return false;
    double lo_y = a[0] < b[0] ? a[0] : b[0], hi_y = a[0] < b[0] ? b[0] : a[0];
    double lo_x = a[1] < b[1] ? a[1] : b[1], hi_x = a[1] < b[1] ? b[1] : a[1];
    return p[0] >= lo_y && p[0] <= hi_y && p[1] >= lo_x && p[1] <= hi_x;
}

bool selgw_geo_point_in_polygon(double lat, double lon, const double (*polygon)[2], size_t n)
{
    if (n < 3)
        return false;
    const double p[2] = {lat, lon};
    for (size_t i = 0, j = n - 1; i < n; j = i++)
        if (on_segment(p, polygon[j], polygon[i]))
            return true;
    /* A ray towards +longitude: an edge counts when it straddles the point's latitude
     * (half-open, so a vertex on the ray is counted once) and crosses east of it. */
    bool inside = false;
    for (size_t i = 0, j = n - 1; i < n; j = i++) {
        const double *a = polygon[j], *b = polygon[i];
        if ((a[0] > lat) != (b[0] > lat)) {
            double x = a[1] + (lat - a[0]) * (b[1] - a[1]) / (b[0] - a[0]);
            if (lon < x)
                inside = !inside;
        }
    }
    return inside;
}

/* Segments a-b and c-d cross at a point interior to both (touching does not count). */
static bool properly_cross(const double *a, const double *b, const double *c, const double *d)
{
    double d1 = cross(c, d, a), d2 = cross(c, d, b), d3 = cross(a, b, c), d4 = cross(a, b, d);
    return ((d1 > ON_LINE && d2 < -ON_LINE) || (d1 < -ON_LINE && d2 > ON_LINE)) &&
           ((d3 > ON_LINE && d4 < -ON_LINE) || (d3 < -ON_LINE && d4 > ON_LINE));
}

/* Inside the polygon and on none of its edges. */
static bool strictly_inside(const double *p, const double (*polygon)[2], size_t n)
{
    for (size_t i = 0, j = n - 1; i < n; j = i++)
        if (on_segment(p, polygon[j], polygon[i]))
            return false;
    return selgw_geo_point_in_polygon(p[0], p[1], polygon, n);
}

bool selgw_geo_polygon_in_polygon(const double (*inner)[2], size_t m, const double (*outer)[2],
                                  size_t n)
{
    if (m < 3 || n < 3)
        return false;
    for (size_t i = 0; i < m; i++)
        if (!selgw_geo_point_in_polygon(inner[i][0], inner[i][1], outer, n))
            return false;
    for (size_t i = 0, j = m - 1; i < m; j = i++)
        for (size_t k = 0, l = n - 1; k < n; l = k++)
            if (properly_cross(inner[j], inner[i], outer[l], outer[k]))
                return false;
    /* An inner edge can leave the area without crossing its outline properly: from vertex
     * to vertex of a notch. Then a vertex of the outline lies strictly inside the inner
     * polygon, or the edge's midpoint lies outside the area. */
    for (size_t k = 0; k < n; k++)
        if (strictly_inside(outer[k], inner, m))
            return false;
    for (size_t i = 0, j = m - 1; i < m; j = i++)
        if (!selgw_geo_point_in_polygon((inner[j][0] + inner[i][0]) / 2,
                                        (inner[j][1] + inner[i][1]) / 2, outer, n))
            return false;
    return true;
}

const char *selgw_gi_verdict_name(selgw_gi_verdict v)
{
    switch (v) {
    case SELGW_GI_INSIDE:
        return "inside";
    case SELGW_GI_OUTSIDE:
        return "OUTSIDE";
    default:
        return "undetermined";
    }
}

static void say(char *why, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void say(char *why, size_t cap, size_t *len, const char *fmt, ...)
{
    if (!why || *len >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

static bool listed(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (!strcmp(names[i], name))
            return true;
    return false;
}

/* Each reason in English and Chinese: [zh] picks. */
#define TEXT(en, zh_text) (zh ? (zh_text) : (en))

/* A township of the list: "汉王镇" names it alone (township names repeat across counties),
 * "紫阳县/汉王镇" names it in its county, and then the base's county must match too. */
static bool township_listed(char *const *names, size_t n, const char *county,
                            const char *township)
{
    if (!township)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *slash = strchr(names[i], '/');
        if (!slash ? !strcmp(names[i], township)
                   : county && strlen(county) == (size_t)(slash - names[i]) &&
                         !memcmp(names[i], county, strlen(county)) && !strcmp(slash + 1, township))
            return true;
    }
    return false;
}

static selgw_gi_verdict polygon_verdict(const selgw_tags *t, const selgw_tags_product *p, bool zh,
                                        char *why, size_t cap, size_t *len)
{
    const double(*poly)[2] = (const double(*)[2])p->polygon;
    if (t->boundary_count >= 3) {
        bool in = selgw_geo_polygon_in_polygon((const double(*)[2])t->boundary, t->boundary_count,
                                               poly, p->polygon_count);
        say(why, cap, len,
            in ? TEXT("the plot's boundary (%zu points) lies inside the area's polygon",
                      "地块边界（%zu 个点）位于保护范围多边形内")
               : TEXT("the plot's boundary (%zu points) lies not wholly inside the area's polygon",
                      "地块边界（%zu 个点）未完全位于保护范围多边形内"),
            t->boundary_count);
        return in ? SELGW_GI_INSIDE : SELGW_GI_OUTSIDE;
    }
    const char *whose = TEXT("the plot's point", "地块位置");
    double lat = t->plot_latitude, lon = t->plot_longitude;
    if (!t->has_location) {
        if (!t->has_coordinates) {
            say(why, cap, len, "%s",
                TEXT("the tags give neither the plot's location nor the base's coordinates "
                     "to compare with the area's polygon",
                     "标签中既无地块位置也无基地坐标，无法与保护范围多边形比对"));
            return SELGW_GI_UNDETERMINED;
        }
        whose = TEXT("the base's coordinates", "基地坐标");
        lat = t->latitude;
        lon = t->longitude;
    }
    bool in = selgw_geo_point_in_polygon(lat, lon, poly, p->polygon_count);
    bool plural = !t->has_location; /* "coordinates lie", "point lies" */
    if (zh)
        say(why, cap, len, "%s %.6f, %.6f %s保护范围多边形内", whose, lat, lon,
            in ? "位于" : "不在");
    else
        say(why, cap, len, "%s %.6f, %.6f %s %s the area's polygon", whose, lat, lon,
            plural ? "lie" : "lies", in ? "inside" : "outside");
    return in ? SELGW_GI_INSIDE : SELGW_GI_OUTSIDE;
}

static selgw_gi_verdict names_verdict(const selgw_tags *t, const selgw_tags_product *p, bool zh,
                                      char *why, size_t cap, size_t *len)
{
    if (p->county_count && listed(p->counties, p->county_count, t->county)) {
        say(why, cap, len, TEXT("county %s is in the area", "县 %s 在保护范围内"), t->county);
        return SELGW_GI_INSIDE;
    }
    if (p->township_count && township_listed(p->townships, p->township_count, t->county,
                                             t->township)) {
        say(why, cap, len, TEXT("township %s is in the area", "乡镇 %s 在保护范围内"),
            t->township);
        return SELGW_GI_INSIDE;
    }
    bool county_known = p->county_count && t->county;
    bool township_known = p->township_count && t->township;
    if (!county_known && !township_known) {
        say(why, cap, len, TEXT("the tags name no %s of the base to compare with the area's list",
                                "标签中没有基地的%s，无法与保护范围名单比对"),
            p->county_count && p->township_count ? TEXT("county or township", "县或乡镇")
            : p->county_count                    ? TEXT("county", "县")
                                                 : TEXT("township", "乡镇"));
        return SELGW_GI_UNDETERMINED;
    }
    if (county_known && township_known)
        say(why, cap, len,
            TEXT("county %s and township %s are not in the area", "县 %s 和乡镇 %s 都不在保护范围内"),
            t->county, t->township);
    else if (county_known)
        say(why, cap, len, TEXT("county %s is not in the area", "县 %s 不在保护范围内"), t->county);
    else
        say(why, cap, len, TEXT("township %s is not in the area", "乡镇 %s 不在保护范围内"),
            t->township);
    return SELGW_GI_OUTSIDE;
}

selgw_gi_verdict selgw_gi_check(const selgw_tags *t, size_t product, char *why, size_t cap)
{
    return selgw_gi_check_in(t, product, false, why, cap);
}

selgw_gi_verdict selgw_gi_check_in(const selgw_tags *t, size_t product, bool zh, char *why,
                                   size_t cap)
{
    size_t len = 0;
    if (why && cap)
        why[0] = '\0';
    if (!t || product >= t->product_count) {
        say(why, cap, &len, "%s", TEXT("the tags name no such product", "标签中没有该产品"));
        return SELGW_GI_UNDETERMINED;
    }
    const selgw_tags_product *p = &t->products[product];
    bool by_polygon = p->polygon_count >= 3, by_names = p->county_count || p->township_count;
    if (!by_polygon && !by_names) {
        say(why, cap, &len, "%s", TEXT("the product's area is empty", "该产品的保护范围为空"));
        return SELGW_GI_UNDETERMINED;
    }
    selgw_gi_verdict a = SELGW_GI_INSIDE, b = SELGW_GI_INSIDE;
    if (by_names)
        a = names_verdict(t, p, zh, why, cap, &len);
    if (by_names && by_polygon)
        say(why, cap, &len, "%s", TEXT("; ", "；"));
    if (by_polygon)
        b = polygon_verdict(t, p, zh, why, cap, &len);
    if (a == SELGW_GI_OUTSIDE || b == SELGW_GI_OUTSIDE)
        return SELGW_GI_OUTSIDE;
    if (a == SELGW_GI_UNDETERMINED || b == SELGW_GI_UNDETERMINED)
        return SELGW_GI_UNDETERMINED;
    return SELGW_GI_INSIDE;
}

static void say_names(char *buf, size_t cap, size_t *len, char *const *names, size_t n,
                      const char *sep)
{
    for (size_t i = 0; i < n; i++)
        say(buf, cap, len, "%s%s", i ? sep : "", names[i]);
}

size_t selgw_gi_area_text(const selgw_tags_product *p, bool zh, char *out, size_t room)
{
    size_t len = 0;
    if (!out || !room)
        return 0;
    out[0] = '\0';
    const char *sep = TEXT(", ", "、");
    bool first = true;
    if (p->county_count) {
        say(out, room, &len, "%s", TEXT("counties ", "县："));
        say_names(out, room, &len, p->counties, p->county_count, sep);
        first = false;
    }
    if (p->township_count) {
        say(out, room, &len, "%s%s", first ? "" : TEXT("; ", "；"), TEXT("townships ", "乡镇："));
        say_names(out, room, &len, p->townships, p->township_count, sep);
        first = false;
    }
    if (p->polygon_count) {
        say(out, room, &len, "%s%s", first ? "" : TEXT("; ", "；"),
            TEXT("polygon (latitude longitude) ", "多边形（纬度 经度）："));
        for (size_t i = 0; i < p->polygon_count; i++)
            say(out, room, &len, "%s%.6f %.6f", i ? sep : "", p->polygon[i][0], p->polygon[i][1]);
        first = false;
    }
    if (first)
        say(out, room, &len, "%s", TEXT("(empty)", "（空）"));
    return len;
}
