#include "gateway.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chains.h"
#include "clock.h"
#include "influx_sink.h"
#include "journal.h"
#include "keys.h"
#include "log.h"
#include "mqtt_sink.h"
#include "poller.h"
#include "provenance.h"
#include "record.h"
#include "transport.h"

struct selgw_gateway {
    selgw_config *cfg;
    selgw_gateway_options opt;
    selgw_journal *journal;
    const char *sink_names[2];
    size_t sink_count;
    selgw_mqtt_sink *mqtt;
    selgw_influx_sink *influx;
    selgw_poller **pollers; /* one per bus of cfg */
    bool running;

    /* The accept path: pollers' threads append records. */
    pthread_mutex_t lock;
    selgw_repeat refusals;    /* the journal refused records: logged once, counted */
    uint64_t refused;         /* readings refused since the last accepted one */
    int64_t refused_first_ns; /* when the first of them was polled */
    selgw_err refused_err;
    uint64_t accepted, refused_total;
    bool failed;

    /* --print: JSON lines on stdout */
    char *print_buf;
    size_t print_cap;
    bool print_failed;

    uint64_t polls, failed_polls, late_polls; /* of pollers already freed (reloads) */

    /* Evidence (under lock): chain heads, the payload being built, the signing key. */
    selgw_chains *chains;
    char chains_state[4200];
    uint8_t payload[SELGW_RECORD_MAX_PAYLOAD];
    selgw_signer *signer; /* NULL when signing is off: chained, not sealed */
    int64_t last_seal_ns; /* monotonic */
    int clock_synced;     /* last recorded clock state: -1 none yet */

    /* The sealer thread: seals on time, journals annotations and clock changes. */
    pthread_t sealer;
    bool sealer_running;
    bool sealer_stop;
    pthread_cond_t sealer_wake;
};

static void print_record(selgw_gateway *g, const uint8_t *payload, size_t len, uint64_t seq)
{
    selgw_record *rec = malloc(sizeof *rec);
    if (!rec || selgw_record_decode(payload, len, rec) != SELGW_OK) {
        free(rec);
        return;
    }
    rec->seq = seq;
    selgw_record_hash(payload, len, rec->hash);
    rec->has_hash = true;
    size_t need = selgw_record_json(rec, g->print_buf, g->print_cap);
    if (need + 2 > g->print_cap) {
        char *grown = realloc(g->print_buf, need + 2);
        if (grown) {
            g->print_buf = grown;
            g->print_cap = need + 2;
            selgw_record_json(rec, g->print_buf, g->print_cap);
        }
    }
    free(rec);
    if (need + 2 > g->print_cap)
        return;
    g->print_buf[need] = '\n';
    if (fwrite(g->print_buf, 1, need + 1, stdout) != need + 1 || fflush(stdout) != 0) {
        if (!g->print_failed)
            selgw_log(SELGW_LOG_ERROR, "cannot print readings to stdout: %s", strerror(errno));
        g->print_failed = true;
    }
}

typedef size_t (*encode_fn)(const void *arg, const selgw_chain_link *link, uint8_t *buf,
                            size_t cap);

static size_t encode_reading(const void *arg, const selgw_chain_link *link, uint8_t *buf,
                             size_t cap)
{
    return selgw_record_encode_reading(arg, link, buf, cap);
}

static size_t encode_event(const void *arg, const selgw_chain_link *link, uint8_t *buf, size_t cap)
{
    return selgw_record_encode_event(arg, link, buf, cap);
}

static selgw_str str_of(const char *s)
{
    return (selgw_str){s, s ? strlen(s) : 0};
}

static selgw_err append_chained_locked(selgw_gateway *g, const char *chain, encode_fn encode,
                                       const void *arg, int64_t time_ns);

/* Before the first record accepted after refusals, a GAP record says how many readings
 * the journal refused and why, so the gap is explicit in the gateway's chain. */
static void record_refusals_locked(selgw_gateway *g)
{
    char text[200], since[SELGW_UTC_TEXT_SIZE];
    snprintf(text, sizeof text, "%llu readings polled since %s were not journaled: %s",
             (unsigned long long)g->refused, selgw_format_utc(g->refused_first_ns, since),
             selgw_strerror(g->refused_err));
    selgw_record gap = {.type = SELGW_RECORD_GAP,
                        .time_ns = selgw_utc_ns(),
                        .gateway = str_of(g->cfg->gateway_id),
                        .text = str_of(text)};
    uint64_t refused = g->refused;
    g->refused = 0; /* so that the GAP itself is not preceded by another */
    if (append_chained_locked(g, "gateway", encode_event, &gap, gap.time_ns) == SELGW_OK)
        selgw_repeat_ok(&g->refusals, "journal");
    else
        g->refused += refused;
}

/* Encodes a record as the next of its chain and appends it, under g->lock: positions in a
 * chain are handed out in the order records enter the journal. */
static selgw_err append_chained_locked(selgw_gateway *g, const char *chain, encode_fn encode,
                                       const void *arg, int64_t time_ns)
{
    if (g->refused > 0)
        record_refusals_locked(g);
    selgw_chain_link link;
    selgw_err err = selgw_chains_next(g->chains, chain, &link);
    if (err != SELGW_OK)
        return err;
    size_t len = encode(arg, &link, g->payload, sizeof g->payload);
    if (len == 0 || len > sizeof g->payload) {
        selgw_log(SELGW_LOG_ERROR, "%s: record too large to journal (%zu bytes)", chain, len);
        return SELGW_ERR_RANGE;
    }
    uint64_t seq;
    err = selgw_journal_append(g->journal, g->payload, len, &seq);
    if (err == SELGW_OK) {
        g->accepted++;
        selgw_chains_apply(g->chains, g->payload, len, seq);
        if (g->opt.print_readings)
            print_record(g, g->payload, len, seq);
        return err;
    }
    if (g->refused == 0)
        g->refused_first_ns = time_ns;
    g->refused++;
    g->refused_total++;
    g->refused_err = err;
    selgw_repeat_fail(&g->refusals, "journal", err, "readings are not being journaled");
    if (err != SELGW_ERR_FULL && !g->failed) {
        const char *why = selgw_journal_failure(g->journal);
        selgw_log(SELGW_LOG_ERROR, "journal failed%s%s: stopping", why ? ": " : "", why ? why : "");
        g->failed = true;
        if (g->opt.on_failure)
            g->opt.on_failure(g->opt.on_failure_ctx);
    }
    return err;
}

/* Pollers call this from their threads for every completed poll. */
static void accept_reading(void *ctx, const selgw_reading *reading)
{
    selgw_gateway *g = ctx;
    char chain[160];
    snprintf(chain, sizeof chain, "device/%s", reading->device->id);
    pthread_mutex_lock(&g->lock);
    append_chained_locked(g, chain, encode_reading, reading, reading->time_ns);
    pthread_mutex_unlock(&g->lock);
}

static selgw_err append_event_locked(selgw_gateway *g, selgw_record *event, const char *chain)
{
    event->time_ns = selgw_utc_ns();
    event->gateway = str_of(g->cfg->gateway_id);
    return append_chained_locked(g, chain, encode_event, event, event->time_ns);
}

static selgw_err append_event(selgw_gateway *g, selgw_record_type type, const char *text)
{
    selgw_record *event = calloc(1, sizeof *event);
    if (!event)
        return SELGW_ERR_NOMEM;
    event->type = type;
    event->text = str_of(text);
    pthread_mutex_lock(&g->lock);
    if (type == SELGW_RECORD_START)
        selgw_chains_last_seal(g->chains, event->prev_seal);
    selgw_err err = append_event_locked(g, event, "gateway");
    pthread_mutex_unlock(&g->lock);
    free(event);
    return err;
}

/* A signed statement of every chain's head, as the next record of the gateway chain; the
 * heads are taken and the seal appended under the same lock, so every record a seal covers
 * comes before it. The chain state is saved with it. */
static selgw_err seal_locked(selgw_gateway *g)
{
    if (!g->signer)
        return SELGW_OK;
    size_t len = 0;
    uint64_t seq;
    selgw_err err =
        selgw_chains_encode_seal(g->chains, g->signer, selgw_utc_ns(), g->cfg->gateway_id,
                                 g->payload, sizeof g->payload, &len);
    if (err == SELGW_OK)
        err = selgw_journal_append(g->journal, g->payload, len, &seq);
    if (err == SELGW_OK) {
        g->accepted++;
        selgw_chains_apply(g->chains, g->payload, len, seq);
        if (g->opt.print_readings)
            print_record(g, g->payload, len, seq);
        /* The state may only claim what is committed. */
        pthread_mutex_unlock(&g->lock);
        err = selgw_journal_flush(g->journal);
        pthread_mutex_lock(&g->lock);
        if (err == SELGW_OK)
            err = selgw_chains_save(g->chains, g->chains_state);
    }
    if (err != SELGW_OK)
        selgw_log(SELGW_LOG_ERROR, "seal: %s", selgw_strerror(err));
    g->last_seal_ns = selgw_mono_ns();
    return err;
}

/* A plot's tags are recorded in its chain when first seen and whenever they change. */
static void record_tags_locked(selgw_gateway *g)
{
    char *text = malloc(8192);
    selgw_record *event = calloc(1, sizeof *event);
    for (size_t i = 0; text && event && i < g->cfg->plot_count; i++) {
        size_t n = selgw_plot_tags_text(g->cfg, i, text, 8192);
        if (n >= 8192)
            continue;
        uint8_t now[SELGW_RECORD_HASH_BYTES], before[SELGW_RECORD_HASH_BYTES];
        selgw_hash((const uint8_t *)text, n, now);
        const char *plot = g->cfg->plots[i].id;
        if (selgw_chains_tags_hash(g->chains, plot, before) && !memcmp(now, before, sizeof now))
            continue;
        char chain[160];
        snprintf(chain, sizeof chain, "plot/%s", plot);
        memset(event, 0, sizeof *event);
        event->type = SELGW_RECORD_TAGS;
        event->plot = str_of(plot);
        event->text = (selgw_str){text, n};
        append_event_locked(g, event, chain);
    }
    free(event);
    free(text);
}

static void record_clock_locked(selgw_gateway *g)
{
    char text[160];
    int synced = selgw_clock_synchronised(text, sizeof text) ? 1 : 0;
    if (synced == g->clock_synced)
        return;
    selgw_record event = {.type = SELGW_RECORD_CLOCK, .text = str_of(text)};
    if (append_event_locked(g, &event, "gateway") == SELGW_OK)
        g->clock_synced = synced;
}

static bool take_annotation(void *ctx, const selgw_annotation *a)
{
    selgw_gateway *g = ctx;
    bool known = false;
    for (size_t i = 0; i < g->cfg->plot_count; i++)
        known = known || !strcmp(g->cfg->plots[i].id, a->plot);
    if (!known) {
        selgw_log(SELGW_LOG_ERROR, "annotation for unknown plot '%s' left in the queue", a->plot);
        return false;
    }
    char chain[160];
    snprintf(chain, sizeof chain, "plot/%s", a->plot);
    selgw_record event = {.type = SELGW_RECORD_ANNOTATION,
                          .plot = str_of(a->plot),
                          .text = str_of(a->text),
                          .ref = str_of(a->ref)};
    event.time_ns = a->time_ns;
    event.gateway = str_of(g->cfg->gateway_id);
    selgw_err err = append_chained_locked(g, chain, encode_event, &event, a->time_ns);
    if (err == SELGW_OK)
        selgw_log(SELGW_LOG_INFO, "annotation for plot %s journaled: %s%s%s", a->plot, a->text,
                  a->ref[0] ? " (ref " : "", a->ref[0] ? a->ref : "");
    /* Gone from the queue only once it is committed. */
    return err == SELGW_OK && selgw_journal_flush(g->journal) == SELGW_OK;
}

static void *sealer_thread(void *arg)
{
    selgw_gateway *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->sealer_stop) {
        int64_t deadline = selgw_mono_ns() + SELGW_NS_PER_S;
        struct timespec ts = {.tv_sec = deadline / SELGW_NS_PER_S,
                              .tv_nsec = deadline % SELGW_NS_PER_S};
        pthread_cond_timedwait(&g->sealer_wake, &g->lock, &ts);
        if (g->sealer_stop)
            break;
        selgw_annotations_collect(g->cfg->journal.dir, take_annotation, g);
        record_clock_locked(g);
        if (g->signer && selgw_mono_ns() - g->last_seal_ns >=
                             (int64_t)g->cfg->signing.seal_interval_ms * SELGW_NS_PER_MS)
            seal_locked(g);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

static void free_pollers(selgw_gateway *g, selgw_poller **pollers, size_t count)
{
    if (!pollers)
        return;
    for (size_t i = 0; i < count; i++) {
        if (!pollers[i])
            continue;
        selgw_poller_stop(pollers[i]);
        selgw_poller_stats st;
        selgw_poller_get_stats(pollers[i], &st);
        g->polls += st.polls;
        g->failed_polls += st.failed_polls;
        g->late_polls += st.late_polls;
        selgw_poller_free(pollers[i]);
    }
    free(pollers);
}

static selgw_err make_pollers(selgw_gateway *g, const selgw_config *cfg, selgw_poller ***out)
{
    selgw_poller **pollers = calloc(cfg->bus_count ? cfg->bus_count : 1, sizeof *pollers);
    if (!pollers)
        return SELGW_ERR_NOMEM;
    for (size_t i = 0; i < cfg->bus_count; i++) {
        selgw_transport *t = NULL;
        selgw_err err = selgw_transport_new(&cfg->buses[i], &t);
        if (err == SELGW_OK)
            err = selgw_poller_new(cfg, i, t, accept_reading, g, &pollers[i]);
        if (err != SELGW_OK) {
            selgw_log(SELGW_LOG_ERROR, "bus %s: %s", cfg->buses[i].id, selgw_strerror(err));
            free_pollers(g, pollers, cfg->bus_count);
            return err;
        }
    }
    *out = pollers;
    return SELGW_OK;
}

static void free_sinks(selgw_gateway *g)
{
    selgw_mqtt_sink_free(g->mqtt);
    selgw_influx_sink_free(g->influx);
    g->mqtt = NULL;
    g->influx = NULL;
}

static selgw_err make_sinks(selgw_gateway *g, const selgw_config *cfg)
{
    selgw_err err = SELGW_OK;
    if (cfg->mqtt.enabled)
        err = selgw_mqtt_sink_new(&cfg->mqtt, cfg->gateway_id, g->journal, &g->mqtt);
    if (err == SELGW_OK && cfg->influxdb.enabled)
        err = selgw_influx_sink_new(&cfg->influxdb, cfg->journal.dir, g->journal, &g->influx);
    if (err != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "cannot set up the sinks: %s", selgw_strerror(err));
        free_sinks(g);
    }
    return err;
}

static selgw_err start_sinks(selgw_gateway *g)
{
    selgw_err err = SELGW_OK;
    if (g->mqtt)
        err = selgw_mqtt_sink_start(g->mqtt);
    if (err == SELGW_OK && g->influx)
        err = selgw_influx_sink_start(g->influx);
    return err;
}

static void stop_sinks(selgw_gateway *g)
{
    if (g->mqtt)
        selgw_mqtt_sink_stop(g->mqtt);
    if (g->influx)
        selgw_influx_sink_stop(g->influx);
}

selgw_err selgw_gateway_new(selgw_config *cfg, const selgw_gateway_options *opt,
                            selgw_gateway **out)
{
    *out = NULL;
    selgw_gateway *g = calloc(1, sizeof *g);
    if (!g) {
        selgw_config_free(cfg);
        return SELGW_ERR_NOMEM;
    }
    g->cfg = cfg;
    g->opt = *opt;
    g->clock_synced = -1;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g->sealer_wake, &attr);
    pthread_condattr_destroy(&attr);
    if (cfg->mqtt.enabled)
        g->sink_names[g->sink_count++] = SELGW_MQTT_SINK_NAME;
    if (cfg->influxdb.enabled)
        g->sink_names[g->sink_count++] = SELGW_INFLUX_SINK_NAME;

    selgw_journal_recovery rec;
    memset(&rec, 0, sizeof rec);
    selgw_err err =
        selgw_journal_open(&cfg->journal, g->sink_names, g->sink_count, true, &g->journal, &rec);
    if (err != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "journal %s: %s%s%s", cfg->journal.dir, selgw_strerror(err),
                  rec.message[0] ? ": " : "", rec.message);
        selgw_gateway_free(g);
        return err;
    }
    selgw_journal_set_gateway(g->journal, cfg->gateway_id);
    if (rec.torn_bytes)
        selgw_log(SELGW_LOG_WARN,
                  "journal %s: cut %llu bytes of a torn record off the tail (a write "
                  "interrupted by a crash or power cut; it was never committed)",
                  cfg->journal.dir, (unsigned long long)rec.torn_bytes);
    selgw_log(SELGW_LOG_INFO, "journal %s: %llu records (seq %llu..%llu)", cfg->journal.dir,
              (unsigned long long)rec.records, (unsigned long long)rec.first_seq,
              (unsigned long long)rec.last_seq);

    /* Evidence: the chains continue where the journal left them; the key signs seals. */
    char why[512] = "";
    snprintf(g->chains_state, sizeof g->chains_state, "%s/chains.state", cfg->journal.dir);
    err = selgw_chains_new(&g->chains);
    if (err == SELGW_OK)
        err = selgw_chains_load(g->chains, g->journal, g->chains_state, why, sizeof why);
    if (err == SELGW_OK && cfg->signing.enabled)
        err = selgw_signer_load(cfg->signing.secret_key, &g->signer, why, sizeof why);
    if (err != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "evidence chains: %s", why[0] ? why : selgw_strerror(err));
        selgw_gateway_free(g);
        return err;
    }
    if (why[0])
        selgw_log(SELGW_LOG_WARN, "evidence chains: %s", why);
    if (!g->signer)
        selgw_log(SELGW_LOG_INFO, "signing is off: records are hash-chained but not sealed");
    err = make_sinks(g, cfg);
    if (err == SELGW_OK)
        err = make_pollers(g, cfg, &g->pollers);
    if (err != SELGW_OK) {
        selgw_gateway_free(g);
        return err;
    }
    *out = g;
    return SELGW_OK;
}

static void start_pollers(selgw_gateway *g)
{
    selgw_log(SELGW_LOG_INFO, "gateway %s: polling %zu devices on %zu buses (%s)",
              g->cfg->gateway_id, g->cfg->device_count, g->cfg->bus_count, g->cfg->path);
    for (size_t i = 0; i < g->cfg->bus_count; i++)
        if (selgw_poller_start(g->pollers[i]) != SELGW_OK)
            selgw_log(SELGW_LOG_ERROR, "cannot start the poller of bus %s", g->cfg->buses[i].id);
}

selgw_err selgw_gateway_start(selgw_gateway *g)
{
    char text[300];
    snprintf(text, sizeof text, "selgw %s started with %s", SELGW_VERSION, g->cfg->path);
    append_event(g, SELGW_RECORD_START, text);
    pthread_mutex_lock(&g->lock);
    record_clock_locked(g);
    record_tags_locked(g);
    g->last_seal_ns = selgw_mono_ns();
    pthread_mutex_unlock(&g->lock);
    if (g->opt.start_sinks) {
        selgw_err err = start_sinks(g);
        if (err != SELGW_OK)
            return err;
    }
    g->sealer_stop = false;
    if (pthread_create(&g->sealer, NULL, sealer_thread, g) == 0)
        g->sealer_running = true;
    else
        selgw_log(SELGW_LOG_ERROR, "cannot start the sealer: no seals until restart");
    start_pollers(g);
    g->running = true;
    return SELGW_OK;
}

size_t selgw_gateway_device_count(const selgw_gateway *g)
{
    return g->cfg->device_count;
}

size_t selgw_gateway_poll_once(selgw_gateway *g)
{
    size_t failed = 0;
    for (size_t i = 0; i < g->cfg->bus_count; i++)
        failed += selgw_poller_poll_once(g->pollers[i]);
    selgw_journal_flush(g->journal);
    return failed;
}

static bool same_string(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_journal(const selgw_journal_config *a, const selgw_journal_config *b)
{
    return same_string(a->dir, b->dir) && a->segment_bytes == b->segment_bytes &&
           a->fsync == b->fsync && a->fsync_interval_ms == b->fsync_interval_ms &&
           a->commit_interval_ms == b->commit_interval_ms && a->retention_ms == b->retention_ms &&
           a->max_backlog_bytes == b->max_backlog_bytes && a->when_full == b->when_full;
}

selgw_err selgw_gateway_reload(selgw_gateway *g, selgw_config *cfg)
{
    if (!same_journal(&g->cfg->journal, &cfg->journal) ||
        g->cfg->mqtt.enabled != cfg->mqtt.enabled ||
        g->cfg->influxdb.enabled != cfg->influxdb.enabled) {
        selgw_log(SELGW_LOG_ERROR, "reload: the journal section or the set of sinks changed; "
                                   "that needs a restart. Keeping the running configuration");
        selgw_config_free(cfg);
        return SELGW_ERR_INVALID;
    }
    selgw_poller **pollers = NULL;
    selgw_err err = make_pollers(g, cfg, &pollers);
    if (err != SELGW_OK) {
        selgw_config_free(cfg);
        return err;
    }
    /* Old pollers stop first, so that a serial line is closed before its new owner opens
     * it; sinks restart with their new settings from their persisted cursors. */
    free_pollers(g, g->pollers, g->cfg->bus_count);
    g->pollers = pollers;
    stop_sinks(g);
    free_sinks(g);
    pthread_mutex_lock(&g->lock);
    selgw_config *old = g->cfg;
    g->cfg = cfg;
    pthread_mutex_unlock(&g->lock);
    err = make_sinks(g, cfg);
    if (err == SELGW_OK && g->opt.start_sinks && g->running)
        err = start_sinks(g);
    selgw_config_free(old);
    char text[300];
    snprintf(text, sizeof text, "configuration reloaded from %s", cfg->path);
    append_event(g, SELGW_RECORD_START, text);
    pthread_mutex_lock(&g->lock);
    record_tags_locked(g); /* households, devices or calibration of a plot may have changed */
    pthread_mutex_unlock(&g->lock);
    if (g->running)
        start_pollers(g);
    return err;
}

void selgw_gateway_stop(selgw_gateway *g, const char *why)
{
    if (!g->pollers && !g->running)
        return;
    free_pollers(g, g->pollers, g->cfg->bus_count);
    g->pollers = NULL;
    if (g->sealer_running) {
        pthread_mutex_lock(&g->lock);
        g->sealer_stop = true;
        pthread_cond_broadcast(&g->sealer_wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->sealer, NULL);
        g->sealer_running = false;
    }
    if (g->running) {
        append_event(g, SELGW_RECORD_STOP, why ? why : "stopped");
        /* Every clean stop is sealed, so the last records are covered. */
        pthread_mutex_lock(&g->lock);
        seal_locked(g);
        pthread_mutex_unlock(&g->lock);
    }
    selgw_journal_flush(g->journal);
    stop_sinks(g);
    g->running = false;
}

bool selgw_gateway_failed(selgw_gateway *g)
{
    pthread_mutex_lock(&g->lock);
    bool failed = g->failed;
    pthread_mutex_unlock(&g->lock);
    return failed;
}

void selgw_gateway_log_totals(selgw_gateway *g)
{
    /* Pollers freed by reloads or a stop have added theirs already; live ones add now. */
    uint64_t polls = g->polls, failed = g->failed_polls, late = g->late_polls;
    for (size_t i = 0; g->pollers && i < g->cfg->bus_count; i++) {
        selgw_poller_stats st;
        selgw_poller_get_stats(g->pollers[i], &st);
        polls += st.polls;
        failed += st.failed_polls;
        late += st.late_polls;
    }
    selgw_log(SELGW_LOG_INFO,
              "stopped: %llu polls, %llu failed, %llu skipped (bus busy); %llu records "
              "journaled, %llu readings refused by the journal",
              (unsigned long long)polls, (unsigned long long)failed, (unsigned long long)late,
              (unsigned long long)g->accepted, (unsigned long long)g->refused_total);
    selgw_sink_stats st;
    if (g->mqtt) {
        selgw_mqtt_sink_stats(g->mqtt, &st);
        selgw_log(SELGW_LOG_INFO, "mqtt: %llu delivered, %llu refused, cursor %llu",
                  (unsigned long long)st.delivered, (unsigned long long)st.refused,
                  (unsigned long long)st.last_seq);
    }
    if (g->influx) {
        selgw_influx_sink_stats(g->influx, &st);
        selgw_log(SELGW_LOG_INFO, "influxdb: %llu delivered, %llu dead-lettered, cursor %llu",
                  (unsigned long long)st.delivered, (unsigned long long)st.refused,
                  (unsigned long long)st.last_seq);
    }
}

void selgw_gateway_free(selgw_gateway *g)
{
    if (!g)
        return;
    if (g->journal)
        selgw_gateway_stop(g, "stopped");
    free_pollers(g, g->pollers, g->cfg->bus_count);
    free_sinks(g);
    selgw_journal_close(g->journal);
    selgw_chains_free(g->chains);
    selgw_signer_free(g->signer);
    pthread_cond_destroy(&g->sealer_wake);
    pthread_mutex_destroy(&g->lock);
    free(g->print_buf);
    selgw_config_free(g->cfg);
    free(g);
}
