/* A lot's QR code: its text and its SVG (qr.h). */
#include "evidence/qr.h"

#include <qrencode.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text_writer.h"
#include "evidence/report.h"

#define QUIET_ZONE 4 /* modules of white around the symbol, as ISO/IEC 18004 asks */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static void percent_encode(char *buf, size_t cap, size_t *len, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p))
            selgw_text_char(buf, cap, len, (char)*p);
        else
            selgw_text_format(buf, cap, len, "%%%02X", *p);
    }
}

static size_t qr_text(const char *lot_id, const char *bundle_hash, const char *url, char *buf,
                      size_t cap)
{
    size_t len = 0;
    if (buf && cap)
        buf[0] = '\0';
    if (url && *url) {
        selgw_text_bytes(buf, cap, &len, url, strlen(url));
        selgw_text_char(buf, cap, &len, strchr(url, '?') ? '&' : '?');
        selgw_text_bytes(buf, cap, &len, "lot=", 4);
        percent_encode(buf, cap, &len, lot_id);
        selgw_text_bytes(buf, cap, &len, "&hash=", 6);
        percent_encode(buf, cap, &len, bundle_hash);
    } else {
        selgw_text_format(buf, cap, &len, "SELGW-LOT 1 lot=%s hash=%s", lot_id, bundle_hash);
    }
    return len;
}

char *selgw_lot_qr_text(const char *lot_id, const char *bundle_hash, const char *url)
{
    if (!lot_id || !bundle_hash)
        return NULL;
    size_t need = qr_text(lot_id, bundle_hash, url, NULL, 0);
    char *out = malloc(need + 1);
    if (out)
        qr_text(lot_id, bundle_hash, url, out, need + 1);
    return out;
}

/* The SVG of a symbol, snprintf-style: each row's dark modules as runs "M x y h n v1 h-n z". */
static size_t svg_of(const QRcode *qr, char *buf, size_t cap)
{
    size_t len = 0;
    int size = qr->width + 2 * QUIET_ZONE;
    selgw_text_format(buf, cap, &len,
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                      "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\" "
                      "data-modules=\"%d\">"
                      "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
                      size, size, size * 4, size * 4, qr->width, size, size);
    for (int y = 0; y < qr->width; y++) {
        const unsigned char *row = qr->data + (size_t)y * (size_t)qr->width;
        for (int x = 0; x < qr->width;) {
            if (!(row[x] & 1)) { /* bit 0: dark module */
                x++;
                continue;
            }
            int run = 1;
            while (x + run < qr->width && (row[x + run] & 1))
                run++;
            selgw_text_format(buf, cap, &len, "M%d %dh%dv1h-%dz", x + QUIET_ZONE, y + QUIET_ZONE,
                              run, run);
            x += run;
        }
    }
    selgw_text_format(buf, cap, &len, "\"/></svg>");
    return len;
}

char *selgw_qr_svg(const char *text)
{
    if (!text)
        return NULL;
    /* 8-bit mode: the text is UTF-8 (a URL, a lot id in Chinese), decoded as bytes */
    QRcode *qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (!qr)
        return NULL;
    size_t need = svg_of(qr, NULL, 0);
    char *out = malloc(need + 1);
    if (out)
        svg_of(qr, out, need + 1);
    QRcode_free(qr);
    return out;
}

static void put_escaped(char *buf, size_t cap, size_t *len, const char *s)
{
    selgw_html_escape(buf, cap, len, s ? s : "", s ? strlen(s) : 0);
}

/* The label, snprintf-style: the symbol (one module = 1 unit) and four lines of text below:
 * the product and lot id, then the hash as "blake2b-256:" and its 64 hex digits in two lines
 * of 32, sized so that a line of 32 monospace digits fits the width. */
static size_t label_of(const char *symbol, int modules, const char *lot_id, const char *product,
                       const char *bundle_hash, char *buf, size_t cap)
{
    size_t len = 0;
    int side = modules + 2 * QUIET_ZONE;
    double mono = side / 21.0; /* 32 digits of about 0.6 em, with a margin */
    double line = mono * 1.25;
    int height = side + (int)(line * 5.2 + 1);
    selgw_text_format(buf, cap, &len,
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                      "width=\"50mm\" height=\"%.1fmm\">"
                      "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>",
                      side, height, 50.0 * height / side, side, height);
    /* the symbol as a nested svg of its own size */
    const char *body = strstr(symbol, "<rect");
    selgw_text_format(buf, cap, &len,
                      "<svg x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                      "shape-rendering=\"crispEdges\">",
                      side, side, side, side);
    selgw_text_bytes(buf, cap, &len, body, strlen(body)); /* ends with its own </svg> */
    const char *colon = bundle_hash ? strchr(bundle_hash, ':') : NULL;
    const char *digits = colon ? colon + 1 : bundle_hash ? bundle_hash : "";
    size_t n = strlen(digits), half = (n + 1) / 2;
    char kind[32] = "", first[80] = "", second[80] = "";
    if (colon && (size_t)(colon - bundle_hash) + 2 <= sizeof kind)
        snprintf(kind, sizeof kind, "%.*s", (int)(colon - bundle_hash + 1), bundle_hash);
    if (n < sizeof first) {
        snprintf(first, sizeof first, "%.*s", (int)half, digits);
        snprintf(second, sizeof second, "%s", digits + half);
    }
    selgw_text_format(buf, cap, &len,
                      "<text x=\"%d\" y=\"%.2f\" font-size=\"%.2f\" text-anchor=\"middle\" "
                      "font-family=\"Noto Sans CJK SC, sans-serif\" font-weight=\"bold\">",
                      side / 2, side + line * 0.8, line * 0.95);
    put_escaped(buf, cap, &len, product);
    selgw_text_format(buf, cap, &len, " \xc2\xb7 ");
    put_escaped(buf, cap, &len, lot_id);
    selgw_text_format(buf, cap, &len,
                      "</text><text font-size=\"%.2f\" text-anchor=\"middle\" "
                      "font-family=\"monospace\">",
                      mono);
    const char *rows[] = {kind, first, second};
    for (int i = 0; i < 3; i++) {
        selgw_text_format(buf, cap, &len, "<tspan x=\"%d\" y=\"%.2f\">", side / 2,
                          side + line * (2.0 + i));
        put_escaped(buf, cap, &len, rows[i]);
        selgw_text_format(buf, cap, &len, "</tspan>");
    }
    selgw_text_format(buf, cap, &len, "</text></svg>\n");
    return len;
}

char *selgw_qr_label_svg(const char *text, const char *lot_id, const char *product,
                         const char *bundle_hash)
{
    if (!text)
        return NULL;
    QRcode *qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (!qr)
        return NULL;
    int modules = qr->width;
    size_t need = svg_of(qr, NULL, 0);
    char *symbol = malloc(need + 1);
    if (symbol)
        svg_of(qr, symbol, need + 1);
    QRcode_free(qr);
    if (!symbol)
        return NULL;
    need = label_of(symbol, modules, lot_id, product, bundle_hash, NULL, 0);
    char *out = malloc(need + 1);
    if (out)
        label_of(symbol, modules, lot_id, product, bundle_hash, out, need + 1);
    free(symbol);
    return out;
}
