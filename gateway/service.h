/* selgw: the gateway as a systemd service (Type=notify, packaging/selgw.service).
 *
 * systemd learns from sd_notify when the gateway is ready (its journal recovered, its
 * pollers started), reloading (SIGHUP) and stopping, and what it is doing (STATUS=, shown by
 * `systemctl status`). With WatchdogSec= it also expects a ping at least every WatchdogSec:
 * the owner pings from its main loop only while the gateway is healthy
 * (selgw_gateway_healthy), so a stuck poller or journal writer, or a deadlock, ends in a
 * restart rather than a gateway that looks alive and journals nothing. Outside systemd
 * ($NOTIFY_SOCKET unset) every call does nothing. */
#ifndef SELGW_SERVICE_H
#define SELGW_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef struct selgw_service selgw_service;

/* Reads what systemd set in the environment ($NOTIFY_SOCKET, $WATCHDOG_USEC). */
selgw_err selgw_service_new(selgw_service **out);
void selgw_service_free(selgw_service *s); /* NULL is fine */

/* READY=1 (also the end of a reload), with a status line. */
void selgw_service_ready(selgw_service *s, const char *status);
/* RELOADING=1, with the monotonic time systemd wants (MONOTONIC_USEC). */
void selgw_service_reloading(selgw_service *s);
/* STOPPING=1, with why. */
void selgw_service_stopping(selgw_service *s, const char *why);

/* How often (ms) the owner must call selgw_service_watchdog: a third of WatchdogSec, well
 * within the half sd_watchdog_enabled(3) asks for; -1 without a watchdog. */
int selgw_service_watchdog_period_ms(const selgw_service *s);
/* Pings the watchdog when healthy; otherwise does not, and logs why (once per change of
 * reason) and shows it in the status. */
void selgw_service_watchdog(selgw_service *s, bool healthy, const char *why);

/* The ping period for a WatchdogSec of usec microseconds: a third of it, at least 1 ms.
 * Pure, for the tests. */
int selgw_service_period_ms_for(uint64_t usec);

#endif
