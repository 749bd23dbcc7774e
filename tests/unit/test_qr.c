/* A lot's QR code (evidence/qr.h): the text it encodes, with and without the enterprise's
 * URL (a '?' already in it, characters percent-encoded); the SVG is one complete element
 * whose module count is libqrencode's width for the text at level M, whose dark modules are
 * exactly the symbol's (read back from the path), with a quiet zone; too long a text gives
 * NULL. (The integration test test_report.py decodes a rendered code with zbarimg.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <qrencode.h>

#include "evidence/qr.h"

static const char hash[] =
    "blake2b-256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void test_text_without_url(void **state)
{
    (void)state;
    char *t = selgw_lot_qr_text("ZY-2026-001", hash, NULL);
    assert_non_null(t);
    assert_string_equal(t, "SELGW-LOT 1 lot=ZY-2026-001 hash=blake2b-256:0123456789abcdef0123456789"
                           "abcdef0123456789abcdef0123456789abcdef");
    free(t);
    t = selgw_lot_qr_text("ZY-2026-001", hash, ""); /* an empty URL is none */
    assert_non_null(t);
    assert_true(!strncmp(t, "SELGW-LOT 1 lot=", 16));
    free(t);
}

static void test_text_with_url(void **state)
{
    (void)state;
    char *t = selgw_lot_qr_text("ZY-2026-001", hash, "https://trace.example.com/lot");
    assert_non_null(t);
    assert_string_equal(t, "https://trace.example.com/lot?lot=ZY-2026-001&hash=blake2b-256%3A"
                           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    free(t);
    /* a '?' already there: the parameters are appended with '&' */
    t = selgw_lot_qr_text("ZY 1", hash, "https://x.example/p?site=zy");
    assert_non_null(t);
    assert_true(!strncmp(t, "https://x.example/p?site=zy&lot=ZY%201&hash=", 44));
    free(t);
    /* UTF-8 and reserved characters are percent-encoded byte by byte */
    t = selgw_lot_qr_text("紫阳/1&2=3", "h", "https://x.example/");
    assert_non_null(t);
    assert_string_equal(t, "https://x.example/?lot=%E7%B4%AB%E9%98%B3%2F1%262%3D3&hash=h");
    free(t);
    assert_null(selgw_lot_qr_text(NULL, hash, NULL));
    assert_null(selgw_lot_qr_text("x", NULL, NULL));
}

/* Reads the SVG's path back into a width x width grid of dark modules. */
static bool *modules_of(const char *svg, int width, int quiet)
{
    bool *grid = calloc((size_t)width * (size_t)width, sizeof *grid);
    assert_non_null(grid);
    const char *d = strstr(svg, " d=\"");
    assert_non_null(d);
    d += 4;
    int x, y, run, back, n;
    while (sscanf(d, "M%d %dh%dv1h-%dz%n", &x, &y, &run, &back, &n) == 4) {
        assert_int_equal(run, back);
        assert_true(x >= quiet && y >= quiet && x + run <= quiet + width && y < quiet + width);
        for (int i = 0; i < run; i++) {
            assert_false(grid[(y - quiet) * width + x - quiet + i]); /* each module once */
            grid[(y - quiet) * width + x - quiet + i] = true;
        }
        d += n;
    }
    assert_true(!strncmp(d, "\"/></svg>", 9));
    return grid;
}

static void check_svg(const char *text)
{
    char *svg = selgw_qr_svg(text);
    assert_non_null(svg);
    QRcode *qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    assert_non_null(qr);
    int w = qr->width, size = w + 8;
    /* one complete element: an <svg> start, one rect, one path, the end, nothing else */
    assert_true(!strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" ", 40));
    char expect[200];
    snprintf(expect, sizeof expect, "viewBox=\"0 0 %d %d\"", size, size);
    assert_non_null(strstr(svg, expect));
    snprintf(expect, sizeof expect, "data-modules=\"%d\"", w);
    assert_non_null(strstr(svg, expect));
    size_t len = strlen(svg);
    assert_true(len > 6 && !strcmp(svg + len - 6, "</svg>"));
    assert_null(strstr(svg + 1, "<svg"));
    assert_null(strchr(svg, '\n'));
    bool *grid = modules_of(svg, w, 4);
    for (int y = 0; y < w; y++)
        for (int x = 0; x < w; x++)
            if (grid[y * w + x] != ((qr->data[y * w + x] & 1) != 0))
                fail_msg("module %d,%d differs from libqrencode's", x, y);
    free(grid);
    QRcode_free(qr);
    free(svg);
}

static void test_svg_matches_the_symbol(void **state)
{
    (void)state;
    check_svg("SELGW-LOT 1 lot=ZY-2026-001 hash=blake2b-256:0123456789abcdef0123456789abcdef"
              "0123456789abcdef0123456789abcdef");
    check_svg("https://trace.example.com/lot/ZY-2026-001?lot=%E7%B4%AB&hash=x");
    check_svg("a");
}

static void test_svg_too_long(void **state)
{
    (void)state;
    char *big = malloc(4000);
    assert_non_null(big);
    memset(big, 'x', 3999);
    big[3999] = '\0';
    assert_null(selgw_qr_svg(big)); /* more than version 40 holds at level M */
    free(big);
    assert_null(selgw_qr_svg(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_without_url),
        cmocka_unit_test(test_text_with_url),
        cmocka_unit_test(test_svg_matches_the_symbol),
        cmocka_unit_test(test_svg_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
