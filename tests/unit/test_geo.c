/* The GI area check (evidence/geo.h): point in polygon with edges, vertices and concave
 * shapes; polygon in polygon; and selgw_gi_check's rules on real coordinates around
 * 紫阳县 (about 32.5N 108.5E): a polygon area takes the plot's boundary, else its point,
 * else the base's coordinates; a list area the base's county or township; both kinds
 * must both hold; missing tags leave it undetermined. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "evidence/geo.h"

/* [lat, lon] */
static const double square[4][2] = {{32.0, 108.0}, {32.0, 109.0}, {33.0, 109.0}, {33.0, 108.0}};
/* a U open to the north: the notch 32.4..33 x 108.4..108.6 is outside */
static const double u_shape[8][2] = {{32.0, 108.0}, {32.0, 109.0}, {33.0, 109.0}, {33.0, 108.6},
                                     {32.4, 108.6}, {32.4, 108.4}, {33.0, 108.4}, {33.0, 108.0}};

static void test_point_in_polygon(void **state)
{
    (void)state;
    assert_true(selgw_geo_point_in_polygon(32.5, 108.5, square, 4));
    assert_false(selgw_geo_point_in_polygon(31.9, 108.5, square, 4));
    assert_false(selgw_geo_point_in_polygon(32.5, 109.0001, square, 4));
    /* edges and vertices count inside */
    assert_true(selgw_geo_point_in_polygon(32.0, 108.5, square, 4));
    assert_true(selgw_geo_point_in_polygon(32.5, 109.0, square, 4));
    assert_true(selgw_geo_point_in_polygon(33.0, 108.0, square, 4));
    assert_true(selgw_geo_point_in_polygon(32.0, 109.0, square, 4));
    /* a ray through a vertex is counted once: east of the square's west edge at a vertex's
     * latitude, and a point level with a vertex outside */
    assert_true(selgw_geo_point_in_polygon(33.0 - 1e-9, 108.5, square, 4));
    assert_false(selgw_geo_point_in_polygon(33.0, 107.5, square, 4));
    /* concave: the notch is outside, the arms inside, the notch's edges inside */
    assert_false(selgw_geo_point_in_polygon(32.7, 108.5, u_shape, 8));
    assert_true(selgw_geo_point_in_polygon(32.7, 108.2, u_shape, 8));
    assert_true(selgw_geo_point_in_polygon(32.7, 108.8, u_shape, 8));
    assert_true(selgw_geo_point_in_polygon(32.2, 108.5, u_shape, 8));
    assert_true(selgw_geo_point_in_polygon(32.4, 108.5, u_shape, 8)); /* the notch's floor */
    assert_true(selgw_geo_point_in_polygon(32.7, 108.6, u_shape, 8)); /* its east wall */
    assert_false(selgw_geo_point_in_polygon(32.4, 108.5, square, 2)); /* not a polygon */
}

static void test_polygon_in_polygon(void **state)
{
    (void)state;
    const double inner[3][2] = {{32.1, 108.1}, {32.2, 108.9}, {32.3, 108.2}};
    assert_true(selgw_geo_polygon_in_polygon(inner, 3, square, 4));
    /* the square in itself: shared edges are no crossing */
    assert_true(selgw_geo_polygon_in_polygon(square, 4, square, 4));
    const double poking[3][2] = {{32.5, 108.5}, {32.6, 109.2}, {32.7, 108.5}};
    assert_false(selgw_geo_polygon_in_polygon(poking, 3, square, 4));
    /* every vertex inside the U (on both arms), but an edge crosses the notch */
    const double bridge[4][2] = {{32.8, 108.2}, {32.8, 108.8}, {32.9, 108.8}, {32.9, 108.2}};
    assert_false(selgw_geo_polygon_in_polygon(bridge, 4, u_shape, 8));
    /* one arm alone is inside */
    const double arm[3][2] = {{32.8, 108.1}, {32.9, 108.3}, {32.95, 108.1}};
    assert_true(selgw_geo_polygon_in_polygon(arm, 3, u_shape, 8));
    /* a plot drawn from vertex to vertex of the area's outline across a V notch: no vertex
     * outside, no proper crossing, yet the notch is in the plot (the reviewer's case) */
    const double notched[7][2] = {{0, 0}, {0, 4}, {4, 4}, {4, 3}, {1, 2}, {4, 1}, {4, 0}};
    const double over_notch[3][2] = {{4, 1}, {4, 3}, {0.5, 2}};
    assert_false(selgw_geo_point_in_polygon(3, 2, notched, 7)); /* in the notch: outside */
    assert_false(selgw_geo_polygon_in_polygon(over_notch, 3, notched, 7));
    /* beside the notch, sharing its edge, it is inside */
    const double beside[3][2] = {{4, 0}, {4, 1}, {1, 1}};
    assert_true(selgw_geo_polygon_in_polygon(beside, 3, notched, 7));
}

/* Tags of a plot of base 汉王 in 紫阳县, with one product whose area the test sets. */
typedef struct gi_fixture {
    selgw_tags t;
    selgw_tags_product p;
    char *counties[2], *townships[2];
    double polygon[4][2];
    double boundary[3][2];
} gi_fixture;

static void gi_init(gi_fixture *g)
{
    memset(g, 0, sizeof *g);
    g->t.county = "紫阳县";
    g->t.township = "汉王镇";
    g->t.has_coordinates = true;
    g->t.latitude = 32.52;
    g->t.longitude = 108.53;
    g->t.product_count = 1;
    g->t.products = &g->p;
    g->p.name = "紫阳富硒茶";
    g->counties[0] = "紫阳县";
    g->counties[1] = "岚皋县";
    g->townships[0] = "蒿坪镇";
    /* around 紫阳县 roughly: 32.3..32.9N, 108.3..108.9E */
    const double poly[4][2] = {{32.3, 108.3}, {32.3, 108.9}, {32.9, 108.9}, {32.9, 108.3}};
    memcpy(g->polygon, poly, sizeof poly);
}

static selgw_gi_verdict check(gi_fixture *g, char *why)
{
    return selgw_gi_check(&g->t, 0, why, 256);
}

static void test_gi_counties_and_townships(void **state)
{
    (void)state;
    gi_fixture g;
    char why[256];
    gi_init(&g);
    g.p.counties = g.counties;
    g.p.county_count = 2;
    assert_int_equal(check(&g, why), SELGW_GI_INSIDE);
    assert_string_equal(why, "county 紫阳县 is in the area");
    /* the same reason in Chinese, for the report */
    assert_int_equal(selgw_gi_check_in(&g.t, 0, true, why, sizeof why), SELGW_GI_INSIDE);
    assert_string_equal(why, "县 紫阳县 在保护范围内");
    g.t.county = "汉滨区";
    assert_int_equal(check(&g, why), SELGW_GI_OUTSIDE);
    assert_string_equal(why, "county 汉滨区 is not in the area");
    assert_int_equal(selgw_gi_check_in(&g.t, 0, true, why, sizeof why), SELGW_GI_OUTSIDE);
    assert_string_equal(why, "县 汉滨区 不在保护范围内");
    /* or its township */
    g.p.townships = g.townships;
    g.p.township_count = 1;
    g.t.township = "蒿坪镇";
    assert_int_equal(check(&g, why), SELGW_GI_INSIDE);
    assert_string_equal(why, "township 蒿坪镇 is in the area");
    /* a township named in its county: the base's county must match too */
    g.townships[0] = "岚皋县/蒿坪镇";
    g.t.county = "汉滨区";
    assert_int_equal(check(&g, why), SELGW_GI_OUTSIDE);
    g.townships[0] = "汉滨区/蒿坪镇";
    assert_int_equal(check(&g, why), SELGW_GI_INSIDE);
    assert_string_equal(why, "township 蒿坪镇 is in the area");
    g.townships[0] = "蒿坪镇";
    /* the tags lack both: undetermined */
    g.t.county = NULL;
    g.t.township = NULL;
    assert_int_equal(check(&g, why), SELGW_GI_UNDETERMINED);
    assert_non_null(strstr(why, "no county or township"));
    /* townships only, the base's township not among them */
    g.p.county_count = 0;
    g.t.township = "汉王镇";
    assert_int_equal(check(&g, why), SELGW_GI_OUTSIDE);
    assert_string_equal(why, "township 汉王镇 is not in the area");
}

static void test_gi_polygon(void **state)
{
    (void)state;
    gi_fixture g;
    char why[256];
    gi_init(&g);
    g.p.polygon = g.polygon;
    g.p.polygon_count = 4;
    /* the base's coordinates when the plot has no location */
    assert_int_equal(check(&g, why), SELGW_GI_INSIDE);
    assert_string_equal(why, "the base's coordinates 32.520000, 108.530000 lie inside the "
                             "area's polygon");
    /* the plot's point before the base's */
    g.t.has_location = true;
    g.t.plot_latitude = 32.95;
    g.t.plot_longitude = 108.5;
    assert_int_equal(check(&g, why), SELGW_GI_OUTSIDE);
    assert_non_null(strstr(why, "the plot's point 32.950000, 108.500000 lies outside"));
    /* on the polygon's edge: inside */
    g.t.plot_latitude = 32.9;
    assert_int_equal(check(&g, why), SELGW_GI_INSIDE);
    /* the boundary before the point */
    const double b[3][2] = {{32.5, 108.5}, {32.6, 108.5}, {32.6, 108.95}};
    memcpy(g.boundary, b, sizeof b);
    g.t.boundary = g.boundary;
    g.t.boundary_count = 3;
    assert_int_equal(check(&g, why), SELGW_GI_OUTSIDE);
    assert_string_equal(why, "the plot's boundary (3 points) lies not wholly inside the area's "
                             "polygon");
    g.boundary[2][1] = 108.85;
    assert_int_equal(check(&g, why), SELGW_GI_INSIDE);
    /* nothing to place the plot with */
    g.t.boundary_count = 0;
    g.t.has_location = false;
    g.t.has_coordinates = false;
    assert_int_equal(check(&g, why), SELGW_GI_UNDETERMINED);
}

static void test_gi_both_kinds(void **state)
{
    (void)state;
    gi_fixture g;
    char why[256];
    gi_init(&g);
    g.p.polygon = g.polygon;
    g.p.polygon_count = 4;
    g.p.counties = g.counties;
    g.p.county_count = 1;
    assert_int_equal(check(&g, why), SELGW_GI_INSIDE);
    assert_non_null(strstr(why, "county 紫阳县 is in the area; the base's coordinates"));
    /* the county holds, the point does not */
    g.t.longitude = 107.9;
    assert_int_equal(check(&g, why), SELGW_GI_OUTSIDE);
    /* the point holds, the county does not */
    g.t.longitude = 108.53;
    g.t.county = "汉滨区";
    assert_int_equal(check(&g, why), SELGW_GI_OUTSIDE);
    /* one undetermined, the other inside: undetermined */
    g.t.county = NULL;
    assert_int_equal(check(&g, why), SELGW_GI_UNDETERMINED);
    /* no such product; why may be NULL */
    assert_int_equal(selgw_gi_check(&g.t, 1, NULL, 0), SELGW_GI_UNDETERMINED);
    assert_string_equal(selgw_gi_verdict_name(SELGW_GI_OUTSIDE), "OUTSIDE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_point_in_polygon),
        cmocka_unit_test(test_polygon_in_polygon),
        cmocka_unit_test(test_gi_counties_and_townships),
        cmocka_unit_test(test_gi_polygon),
        cmocka_unit_test(test_gi_both_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
