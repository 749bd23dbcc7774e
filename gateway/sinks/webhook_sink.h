/* selgw: the webhook sink: alerts to a WeCom or DingTalk group robot, or any endpoint that
 * takes JSON (docs/WEBHOOK.md).
 *
 * Reads the journal from its own cursor ("webhook") on its own thread, passes over every
 * record that is not an ALERT, and POSTs one message per alert (webhook_msg.h), one at a
 * time and in journal order, at most rate_limit a minute (spaced out, never dropped). The
 * cursor moves past an alert only when the server acknowledged it (2xx, and errcode 0 from
 * a robot), or when it refused that alert dead_letter_after times and it was written to the
 * dead-letter file. An outage delays alerts and loses none; polling never waits for it. */
#ifndef SELGW_WEBHOOK_SINK_H
#define SELGW_WEBHOOK_SINK_H

#include "config.h"
#include "base/error.h"
#include "journal/journal.h"
#include "sinks/sink.h"

#define SELGW_WEBHOOK_SINK_NAME "webhook"

typedef struct selgw_webhook_sink selgw_webhook_sink;

/* The sink for cfg->webhook (its URL, format, limits), with the base names and the local
 * time of cfg; the dead-letter file is relative to cfg->journal.dir. */
selgw_err selgw_webhook_sink_new(const selgw_config *cfg, selgw_journal *journal,
                                 selgw_webhook_sink **out);
selgw_err selgw_webhook_sink_start(selgw_webhook_sink *s);
void selgw_webhook_sink_stop(selgw_webhook_sink *s);
void selgw_webhook_sink_free(selgw_webhook_sink *s);
void selgw_webhook_sink_stats(selgw_webhook_sink *s, selgw_sink_stats *out);

#endif
