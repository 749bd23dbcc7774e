/* Test tool for test_report.py: prints the QR code of argv[1] as selgw_qr_svg makes it, so
 * that the test can render it in Chromium and decode it with zbarimg; with three arguments
 * (lot, hash, url or "-"), the text of selgw_lot_qr_text first, on a line of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/qr.h"

int main(int argc, char **argv)
{
    char *text = NULL;
    if (argc == 2)
        text = strdup(argv[1]);
    else if (argc == 4)
        text = selgw_lot_qr_text(argv[1], argv[2], strcmp(argv[3], "-") ? argv[3] : NULL);
    else {
        fprintf(stderr, "usage: qr_svg TEXT | qr_svg LOT HASH URL|-\n");
        return 2;
    }
    char *svg = text ? selgw_qr_svg(text) : NULL;
    if (!svg) {
        fprintf(stderr, "qr_svg: no QR code\n");
        free(text);
        return 1;
    }
    if (argc == 4)
        printf("%s\n", text);
    printf("%s\n", svg);
    free(svg);
    free(text);
    return 0;
}
