#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "base/clock.h"
#include "base/log.h"

struct selgw_service {
    bool notify;   /* $NOTIFY_SOCKET is set: systemd listens */
    int period_ms; /* watchdog ping period; -1 without a watchdog */
    uint64_t watchdog_usec;
    bool unhealthy;   /* the last watchdog call withheld its ping */
    char why[256];    /* and why */
    char status[256]; /* the last STATUS= sent while healthy */
};

int selgw_service_period_ms_for(uint64_t usec)
{
    uint64_t ms = usec / 3000;
    if (ms < 1)
        ms = 1;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

selgw_err selgw_service_new(selgw_service **out)
{
    *out = NULL;
    selgw_service *s = calloc(1, sizeof *s);
    if (!s)
        return SELGW_ERR_NOMEM;
    const char *socket = getenv("NOTIFY_SOCKET");
    s->notify = socket && socket[0];
    s->period_ms = -1;
    uint64_t usec = 0;
    /* 0 keeps the variables: a reload does not re-read them, but nothing else looks. */
    int r = sd_watchdog_enabled(0, &usec);
    if (r > 0 && usec > 0) {
        s->watchdog_usec = usec;
        s->period_ms = selgw_service_period_ms_for(usec);
    }
    if (s->notify)
        selgw_log(SELGW_LOG_DEBUG, "systemd: notifying %s; watchdog %s", socket,
                  s->period_ms < 0 ? "off" : "on");
    else
        selgw_log(SELGW_LOG_DEBUG, "systemd: NOTIFY_SOCKET is not set: no notifications");
    if (s->period_ms >= 0)
        selgw_log(SELGW_LOG_INFO, "systemd watchdog: %.1f s; pinged every %.1f s while healthy",
                  (double)usec / 1e6, s->period_ms / 1000.0);
    *out = s;
    return SELGW_OK;
}

void selgw_service_free(selgw_service *s)
{
    free(s);
}

/* A failed notification is logged but changes nothing: systemd acts on its own timeouts. */
static void notify(selgw_service *s, const char *state)
{
    if (!s || !s->notify)
        return;
    int r = sd_notify(0, state);
    if (r < 0)
        selgw_log(SELGW_LOG_WARN, "systemd: cannot notify %.*s: %s", (int)strcspn(state, "\n"),
                  state, strerror(-r));
}

void selgw_service_ready(selgw_service *s, const char *status)
{
    if (!s)
        return;
    snprintf(s->status, sizeof s->status, "%s", status ? status : "");
    char state[320];
    snprintf(state, sizeof state, "READY=1\nSTATUS=%s", s->unhealthy ? s->why : s->status);
    notify(s, state);
}

void selgw_service_reloading(selgw_service *s)
{
    char state[128];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
             (unsigned long long)(selgw_mono_ns() / 1000));
    notify(s, state);
}

void selgw_service_stopping(selgw_service *s, const char *why)
{
    char state[128];
    snprintf(state, sizeof state, "STOPPING=1\nSTATUS=%s", why ? why : "stopping");
    notify(s, state);
}

int selgw_service_watchdog_period_ms(const selgw_service *s)
{
    return s ? s->period_ms : -1;
}

void selgw_service_watchdog(selgw_service *s, bool healthy, const char *why)
{
    if (!s || s->period_ms < 0)
        return;
    if (healthy) {
        if (s->unhealthy) {
            s->unhealthy = false;
            selgw_log(SELGW_LOG_INFO, "systemd watchdog: healthy again, pinging");
            char state[320];
            snprintf(state, sizeof state, "STATUS=%s", s->status);
            notify(s, state);
        }
        notify(s, "WATCHDOG=1");
        return;
    }
    if (!s->unhealthy || strcmp(s->why, why ? why : "")) {
        snprintf(s->why, sizeof s->why, "%s", why ? why : "");
        selgw_log(SELGW_LOG_ERROR,
                  "systemd watchdog: not pinging: %s; systemd restarts selgw once %.0f s pass "
                  "without a ping",
                  s->why, (double)s->watchdog_usec / 1e6);
        char state[320];
        snprintf(state, sizeof state, "STATUS=unhealthy: %s", s->why);
        notify(s, state);
    }
    s->unhealthy = true;
}
