/* selgw: a lot's QR code (docs/REPORT.md): the text it encodes and the code as inline SVG.
 *
 * A buyer holding the QR label and the lot's evidence file checks that they belong
 * together: the code carries the lot id and the bundle's hash, which `selgw verify` prints
 * for the file. With the enterprise's URL the code opens its page for the lot. Pure
 * functions (libqrencode for the symbol). */
#ifndef SELGW_QR_H
#define SELGW_QR_H

/* The text a lot's QR code encodes (malloc'd; NULL when out of memory or lot_id or
 * bundle_hash is NULL):
 *   with url:    <url> + ('&' if url has a '?', else '?') + "lot=<id>&hash=<bundle_hash>",
 *                the id and hash percent-encoded (RFC 3986: all but A-Z a-z 0-9 - . _ ~);
 *   without:     "SELGW-LOT 1 lot=<id> hash=<bundle_hash>".
 * bundle_hash is the text verify prints, "blake2b-256:<64 hex>". */
char *selgw_lot_qr_text(const char *lot_id, const char *bundle_hash, const char *url);

/* The QR code of text (error correction M, byte mode, the smallest version that holds it)
 * as one complete standalone <svg> element: a white square with a quiet zone of 4 modules
 * and one black <path> of the dark modules, 1 user unit per module (viewBox), so that it
 * scales to any size without blurring. malloc'd; NULL when the text is too long for a QR
 * code (about 2,300 bytes at level M) or out of memory. */
char *selgw_qr_svg(const char *text);

/* A printable label of a lot (`selgw export --lot ID --qr LABEL.svg`): the QR code of text on
 * top, under it the product and the lot id, and the bundle's hash in full in two lines of
 * monospace, so that a person can compare it with what `selgw verify` prints. One standalone
 * SVG document (malloc'd; NULL as selgw_qr_svg). Every text is XML-escaped. */
char *selgw_qr_label_svg(const char *text, const char *lot_id, const char *product,
                         const char *bundle_hash);

#endif
