/* The log's choices: the journal's style ("<N>LEVEL: text", no time) only when stderr is the
 * very stream $JOURNAL_STREAM names, and the level names --log-level takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/log.h"

static void journal_style_when_stderr_is_the_named_stream(void **state)
{
    (void)state;
    assert_int_equal(selgw_log_style_for("8:17:123456", true, 8, 17), SELGW_LOG_STYLE_PLAIN);
    assert_int_equal(selgw_log_style_for("8:123456", true, 8, 123456), SELGW_LOG_STYLE_JOURNAL);
    assert_int_equal(selgw_log_style_for("64769:2098711", true, 64769, 2098711),
                     SELGW_LOG_STYLE_JOURNAL);
}

static void plain_style_otherwise(void **state)
{
    (void)state;
    /* Not under systemd. */
    assert_int_equal(selgw_log_style_for(NULL, true, 8, 123456), SELGW_LOG_STYLE_PLAIN);
    /* Inherited by a child whose stderr goes elsewhere (a pipe, a file). */
    assert_int_equal(selgw_log_style_for("8:123456", true, 8, 123457), SELGW_LOG_STYLE_PLAIN);
    assert_int_equal(selgw_log_style_for("8:123456", true, 9, 123456), SELGW_LOG_STYLE_PLAIN);
    /* stderr closed: fstat failed. */
    assert_int_equal(selgw_log_style_for("8:123456", false, 8, 123456), SELGW_LOG_STYLE_PLAIN);
    /* Not the DEV:INO form. */
    assert_int_equal(selgw_log_style_for("", true, 0, 0), SELGW_LOG_STYLE_PLAIN);
    assert_int_equal(selgw_log_style_for("8", true, 8, 0), SELGW_LOG_STYLE_PLAIN);
    assert_int_equal(selgw_log_style_for("8:123456x", true, 8, 123456), SELGW_LOG_STYLE_PLAIN);
    assert_int_equal(selgw_log_style_for("journal", true, 0, 0), SELGW_LOG_STYLE_PLAIN);
}

static void level_names(void **state)
{
    (void)state;
    selgw_log_level level = SELGW_LOG_INFO;
    assert_true(selgw_log_level_parse("error", &level));
    assert_int_equal(level, SELGW_LOG_ERROR);
    assert_true(selgw_log_level_parse("warn", &level));
    assert_int_equal(level, SELGW_LOG_WARN);
    assert_true(selgw_log_level_parse("warning", &level));
    assert_int_equal(level, SELGW_LOG_WARN);
    assert_true(selgw_log_level_parse("info", &level));
    assert_int_equal(level, SELGW_LOG_INFO);
    assert_true(selgw_log_level_parse("debug", &level));
    assert_int_equal(level, SELGW_LOG_DEBUG);
    level = SELGW_LOG_INFO;
    assert_false(selgw_log_level_parse("verbose", &level));
    assert_false(selgw_log_level_parse("", &level));
    assert_false(selgw_log_level_parse("INFO", &level));
    assert_int_equal(level, SELGW_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(journal_style_when_stderr_is_the_named_stream),
        cmocka_unit_test(plain_style_otherwise),
        cmocka_unit_test(level_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
