/* The report's Chinese for what gateways write in English (report_zh.h). */
#include "evidence/report_zh.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "evidence/bundle.h"

/* A form the gateway writes (printf's %s for each variable part) and its Chinese, where
 * %1 .. %9 stand for the parts in their English order. The forms are those of gateway.c,
 * journal.c and clock.c; a test holds them to what those write. */
typedef struct form {
    const char *en, *zh;
} form;

static const form forms[] = {
    /* START, and a reload's START */
    {"selgw %s started with %s", "selgw %1 启动，配置文件 %2"},
    {SELGW_RELOAD_TEXT " from %s", "重新加载配置文件 %1"},
    /* what verify says of a START's seal */
    {"no seal before it", "此前没有封存"},
    {"continues from seal %s, which is NOT the last seal before it in the bundle",
     "接续封存 %1，但它并非本证据包中在它之前的最后一个封存"},
    {"continues from seal %s", "接续封存 %1"},
    /* STOP */
    {"stopped by %s", "停止（收到信号：%1）"},
    {"stopped", "停止"},
    /* CLOCK */
    {"synchronised, estimated error %s us", "时钟已同步，估计误差 %1 微秒"},
    {"not synchronised (kernel reports STA_UNSYNC)", "时钟未同步（内核报告 STA_UNSYNC）"},
    {"stepped back by %s s (to %s)", "时钟回拨 %1 秒（至 %2）"},
    {"stepped forward by %s s (to %s)", "时钟前跳 %1 秒（至 %2）"},
    /* GAP */
    {"%s readings polled from %s to %s were not journaled: %s (counted before the gateway "
     "ended unexpectedly)",
     "%2 至 %3 采集的 %1 条读数未能写入日志：%4（网关意外终止前已计数）"},
    {"%s readings polled from %s to %s were not journaled: %s",
     "%2 至 %3 采集的 %1 条读数未能写入日志：%4"},
    {"%s records (journal records %s..%s, of %s to %s) were accepted but could not be written "
     "before the last stop: the disk was full",
     "%1 条记录（日志记录 %2..%3，%4 至 %5）已接收，但在上次停止前未能写入：磁盘已满"},
    {"journal disk budget of %s bytes for undelivered records reached: segment %s with records "
     "%s..%s dropped; records %s..%s are lost to the slowest sink",
     "未投递记录的日志磁盘预算（%1 字节）已用尽：删除了日志段 %2（记录 %3..%4）；记录 %5..%6 "
     "未能送达最慢的输出端"},
    {"the plot chain log holds journal records up to %s, the journal ends at %s: records the "
     "disk acknowledged were lost (a crash with a disk that lied about a flush) or the journal "
     "was replaced by an older copy",
     "地块链日志记录到日志记录 %1，而日志止于 %2：磁盘已确认写入的记录丢失（磁盘谎报刷写后崩溃），"
     "或日志被旧副本替换"},
};

/* Parts that are themselves known phrases: selgw_strerror's texts and signal names. */
typedef struct phrase {
    const char *en, *zh;
} phrase;

static const phrase phrases[] = {
    {"out of memory", "内存不足"},
    {"input/output error", "输入/输出错误"},
    {"no space left on the disk", "磁盘空间已满"},
    {"journal disk budget used up", "日志磁盘预算已用尽"},
    {"permission denied", "权限不足"},
    {"stored data is corrupt", "存储的数据已损坏"},
    {"Interrupt", "SIGINT，中断"},
    {"Terminated", "SIGTERM，终止"},
    {"Hangup", "SIGHUP，挂断"},
};

/* Poll statuses (selgw_err_token) in Chinese. */
static const phrase statuses[] = {
    {"timeout", "无应答（超时）"},
    {"connect_failed", "无法连接（对端、服务器或串口线路）"},
    {"disconnected", "连接或线路中断"},
    {"exception", "设备返回 Modbus 异常"},
    {"bad_frame", "应答损坏（CRC、长度或报头）"},
    {"range", "数值超出范围"},
    {"io", "输入/输出错误"},
    {"invalid", "参数或数值无效"},
    {"no_memory", "内存不足"},
    {"permission", "权限不足"},
    {"not_found", "未找到（串口设备不存在）"},
};

typedef struct span {
    const char *ptr;
    size_t len;
} span;

#define MAX_PARTS 9

/* Whether text matches the form from here on, filling parts[*n ...]. A part ends where the
 * form's next literal text is found (the first place that lets the rest match); the last
 * part takes the rest. */
static bool match(const char *f, const char *t, span *parts, int *n)
{
    while (*f && !(f[0] == '%' && f[1] == 's')) {
        if (*f++ != *t++)
            return false;
    }
    if (!*f)
        return !*t;
    if (*n == MAX_PARTS)
        return false;
    const char *after = f + 2;
    size_t lit = strcspn(after, "%");
    int at = (*n)++;
    if (!*after) { /* the last part: the rest */
        parts[at] = (span){t, strlen(t)};
        return true;
    }
    char literal[160];
    if (lit == 0 || lit >= sizeof literal) {
        (*n)--;
        return false;
    }
    memcpy(literal, after, lit);
    literal[lit] = '\0';
    for (const char *e = strstr(t, literal); e; e = strstr(e + 1, literal)) {
        parts[at] = (span){t, (size_t)(e - t)};
        int saved = *n;
        if (match(after, e, parts, n))
            return true;
        *n = saved;
    }
    (*n)--;
    return false;
}

static const char *known_phrase(span s)
{
    for (size_t i = 0; i < sizeof phrases / sizeof *phrases; i++)
        if (strlen(phrases[i].en) == s.len && !memcmp(phrases[i].en, s.ptr, s.len))
            return phrases[i].zh;
    return NULL;
}

char *selgw_report_zh_text(const char *en)
{
    if (!en)
        return NULL;
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        span parts[MAX_PARTS];
        int n = 0;
        if (!match(forms[i].en, en, parts, &n))
            continue;
        /* twice: the length, then the text */
        char *out = NULL;
        for (int pass = 0; pass < 2; pass++) {
            size_t len = 0;
            for (const char *z = forms[i].zh; *z;) {
                if (z[0] == '%' && z[1] >= '1' && z[1] <= '9' && z[1] - '1' < n) {
                    span p = parts[z[1] - '1'];
                    const char *zh = known_phrase(p);
                    size_t l = zh ? strlen(zh) : p.len;
                    if (out)
                        memcpy(out + len, zh ? zh : p.ptr, l);
                    len += l;
                    z += 2;
                } else {
                    if (out)
                        out[len] = *z;
                    len++;
                    z++;
                }
            }
            if (out) {
                out[len] = '\0';
                return out;
            }
            if (!(out = malloc(len + 1)))
                return NULL;
        }
    }
    return NULL;
}

char *selgw_report_zh_status(const char *token)
{
    if (!token)
        return NULL;
    size_t name = strcspn(token, " ");
    int code;
    char tail;
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        if (strlen(statuses[i].en) != name || memcmp(statuses[i].en, token, name))
            continue;
        char buf[160];
        if (!token[name])
            snprintf(buf, sizeof buf, "%s", statuses[i].zh);
        else if (sscanf(token + name, " (Modbus exception %d%c", &code, &tail) == 2 &&
                 tail == ')' && !strchr(token + name, ')')[1])
            snprintf(buf, sizeof buf, "%s（异常码 %d）", statuses[i].zh, code);
        else
            return NULL;
        return strdup(buf);
    }
    return NULL;
}
