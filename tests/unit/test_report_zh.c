/* The report's Chinese for the gateway's English texts: each form the gateway writes, the
 * parts kept in place, known parts translated, unknown texts left to be shown as written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/clock.h"
#include "evidence/bundle.h"
#include "evidence/report_zh.h"

static void expect_zh(const char *en, const char *zh)
{
    char *got = selgw_report_zh_text(en);
    if (!got)
        fail_msg("no translation of \"%s\"", en);
    if (strcmp(got, zh))
        fail_msg("\"%s\"\n  gave \"%s\"\n  want \"%s\"", en, got, zh);
    free(got);
}

static void expect_none(const char *en)
{
    char *got = selgw_report_zh_text(en);
    if (got)
        fail_msg("\"%s\" should stay as written, gave \"%s\"", en, got);
}

static void test_start_stop(void **state)
{
    (void)state;
    expect_zh("selgw 0.1.0 started with /etc/selgw/gw.yaml",
              "selgw 0.1.0 启动，配置文件 /etc/selgw/gw.yaml");
    expect_zh(SELGW_RELOAD_TEXT " from /etc/selgw/gw.yaml", "重新加载配置文件 /etc/selgw/gw.yaml");
    expect_zh("stopped by Terminated", "停止（收到信号：SIGTERM，终止）");
    expect_zh("stopped by Interrupt", "停止（收到信号：SIGINT，中断）");
    expect_zh("stopped by Something else", "停止（收到信号：Something else）");
    expect_zh("stopped", "停止");
    expect_zh("no seal before it", "此前没有封存");
    expect_zh("continues from seal 0a1b2c3d", "接续封存 0a1b2c3d");
    expect_zh("continues from seal 0a1b2c3d, which is NOT the last seal before it in the bundle",
              "接续封存 0a1b2c3d，但它并非本证据包中在它之前的最后一个封存");
}

static void test_clock(void **state)
{
    (void)state;
    expect_zh("synchronised, estimated error 1500 us", "时钟已同步，估计误差 1500 微秒");
    expect_zh("not synchronised (kernel reports STA_UNSYNC)", "时钟未同步（内核报告 STA_UNSYNC）");
    expect_zh("stepped back by 3600.000 s (to 2026-12-02T08:00:00.000000Z)",
              "时钟回拨 3600.000 秒（至 2026-12-02T08:00:00.000000Z）");
    expect_zh("stepped forward by 2.500 s (to 2026-12-02T08:00:00.000000Z)",
              "时钟前跳 2.500 秒（至 2026-12-02T08:00:00.000000Z）");
    /* what this machine's clock says now, in whichever state it is */
    char text[160];
    selgw_clock_synchronised(text, sizeof text);
    char *zh = selgw_report_zh_text(text);
    assert_non_null(zh);
    assert_non_null(strstr(zh, "时钟"));
    free(zh);
}

static void test_gaps(void **state)
{
    (void)state;
    expect_zh("12 readings polled from 2026-12-01T00:00:00Z to 2026-12-01T00:10:00Z were not "
              "journaled: no space left on the disk",
              "2026-12-01T00:00:00Z 至 2026-12-01T00:10:00Z 采集的 12 条读数未能写入日志："
              "磁盘空间已满");
    expect_zh("3 readings polled from A to B were not journaled: journal disk budget used up "
              "(counted before the gateway ended unexpectedly)",
              "A 至 B 采集的 3 条读数未能写入日志：日志磁盘预算已用尽（网关意外终止前已计数）");
    expect_zh("5 records (journal records 10..14, of A to B) were accepted but could not be "
              "written before the last stop: the disk was full",
              "5 条记录（日志记录 10..14，A 至 B）已接收，但在上次停止前未能写入：磁盘已满");
    expect_zh("journal disk budget of 1048576 bytes for undelivered records reached: segment "
              "00000000000000000001.seg with records 1..500 dropped; records 3..500 are lost to "
              "the slowest sink",
              "未投递记录的日志磁盘预算（1048576 字节）已用尽：删除了日志段 "
              "00000000000000000001.seg（记录 1..500）；记录 3..500 未能送达最慢的输出端");
    /* a part that is not a known phrase stays as written */
    expect_zh("1 readings polled from A to B were not journaled: a new reason",
              "A 至 B 采集的 1 条读数未能写入日志：a new reason");
}

static void test_unknown_forms_stay(void **state)
{
    (void)state;
    expect_none("");
    expect_none("selgw 0.1.0 began");
    expect_none("stopped by"); /* the form wants " " and a part after "by" */
    expect_none("not synchronised");
    expect_none("not synchronised (kernel reports STA_UNSYNC) and more");
    expect_none("xstopped");
    assert_null(selgw_report_zh_text(NULL));
}

static void test_statuses(void **state)
{
    (void)state;
    char *s = selgw_report_zh_status("timeout");
    assert_string_equal(s, "无应答（超时）");
    free(s);
    s = selgw_report_zh_status("exception (Modbus exception 2)");
    assert_string_equal(s, "设备返回 Modbus 异常（异常码 2）");
    free(s);
    s = selgw_report_zh_status("connect_failed");
    assert_string_equal(s, "无法连接（对端、服务器或串口线路）");
    free(s);
    assert_null(selgw_report_zh_status("exception (Modbus exception 2) extra"));
    assert_null(selgw_report_zh_status("exception (something)"));
    assert_null(selgw_report_zh_status("timeouts"));
    assert_null(selgw_report_zh_status("new_status"));
    assert_null(selgw_report_zh_status(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_stop), cmocka_unit_test(test_clock),
        cmocka_unit_test(test_gaps),       cmocka_unit_test(test_unknown_forms_stay),
        cmocka_unit_test(test_statuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
