/* Safe text: the UTF-8 reader on every valid length and every malformed form (and against
 * the Unicode standard's table of well-formed byte sequences over all short inputs), the
 * control code points and their neighbours, what counts as clean single-line text, and each
 * escaping rule, the snprintf-style contract and the attack the module exists for: a record
 * string that would draw a fake "VERIFIED:" line or reorder what the reader sees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/safe_text.h"

/* ---- selgw_utf8_sequence ------------------------------------------------------------- */

/* Asserts that bytes[0..n) start with a well-formed sequence of `len` bytes for cp. */
static void assert_sequence(const char *bytes, size_t n, size_t len, uint32_t cp)
{
    uint32_t got = 0xdeadbeef;
    size_t got_len = selgw_utf8_sequence((const unsigned char *)bytes, n, &got);
    if (got_len != len || got != cp)
        fail_msg("sequence of %zu bytes: length %zu code point U+%04X, expected %zu U+%04X", n,
                 got_len, (unsigned)got, len, (unsigned)cp);
}

/* Asserts that bytes[0..n) do not start with a well-formed sequence. */
static void assert_malformed(const char *bytes, size_t n)
{
    uint32_t cp = 0;
    size_t len = selgw_utf8_sequence((const unsigned char *)bytes, n, &cp);
    if (len != 0) {
        char hex[64] = "";
        for (size_t i = 0; i < n && i < 8; i++)
            snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", (unsigned char)bytes[i]);
        fail_msg("%sread as %zu bytes (U+%04X), expected malformed", hex, len, (unsigned)cp);
    }
}

static void test_utf8_one_byte(void **state)
{
    (void)state;
    assert_sequence("\x00", 1, 1, 0x0000); /* NUL is a character: length-based, not C string */
    assert_sequence("A", 1, 1, 'A');
    assert_sequence("\x7f", 1, 1, 0x007f);
    /* only the first sequence is read */
    assert_sequence("AB", 2, 1, 'A');
}

static void test_utf8_two_bytes(void **state)
{
    (void)state;
    assert_sequence("\xc2\x80", 2, 2, 0x0080);
    assert_sequence("\xc3\xa9", 2, 2, 0x00e9); /* é */
    assert_sequence("\xdf\xbf", 2, 2, 0x07ff);
    assert_sequence("\xdf\xbf"
                    "A",
                    3, 2, 0x07ff);
}

static void test_utf8_three_bytes(void **state)
{
    (void)state;
    assert_sequence("\xe0\xa0\x80", 3, 3, 0x0800);
    assert_sequence("\xe4\xb8\xad", 3, 3, 0x4e2d); /* 中 */
    assert_sequence("\xed\x9f\xbf", 3, 3, 0xd7ff); /* just below the surrogates */
    assert_sequence("\xee\x80\x80", 3, 3, 0xe000); /* just above them */
    assert_sequence("\xef\xbf\xbf", 3, 3, 0xffff);
}

static void test_utf8_four_bytes(void **state)
{
    (void)state;
    assert_sequence("\xf0\x90\x80\x80", 4, 4, 0x10000);
    assert_sequence("\xf0\x9f\x8d\xb5", 4, 4, 0x1f375); /* teacup without handle */
    assert_sequence("\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff);
    assert_sequence("\xf4\x8f\xbf\xbf"
                    "A",
                    5, 4, 0x10ffff);
}

static void test_utf8_nothing_to_read(void **state)
{
    (void)state;
    assert_malformed("A", 0);
}

static void test_utf8_stray_continuation_bytes(void **state)
{
    (void)state;
    for (unsigned b = 0x80; b <= 0xbf; b++) {
        char s[2] = {(char)b, 'A'};
        assert_malformed(s, 2);
    }
}

static void test_utf8_truncated_sequences(void **state)
{
    (void)state;
    /* the bytes are there in memory, but n says they are not ours to read */
    assert_malformed("\xc3\xa9", 1);
    assert_malformed("\xe4\xb8\xad", 1);
    assert_malformed("\xe4\xb8\xad", 2);
    assert_malformed("\xf0\x9f\x8d\xb5", 1);
    assert_malformed("\xf0\x9f\x8d\xb5", 2);
    assert_malformed("\xf0\x9f\x8d\xb5", 3);
    /* a sequence cut short by a byte that is not a continuation */
    assert_malformed("\xc3"
                     "A",
                     2);
    assert_malformed("\xc3\xc3\xa9", 3);
    assert_malformed("\xe4"
                     "A\xad",
                     3);
    assert_malformed("\xe4\xb8"
                     "A",
                     3);
    assert_malformed("\xf0"
                     "A\x8d\xb5",
                     4);
    assert_malformed("\xf0\x9f"
                     "A\xb5",
                     4);
    assert_malformed("\xf0\x9f\x8d"
                     "A",
                     4);
    assert_malformed("\xf0\x9f\x8d\xf0", 4);
}

static void test_utf8_overlong_forms(void **state)
{
    (void)state;
    assert_malformed("\xc0\x80", 2); /* NUL in two bytes (Java's "modified UTF-8") */
    assert_malformed("\xc0\xaf", 2); /* '/' in two bytes, the classic path trick */
    assert_malformed("\xc1\xbf", 2); /* U+007F in two bytes */
    assert_malformed("\xe0\x80\x80", 3);
    assert_malformed("\xe0\x9f\xbf", 3); /* U+07FF in three bytes */
    assert_malformed("\xf0\x80\x80\x80", 4);
    assert_malformed("\xf0\x8f\xbf\xbf", 4); /* U+FFFF in four bytes */
}

static void test_utf8_surrogates(void **state)
{
    (void)state;
    assert_malformed("\xed\xa0\x80", 3); /* U+D800 */
    assert_malformed("\xed\xaf\xbf", 3); /* U+DBFF */
    assert_malformed("\xed\xb0\x80", 3); /* U+DC00 */
    assert_malformed("\xed\xbf\xbf", 3); /* U+DFFF */
    /* a surrogate pair encoded as two sequences (CESU-8) */
    assert_malformed("\xed\xa0\xbd\xed\xb8\x80", 6);
}

static void test_utf8_past_u10ffff(void **state)
{
    (void)state;
    assert_malformed("\xf4\x90\x80\x80", 4); /* U+110000 */
    assert_malformed("\xf4\xbf\xbf\xbf", 4);
    /* lead bytes F5..FF can only start values past U+10FFFF (or nothing at all) */
    for (unsigned b = 0xf5; b <= 0xff; b++) {
        char s[4] = {(char)b, '\x80', '\x80', '\x80'};
        assert_malformed(s, 4);
    }
}

/* The length of the well-formed sequence at p from Table 3-7 of the Unicode Standard
 * ("Well-Formed UTF-8 Byte Sequences"), 0 if there is none: an independent statement of
 * the same rule, byte range by byte range. */
static size_t table_3_7_length(const unsigned char *p, size_t n)
{
    static const struct {
        unsigned char lo[4], hi[4];
        size_t len;
    } rows[] = {
        {{0x00}, {0x7f}, 1},
        {{0xc2, 0x80}, {0xdf, 0xbf}, 2},
        {{0xe0, 0xa0, 0x80}, {0xe0, 0xbf, 0xbf}, 3},
        {{0xe1, 0x80, 0x80}, {0xec, 0xbf, 0xbf}, 3},
        {{0xed, 0x80, 0x80}, {0xed, 0x9f, 0xbf}, 3},
        {{0xee, 0x80, 0x80}, {0xef, 0xbf, 0xbf}, 3},
        {{0xf0, 0x90, 0x80, 0x80}, {0xf0, 0xbf, 0xbf, 0xbf}, 4},
        {{0xf1, 0x80, 0x80, 0x80}, {0xf3, 0xbf, 0xbf, 0xbf}, 4},
        {{0xf4, 0x80, 0x80, 0x80}, {0xf4, 0x8f, 0xbf, 0xbf}, 4},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        if (n < rows[r].len)
            continue;
        size_t i = 0;
        while (i < rows[r].len && p[i] >= rows[r].lo[i] && p[i] <= rows[r].hi[i])
            i++;
        if (i == rows[r].len)
            return rows[r].len;
    }
    return 0;
}

static uint32_t decode_well_formed(const unsigned char *p, size_t len)
{
    static const unsigned char lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t cp = p[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++)
        cp = cp << 6 | (p[i] & 0x3f);
    return cp;
}

static void check_against_table(const unsigned char *p, size_t n)
{
    uint32_t cp = 0;
    size_t got = selgw_utf8_sequence(p, n, &cp);
    size_t want = table_3_7_length(p, n);
    if (got != want)
        fail_msg("%02x %02x %02x %02x (n=%zu): length %zu, Table 3-7 says %zu", p[0],
                 n > 1 ? p[1] : 0, n > 2 ? p[2] : 0, n > 3 ? p[3] : 0, n, got, want);
    if (want)
        assert_int_equal(cp, decode_well_formed(p, want));
}

/* Every first and second byte, with the later bytes at the edges of the continuation range
 * and just outside it, for every available length n: whatever the hand-picked cases above
 * missed. */
static void test_utf8_agrees_with_table_3_7(void **state)
{
    (void)state;
    static const unsigned char edges[] = {0x7f, 0x80, 0xbf, 0xc0};
    const size_t e = sizeof edges;
    for (unsigned b0 = 0; b0 < 256; b0++)
        for (unsigned b1 = 0; b1 < 256; b1++)
            for (size_t i = 0; i < e * e; i++) {
                unsigned char p[4] = {(unsigned char)b0, (unsigned char)b1, edges[i / e],
                                      edges[i % e]};
                for (size_t n = 1; n <= 4; n++)
                    check_against_table(p, n);
            }
}

/* ---- selgw_code_point_is_control ------------------------------------------------------ */

static void assert_controls(uint32_t first, uint32_t last)
{
    for (uint32_t cp = first; cp <= last; cp++)
        if (!selgw_code_point_is_control(cp))
            fail_msg("U+%04X is not taken for a control", (unsigned)cp);
    /* and the neighbours on either side are shown as themselves */
    if (first > 0 && selgw_code_point_is_control(first - 1))
        fail_msg("U+%04X, just below U+%04X, is taken for a control", (unsigned)(first - 1),
                 (unsigned)first);
    if (selgw_code_point_is_control(last + 1))
        fail_msg("U+%04X, just above U+%04X, is taken for a control", (unsigned)(last + 1),
                 (unsigned)last);
}

static void test_control_c0_tab_and_newline(void **state)
{
    (void)state;
    assert_controls(0x0000, 0x001f);
    assert_true(selgw_code_point_is_control('\t'));
    assert_true(selgw_code_point_is_control('\n'));
    assert_false(selgw_code_point_is_control(' '));
}

static void test_control_del_and_c1(void **state)
{
    (void)state;
    assert_controls(0x007f, 0x009f); /* DEL, then C1 (U+0085 next line, U+009B CSI) */
    assert_false(selgw_code_point_is_control('~'));
    assert_false(selgw_code_point_is_control(0x00a0)); /* no-break space is shown */
}

static void test_control_bidi_marks(void **state)
{
    (void)state;
    assert_controls(0x061c, 0x061c); /* Arabic letter mark */
    assert_controls(0x200e, 0x200f); /* left-to-right and right-to-left marks */
}

static void test_control_zero_width_space(void **state)
{
    (void)state;
    assert_controls(0x200b, 0x200b);
    /* zero-width (non-)joiners shape scripts and emoji: shown, not controls */
    assert_false(selgw_code_point_is_control(0x200c));
    assert_false(selgw_code_point_is_control(0x200d));
}

static void test_control_separators_embeddings_overrides(void **state)
{
    (void)state;
    /* U+2028 line and U+2029 paragraph separators, U+202A..202E embeddings, pop, overrides */
    assert_controls(0x2028, 0x202e);
}

static void test_control_isolates(void **state)
{
    (void)state;
    assert_controls(0x2066, 0x2069);
}

static void test_control_byte_order_mark(void **state)
{
    (void)state;
    assert_controls(0xfeff, 0xfeff);
}

/* No other code point is a control: the list above is the whole list. */
static void test_control_nothing_else(void **state)
{
    (void)state;
    size_t count = 0;
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++)
        count += selgw_code_point_is_control(cp);
    assert_int_equal(count, 32 + 33 + 1 + 2 + 1 + 7 + 4 + 1);
    assert_false(selgw_code_point_is_control(0x4e2d));
    assert_false(selgw_code_point_is_control(0x10ffff));
}

/* ---- selgw_text_is_clean -------------------------------------------------------------- */

static bool clean(const char *s)
{
    return selgw_text_is_clean(s, strlen(s));
}

static void test_clean_text(void **state)
{
    (void)state;
    assert_true(selgw_text_is_clean("", 0));
    assert_true(clean("Plot 7, north terrace (tea)"));
    assert_true(clean("紫阳县汉王镇 茶园 3 号"));
    assert_true(clean("caf\xc3\xa9 \xf0\x9f\x8d\xb5")); /* 2- and 4-byte sequences */
    assert_true(clean("a\xc2\xa0"
                      "b"));           /* no-break space */
    assert_true(clean("\\ is shown")); /* escaping is not cleanliness */
    /* only s[0..n) is looked at */
    assert_true(selgw_text_is_clean("abc\n", 3));
}

static void test_unclean_controls(void **state)
{
    (void)state;
    assert_false(clean("a\tb"));
    assert_false(clean("a\nb"));
    assert_false(clean("a\rb"));
    assert_false(clean("\x1b[2K"));
    assert_false(clean("a\x7f"));
    assert_false(selgw_text_is_clean("a\0b", 3));
    assert_false(clean("a\xc2\x85"
                       "b")); /* U+0085 next line */
    assert_false(clean("abc\xe2\x80\xae"
                       "cba")); /* U+202E right-to-left override */
    assert_false(clean("\xe2\x81\xa6"
                       "x")); /* U+2066 left-to-right isolate */
    assert_false(clean("pay\xe2\x80\x8b"
                       "ee")); /* U+200B zero-width space */
    assert_false(clean("\xef\xbb\xbf"
                       "text"));                /* U+FEFF byte-order mark */
    assert_false(clean("line\xe2\x80\xa8two")); /* U+2028 line separator */
    /* at either end */
    assert_false(clean("\ntext"));
    assert_false(clean("text\n"));
}

static void test_unclean_malformed(void **state)
{
    (void)state;
    assert_false(clean("a\x80"
                       "b"));
    assert_false(clean("\xe4\xb8")); /* 中 cut short at the end */
    assert_false(clean("\xe4\xb8"
                       "A"));
    assert_false(clean("\xc0\xaf"));         /* overlong '/' */
    assert_false(clean("\xed\xa0\x80"));     /* surrogate */
    assert_false(clean("\xf4\x90\x80\x80")); /* past U+10FFFF */
    assert_false(clean("ok\xff"));
    /* a whole sequence that n cuts short */
    assert_false(selgw_text_is_clean("a\xe4\xb8\xad", 3));
}

/* ---- selgw_text_escape ---------------------------------------------------------------- */

/* s[0..n) escaped into a fresh buffer; checks that *len is the text's length. */
static const char *esc_n(const char *s, size_t n)
{
    static char buf[512];
    size_t len = 0;
    buf[0] = '\0';
    selgw_text_escape(buf, sizeof buf, &len, s, n);
    assert_true(len < sizeof buf);
    assert_int_equal(strlen(buf), len);
    return buf;
}

static const char *esc(const char *s)
{
    return esc_n(s, strlen(s));
}

static void test_escape_backslash(void **state)
{
    (void)state;
    /* doubled, so that an escape in the input cannot pass for one the escaper wrote */
    assert_string_equal(esc("\\"), "\\\\");
    assert_string_equal(esc("C:\\tea\\n"), "C:\\\\tea\\\\n");
    assert_string_equal(esc("\\x1b"), "\\\\x1b");
}

static void test_escape_newline_cr_tab(void **state)
{
    (void)state;
    assert_string_equal(esc("a\nb"), "a\\nb");
    assert_string_equal(esc("a\rb"), "a\\rb");
    assert_string_equal(esc("a\tb"), "a\\tb");
    assert_string_equal(esc("\r\n\t"), "\\r\\n\\t");
}

static void test_escape_other_c0_and_del(void **state)
{
    (void)state;
    assert_string_equal(esc_n("\0", 1), "\\x00");
    assert_string_equal(esc_n("a\0b", 3), "a\\x00b");
    assert_string_equal(esc("\x01"), "\\x01");
    assert_string_equal(esc("\x07"), "\\x07"); /* bell */
    assert_string_equal(esc("\x08"), "\\x08"); /* backspace: would rub out what came before */
    assert_string_equal(esc("\x0b\x0c"), "\\x0b\\x0c"); /* not \v \f: only n, r, t have names */
    assert_string_equal(esc("\x1b[2K"), "\\x1b[2K");
    assert_string_equal(esc("\x1f"), "\\x1f");
    assert_string_equal(esc("\x7f"), "\\x7f");
    /* the printable neighbours stay */
    assert_string_equal(esc(" ~"), " ~");
}

static void test_escape_malformed_bytes(void **state)
{
    (void)state;
    assert_string_equal(esc("\x80"), "\\x80");
    assert_string_equal(esc("a\xff"
                            "b"),
                        "a\\xffb");
    assert_string_equal(esc("\xc0\xaf"), "\\xc0\\xaf");
    assert_string_equal(esc("\xed\xa0\x80"), "\\xed\\xa0\\x80");
    assert_string_equal(esc("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
    /* a cut-short sequence: its bytes one by one, then what follows as itself */
    assert_string_equal(esc("\xe4\xb8"
                            "A"),
                        "\\xe4\\xb8A");
    assert_string_equal(esc("\xe4\xb8\xe4\xb8\xad"), "\\xe4\\xb8中");
    assert_string_equal(esc_n("\xe4\xb8\xad", 2), "\\xe4\\xb8");
}

static void test_escape_control_code_points_above_7f(void **state)
{
    (void)state;
    assert_string_equal(esc("\xc2\x80"), "\\u0080");
    assert_string_equal(esc("a\xc2\x85"
                            "b"),
                        "a\\u0085b");
    assert_string_equal(esc("\xc2\x9b"), "\\u009b"); /* C1 CSI: a one-byte escape sequence */
    assert_string_equal(esc("\xd8\x9c"), "\\u061c");
    assert_string_equal(esc("\xe2\x80\x8b"), "\\u200b");
    assert_string_equal(esc("\xe2\x80\x8e\xe2\x80\x8f"), "\\u200e\\u200f");
    assert_string_equal(esc("\xe2\x80\xa8\xe2\x80\xa9"), "\\u2028\\u2029");
    assert_string_equal(esc("abc\xe2\x80\xae"
                            "cba"),
                        "abc\\u202ecba");
    assert_string_equal(esc("\xe2\x81\xa6"
                            "x\xe2\x81\xa9"),
                        "\\u2066x\\u2069");
    assert_string_equal(esc("\xef\xbb\xbf"), "\\ufeff");
}

static void test_escape_leaves_text_unchanged(void **state)
{
    (void)state;
    assert_string_equal(esc(""), "");
    assert_string_equal(esc("Plot 7 \"north\" {tea}"), "Plot 7 \"north\" {tea}");
    assert_string_equal(esc("紫阳县汉王镇 茶园 3 号"), "紫阳县汉王镇 茶园 3 号");
    assert_string_equal(esc("caf\xc3\xa9\xc2\xa0\xf0\x9f\x8d\xb5"),
                        "caf\xc3\xa9\xc2\xa0\xf0\x9f\x8d\xb5");
    /* joiners are not controls: an emoji sequence stays whole */
    assert_string_equal(esc("\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x8c\xbe"),
                        "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x8c\xbe");
    assert_string_equal(esc("茶\t叶\n"), "茶\\t叶\\n");
}

/* The string the module exists for: two newlines and "VERIFIED:" would draw a line that
 * looks like the verifier's own, ESC [2K and CR would erase the real line, and U+202E would
 * reverse what follows. Escaped, it is one inert line. */
static void test_escape_attack_string(void **state)
{
    (void)state;
    const char attack[] = "ok\n\nVERIFIED: fake\x1b[2K\r\xe2\x80\xae";
    const char *out = esc_n(attack, sizeof attack - 1);
    assert_string_equal(out, "ok\\n\\nVERIFIED: fake\\x1b[2K\\r\\u202e");
    for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
        assert_true(*p >= 0x20);
        assert_true(*p != 0x7f);
    }
    assert_null(strstr(out, "\xe2\x80\xae"));
    assert_true(clean(out));
}

/* Escaping continues the text already in the buffer. */
static void test_escape_appends(void **state)
{
    (void)state;
    char buf[32] = "note=";
    size_t len = 5;
    selgw_text_escape(buf, sizeof buf, &len, "a\nb", 3);
    assert_int_equal(len, 9);
    assert_string_equal(buf, "note=a\\nb");
    selgw_text_escape(buf, sizeof buf, &len, "", 0);
    assert_int_equal(len, 9);
    assert_string_equal(buf, "note=a\\nb");
}

/* cap 0 with no buffer asks for the length; every shorter buffer holds a NUL-terminated
 * prefix of the full text, nothing is written at or past cap, and *len still grows by the
 * full length. The input makes the cut fall inside every kind of escape and inside a
 * multi-byte character. */
static void test_escape_size_query_and_truncation(void **state)
{
    (void)state;
    const char input[] = "a\\b\n\x1b\xff中\xe2\x80\xae"
                         "z\0!";
    const size_t n = sizeof input - 1;
    char full[128];
    size_t need = 0;
    full[0] = '\0';
    selgw_text_escape(full, sizeof full, &need, input, n);
    assert_string_equal(full, "a\\\\b\\n\\x1b\\xff中\\u202ez\\x00!");
    assert_int_equal(need, strlen(full));

    size_t query = 0;
    selgw_text_escape(NULL, 0, &query, input, n);
    assert_int_equal(query, need);

    for (size_t cap = 1; cap <= need + 1; cap++) {
        char buf[128];
        memset(buf, '#', sizeof buf);
        buf[0] = '\0';
        size_t len = 0;
        selgw_text_escape(buf, cap, &len, input, n);
        assert_int_equal(len, need);
        assert_non_null(memchr(buf, '\0', cap)); /* terminated within cap */
        assert_true(strlen(buf) < cap);
        assert_memory_equal(buf, full, strlen(buf));
        assert_int_equal(strlen(buf), cap - 1); /* as much as fits, like snprintf */
        for (size_t i = cap; i < sizeof buf; i++)
            assert_int_equal(buf[i], '#');
        if (cap == need + 1)
            assert_string_equal(buf, full);
    }

    /* appending to a buffer that is already full still counts */
    char buf[8] = "1234567";
    size_t len = 7;
    selgw_text_escape(buf, sizeof buf, &len, "\n", 1);
    assert_int_equal(len, 9);
    assert_string_equal(buf, "1234567");
}

static void test_escape_dup(void **state)
{
    (void)state;
    const char attack[] = "ok\n\nVERIFIED: fake\x1b[2K\r\xe2\x80\xae";
    char *s = selgw_text_escape_dup(attack, sizeof attack - 1);
    assert_non_null(s);
    assert_string_equal(s, "ok\\n\\nVERIFIED: fake\\x1b[2K\\r\\u202e");
    free(s);

    s = selgw_text_escape_dup("a\0b", 3);
    assert_non_null(s);
    assert_string_equal(s, "a\\x00b");
    free(s);

    s = selgw_text_escape_dup("", 0);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);

    s = selgw_text_escape_dup("紫阳", strlen("紫阳"));
    assert_non_null(s);
    assert_string_equal(s, "紫阳");
    free(s);
}

/* ---- properties over random strings --------------------------------------------------- */

/* xorshift64, as in test_record.c: a fixed seed, so that a failure repeats */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static size_t put_utf8(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    out[0] = (unsigned char)(0xe0 | cp >> 12);
    out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
}

/* Undoes the escaping as a reader of the output would; fails on an escape it does not
 * know. Returns the length. */
static size_t unescape(const char *s, unsigned char *out)
{
    size_t n = 0;
    for (size_t i = 0; s[i];) {
        if (s[i] != '\\') {
            out[n++] = (unsigned char)s[i++];
            continue;
        }
        char kind = s[i + 1];
        if (kind == '\\' || kind == 'n' || kind == 'r' || kind == 't') {
            out[n++] = kind == '\\' ? '\\' : kind == 'n' ? '\n' : kind == 'r' ? '\r' : '\t';
            i += 2;
        } else if (kind == 'x') {
            int hi = hex_value(s[i + 2]), lo = hi < 0 ? -1 : hex_value(s[i + 3]);
            if (hi < 0 || lo < 0)
                fail_msg("bad \\x escape in \"%s\"", s);
            out[n++] = (unsigned char)(hi << 4 | lo);
            i += 4;
        } else if (kind == 'u') {
            uint32_t cp = 0;
            for (int k = 2; k < 6; k++) {
                int v = hex_value(s[i + k]);
                if (v < 0)
                    fail_msg("bad \\u escape in \"%s\"", s);
                cp = cp << 4 | (uint32_t)v;
            }
            n += put_utf8(cp, out + n);
            i += 6;
        } else {
            fail_msg("unknown escape \\%c in \"%s\"", kind, s);
        }
    }
    return n;
}

/* Random strings built from every kind of piece: whatever the input, the output is clean
 * single-line text (no byte below 0x20, no DEL, no control code point, well-formed UTF-8),
 * it reads back to exactly the input, escape_dup agrees with escape, and text that is
 * clean and has no backslash comes out unchanged. */
static void test_escape_properties_on_random_strings(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "a",
        "Z",
        " ",
        "\\",
        "\n",
        "\r",
        "\t",
        "\x1b",
        "\0",
        "\x7f",
        "\x80",
        "\xff",
        "\xc0",
        "\xc3\xa9",
        "中",
        "\xe4\xb8",
        "x",
        "=",
        "\xc2\x85",
        "\xe2\x80\xae",
        "\xef\xbb\xbf",
        "\xe2\x80\x8d",
        "\xed\xa0\x80",
        "\xf0\x9f\x8d\xb5",
        "\xf0\x9f\x8d",
        "\xf4\x90\x80\x80",
        "\xc2\xa0",
    };
    const size_t kinds = sizeof pieces / sizeof pieces[0];
    for (int round = 0; round < 20000; round++) {
        char in[64];
        size_t n = 0;
        size_t count = next_random() % 10;
        for (size_t k = 0; k < count; k++) {
            const char *piece = pieces[next_random() % kinds];
            size_t len = piece[0] ? strlen(piece) : 1; /* "\0" is one NUL byte */
            memcpy(in + n, piece, len);
            n += len;
        }
        const char *out = esc_n(in, n);
        for (const unsigned char *p = (const unsigned char *)out; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                fail_msg("byte %02x in the escaped text", *p);
        assert_true(clean(out));

        unsigned char back[512];
        size_t back_len = unescape(out, back);
        assert_int_equal(back_len, n);
        assert_memory_equal(back, in, n);

        char *dup = selgw_text_escape_dup(in, n);
        assert_non_null(dup);
        assert_string_equal(dup, out);
        free(dup);

        if (selgw_text_is_clean(in, n) && !memchr(in, '\\', n)) {
            assert_int_equal(strlen(out), n);
            assert_memory_equal(out, in, n);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_one_byte),
        cmocka_unit_test(test_utf8_two_bytes),
        cmocka_unit_test(test_utf8_three_bytes),
        cmocka_unit_test(test_utf8_four_bytes),
        cmocka_unit_test(test_utf8_nothing_to_read),
        cmocka_unit_test(test_utf8_stray_continuation_bytes),
        cmocka_unit_test(test_utf8_truncated_sequences),
        cmocka_unit_test(test_utf8_overlong_forms),
        cmocka_unit_test(test_utf8_surrogates),
        cmocka_unit_test(test_utf8_past_u10ffff),
        cmocka_unit_test(test_utf8_agrees_with_table_3_7),
        cmocka_unit_test(test_control_c0_tab_and_newline),
        cmocka_unit_test(test_control_del_and_c1),
        cmocka_unit_test(test_control_bidi_marks),
        cmocka_unit_test(test_control_zero_width_space),
        cmocka_unit_test(test_control_separators_embeddings_overrides),
        cmocka_unit_test(test_control_isolates),
        cmocka_unit_test(test_control_byte_order_mark),
        cmocka_unit_test(test_control_nothing_else),
        cmocka_unit_test(test_clean_text),
        cmocka_unit_test(test_unclean_controls),
        cmocka_unit_test(test_unclean_malformed),
        cmocka_unit_test(test_escape_backslash),
        cmocka_unit_test(test_escape_newline_cr_tab),
        cmocka_unit_test(test_escape_other_c0_and_del),
        cmocka_unit_test(test_escape_malformed_bytes),
        cmocka_unit_test(test_escape_control_code_points_above_7f),
        cmocka_unit_test(test_escape_leaves_text_unchanged),
        cmocka_unit_test(test_escape_attack_string),
        cmocka_unit_test(test_escape_appends),
        cmocka_unit_test(test_escape_size_query_and_truncation),
        cmocka_unit_test(test_escape_dup),
        cmocka_unit_test(test_escape_properties_on_random_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
