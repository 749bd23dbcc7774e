/* A lot's QR code: its text and its SVG (qr.h). */
#include "evidence/qr.h"

#include <qrencode.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text_writer.h"

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
