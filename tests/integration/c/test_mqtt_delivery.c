/* The MQTT sink's delivery against a real mosquitto broker started here on a free loopback
 * port (exactly once by seq, retained status, cursor, a broker killed and restarted
 * mid-way, MQTT 3.1.1 and 5, refusals, the will). An integration test: it starts servers.
 * The topic builder and the refused configs are tests/unit/test_mqtt_sink.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <mosquitto.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "config.h"
#include "journal/journal.h"
#include "base/log.h"
#include "sinks/mqtt_sink.h"
#include "journal/record.h"
#include "sensors/profile.h"
#include "test_farm.h"
#include "test_net.h"
#include "test_sink_configs.h"

#define MOSQUITTO_BIN "/usr/sbin/mosquitto"
#define PREFIX TEST_MQTT_PREFIX
#define GATEWAY "gw-1"
#define STATUS_TOPIC PREFIX "/" GATEWAY "/status"
#define MAX_INFLIGHT TEST_MQTT_MAX_INFLIGHT
#define MAX_SEQ 20000
#define WAIT_S 20 /* deadline of every wait; a healthy run needs a fraction of it */

/* ---- a real broker ------------------------------------------------------------------------ */

typedef struct broker {
    char dir[64];
    char conf[96];
    int port;
    pid_t pid;
} broker;

/* Persistence is on (written when the broker stops): a subscriber's persistent session,
 * with what is queued for it, survives a restart. One message in flight towards a
 * subscriber: after a restart the broker redelivers at most that one. */
static void broker_write_config(const broker *b, const char *acl, bool anonymous)
{
    struct passwd *pw = getpwuid(getuid());
    FILE *f = fopen(b->conf, "w");
    assert_non_null(f);
    fprintf(f,
            "listener %d 127.0.0.1\n"
            "allow_anonymous %s\n"
            "persistence true\n"
            "persistence_location %s/\n"
            "autosave_interval 0\n"
            "max_inflight_messages 1\n"
            /* large, not 0: 2.0.11 with 0 drops a client whose publish an ACL denied */
            "max_queued_messages 1000000\n"
            "log_dest file %s/broker.log\n"
            "log_type all\n"
            /* started as root, mosquitto would become user "mosquitto" and could not
             * write into this directory */
            "user %s\n",
            b->port, anonymous ? "true" : "false", b->dir, b->dir, pw ? pw->pw_name : "root");
    if (acl) {
        char acl_path[128];
        snprintf(acl_path, sizeof acl_path, "%s/acl", b->dir);
        FILE *a = fopen(acl_path, "w");
        assert_non_null(a);
        fputs(acl, a);
        fclose(a);
        fprintf(f, "acl_file %s\n", acl_path);
    }
    fclose(f);
}

/* A broker on a free loopback port, its files in a new temporary directory. */
static void broker_init(broker *b, const char *acl)
{
    memset(b, 0, sizeof *b);
    assert_true(test_scratch_dir(b->dir, sizeof b->dir, "mqtt-broker"));
    snprintf(b->conf, sizeof b->conf, "%s/mosquitto.conf", b->dir);
    b->port = test_free_port();
    broker_write_config(b, acl, true);
}

/* Brokers still running when a test fails (cmocka leaves the test function): stopped by
 * the group teardown, so that no broker outlives the test binary. */
static pid_t live_brokers[8];

static void broker_forget(pid_t pid)
{
    for (size_t i = 0; i < sizeof live_brokers / sizeof live_brokers[0]; i++)
        if (live_brokers[i] == pid)
            live_brokers[i] = 0;
}

static void broker_remember(pid_t pid)
{
    for (size_t i = 0; i < sizeof live_brokers / sizeof live_brokers[0]; i++)
        if (live_brokers[i] == 0) {
            live_brokers[i] = pid;
            return;
        }
}

static int stop_leftover_brokers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof live_brokers / sizeof live_brokers[0]; i++)
        if (live_brokers[i] > 0) {
            kill(live_brokers[i], SIGKILL);
            waitpid(live_brokers[i], NULL, 0);
            live_brokers[i] = 0;
        }
    return 0;
}

static void broker_start(broker *b)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Dies with the test, even when a sanitizer aborts it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execl(MOSQUITTO_BIN, "mosquitto", "-c", b->conf, (char *)NULL);
        _exit(127);
    }
    b->pid = pid;
    broker_remember(pid);
    int64_t deadline = test_deadline_after_s(WAIT_S);
    while (!test_port_accepts(b->port)) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            broker_forget(pid);
            b->pid = 0;
            fail_msg("mosquitto exited at start (see %s/broker.log)", b->dir);
        }
        if (selgw_mono_ns() > deadline)
            fail_msg("mosquitto does not accept connections on port %d", b->port);
        test_sleep_ms(10);
    }
}

static void broker_stop(broker *b, int sig)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, sig);
    int64_t deadline = test_deadline_after_s(WAIT_S);
    int status;
    while (waitpid(b->pid, &status, WNOHANG) != b->pid) {
        if (selgw_mono_ns() > deadline) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &status, 0);
            break;
        }
        test_sleep_ms(5);
    }
    broker_forget(b->pid);
    b->pid = 0;
}

static void broker_cleanup(broker *b)
{
    broker_stop(b, SIGTERM);
    if (getenv("SELGW_TEST_KEEP")) /* to read broker.log */
        print_message("kept %s\n", b->dir);
    else
        remove_tree(b->dir);
}

/* ---- a subscriber: counts every record by seq ----------------------------------------- */

typedef struct subscriber {
    struct mosquitto *mosq;
    pthread_mutex_t lock;
    uint8_t counts[MAX_SEQ + 1]; /* receptions per seq */
    uint64_t distinct, duplicates, events, bad;
    char status[32];
    bool subscribed;
} subscriber;

static void sub_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)obj;
    if (rc == 0)
        mosquitto_subscribe(mosq, NULL, PREFIX "/#", 1);
}

static void sub_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count,
                             const int *granted)
{
    (void)mosq;
    (void)mid;
    (void)count;
    (void)granted;
    subscriber *sub = obj;
    pthread_mutex_lock(&sub->lock);
    sub->subscribed = true;
    pthread_mutex_unlock(&sub->lock);
}

static void sub_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
    (void)mosq;
    subscriber *sub = obj;
    char text[4096];
    size_t n = (size_t)m->payloadlen < sizeof text - 1 ? (size_t)m->payloadlen : sizeof text - 1;
    memcpy(text, m->payload, n);
    text[n] = '\0';
    pthread_mutex_lock(&sub->lock);
    if (strcmp(m->topic, STATUS_TOPIC) == 0) {
        size_t keep = n < sizeof sub->status - 1 ? n : sizeof sub->status - 1;
        memcpy(sub->status, text, keep);
        sub->status[keep] = '\0';
    } else if (strstr(m->topic, "/event")) {
        sub->events++;
    } else {
        const char *p = strstr(text, "\"seq\":");
        unsigned long long seq = p ? strtoull(p + 6, NULL, 10) : 0;
        if (seq == 0 || seq > MAX_SEQ) {
            sub->bad++;
        } else if (sub->counts[seq]++ == 0) {
            sub->distinct++;
        } else {
            sub->duplicates++;
        }
    }
    pthread_mutex_unlock(&sub->lock);
}

/* clean false: a persistent session, kept by the broker across its restart (broker_save). */
static subscriber *subscriber_start(int port, bool clean)
{
    subscriber *sub = calloc(1, sizeof *sub);
    assert_non_null(sub);
    pthread_mutex_init(&sub->lock, NULL);
    sub->mosq = mosquitto_new("selgw-test-sub", clean, sub);
    assert_non_null(sub->mosq);
    mosquitto_connect_callback_set(sub->mosq, sub_on_connect);
    mosquitto_subscribe_callback_set(sub->mosq, sub_on_subscribe);
    mosquitto_message_callback_set(sub->mosq, sub_on_message);
    mosquitto_reconnect_delay_set(sub->mosq, 1, 1, false);
    assert_int_equal(mosquitto_connect(sub->mosq, "127.0.0.1", port, 10), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_loop_start(sub->mosq), MOSQ_ERR_SUCCESS);
    int64_t deadline = test_deadline_after_s(WAIT_S);
    for (;;) {
        pthread_mutex_lock(&sub->lock);
        bool ok = sub->subscribed;
        pthread_mutex_unlock(&sub->lock);
        if (ok)
            break;
        if (selgw_mono_ns() > deadline)
            fail_msg("the test subscriber did not get its SUBACK");
        test_sleep_ms(5);
    }
    return sub;
}

static void subscriber_free(subscriber *sub)
{
    if (!sub)
        return;
    mosquitto_disconnect(sub->mosq);
    mosquitto_loop_stop(sub->mosq, false);
    mosquitto_destroy(sub->mosq);
    pthread_mutex_destroy(&sub->lock);
    free(sub);
}

static uint64_t subscriber_distinct(subscriber *sub)
{
    pthread_mutex_lock(&sub->lock);
    uint64_t n = sub->distinct;
    pthread_mutex_unlock(&sub->lock);
    return n;
}

static bool subscriber_status_is(subscriber *sub, const char *status)
{
    pthread_mutex_lock(&sub->lock);
    bool same = strcmp(sub->status, status) == 0;
    pthread_mutex_unlock(&sub->lock);
    return same;
}

static void wait_status(subscriber *sub, const char *status)
{
    int64_t deadline = test_deadline_after_s(WAIT_S);
    while (!subscriber_status_is(sub, status)) {
        if (selgw_mono_ns() > deadline)
            fail_msg("status never became \"%s\" (is \"%s\")", status, sub->status);
        test_sleep_ms(5);
    }
}

/* What a client subscribing now gets as the retained status. */
typedef struct retained_probe {
    pthread_mutex_t lock;
    char payload[32];
    bool retained;
    bool got;
} retained_probe;

static void probe_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
    (void)mosq;
    retained_probe *p = obj;
    pthread_mutex_lock(&p->lock);
    if (!p->got) {
        size_t n = (size_t)m->payloadlen < sizeof p->payload - 1 ? (size_t)m->payloadlen
                                                                 : sizeof p->payload - 1;
        memcpy(p->payload, m->payload, n);
        p->payload[n] = '\0';
        p->retained = m->retain;
        p->got = true;
    }
    pthread_mutex_unlock(&p->lock);
}

static void assert_retained_status(int port, const char *expected)
{
    retained_probe p = {0};
    pthread_mutex_init(&p.lock, NULL);
    struct mosquitto *mosq = mosquitto_new(NULL, true, &p);
    assert_non_null(mosq);
    mosquitto_message_callback_set(mosq, probe_on_message);
    assert_int_equal(mosquitto_connect(mosq, "127.0.0.1", port, 10), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_subscribe(mosq, NULL, STATUS_TOPIC, 1), MOSQ_ERR_SUCCESS);
    int64_t deadline = test_deadline_after_s(5);
    bool got = false;
    while (!got && selgw_mono_ns() < deadline) {
        mosquitto_loop(mosq, 50, 1);
        pthread_mutex_lock(&p.lock);
        got = p.got;
        pthread_mutex_unlock(&p.lock);
    }
    mosquitto_disconnect(mosq);
    mosquitto_destroy(mosq);
    pthread_mutex_destroy(&p.lock);
    assert_true(got);
    assert_true(p.retained);
    assert_string_equal(p.payload, expected);
}

/* ---- records in a journal ----------------------------------------------------------------- */

/* soil-1, and "blocked" (denied by an ACL in one test) */
static void farm_init(test_farm *f)
{
    test_farm_init(f, 2, 1, 1, 2);
    f->devices[1].id = "blocked";
}

typedef struct journal_fixture {
    test_scratch_journal j;
    selgw_journal *journal; /* j's */
    test_farm f;
    uint64_t appended; /* records appended, also the last seq */
} journal_fixture;

static void make_temp_dir(char dir[64])
{
    assert_true(test_scratch_dir(dir, 64, "mqtt-journal"));
}

/* A journal in `dir` (made by make_temp_dir), or in a new temporary directory. */
static void journal_fixture_open_in(journal_fixture *jf, const char *dir)
{
    memset(jf, 0, sizeof *jf);
    farm_init(&jf->f);
    test_scratch_journal_init(&jf->j, "mqtt-journal", dir);
    jf->j.cfg.segment_bytes = 64 * 1024;
    test_scratch_journal_open(&jf->j, SELGW_MQTT_SINK_NAME);
    jf->journal = jf->j.journal;
}

static void journal_fixture_open(journal_fixture *jf)
{
    journal_fixture_open_in(jf, NULL);
}

static void journal_fixture_close(journal_fixture *jf)
{
    test_scratch_journal_close(&jf->j);
}

/* Appends n readings; every `blocked_every`-th comes from the device "blocked" (0: none). */
static void append_readings(journal_fixture *jf, unsigned n, unsigned blocked_every)
{
    uint8_t buf[4096];
    for (unsigned i = 0; i < n; i++) {
        uint64_t k = jf->appended + 1;
        test_value values[2] = {{20.0 + (double)(k % 100) / 10, SELGW_QUALITY_OK},
                                {15.5, SELGW_QUALITY_OK}};
        bool blocked = blocked_every && k % blocked_every == 0;
        selgw_reading r;
        test_reading(&r, &jf->f.cfg, &jf->f.devices[blocked ? 1 : 0],
                     INT64_C(1795960521000000000) + (int64_t)k * 1000000, SELGW_OK, 1,
                     jf->f.contract_ptrs, 1, values);
        size_t len = selgw_record_encode_reading(&r, NULL, buf, sizeof buf);
        assert_true(len > 0 && len <= sizeof buf);
        uint64_t seq = 0;
        assert_int_equal(selgw_journal_append(jf->journal, buf, len, &seq), SELGW_OK);
        assert_int_equal(seq, k);
        jf->appended = seq;
    }
    assert_int_equal(selgw_journal_flush(jf->journal), SELGW_OK);
}

/* A sink with cfg on the fixture's journal, started. */
static selgw_mqtt_sink *start_sink(journal_fixture *jf, const selgw_mqtt_config *cfg)
{
    selgw_mqtt_sink *sink = NULL;
    assert_int_equal(selgw_mqtt_sink_new(cfg, GATEWAY, jf->journal, &sink), SELGW_OK);
    assert_int_equal(selgw_mqtt_sink_start(sink), SELGW_OK);
    return sink;
}

/* Waits until the sink's cursor reaches `seq` and the subscriber has `distinct` records. */
static void wait_delivered(selgw_mqtt_sink *sink, subscriber *sub, uint64_t seq, uint64_t distinct)
{
    int64_t deadline = test_deadline_after_s(WAIT_S);
    for (;;) {
        selgw_sink_stats st;
        selgw_mqtt_sink_stats(sink, &st);
        uint64_t got = subscriber_distinct(sub);
        if (st.last_seq == seq && got == distinct)
            return;
        if (selgw_mono_ns() > deadline)
            fail_msg("not delivered: cursor %" PRIu64 " of %" PRIu64 ", received %" PRIu64
                     " of %" PRIu64 " (last error: %s)",
                     st.last_seq, seq, got, distinct, selgw_strerror(st.last_error));
        test_sleep_ms(5);
    }
}

/* ---- delivery ------------------------------------------------------------------------------ */

static void run_clean_delivery(int protocol)
{
    broker b;
    broker_init(&b, NULL);
    broker_start(&b);
    journal_fixture jf;
    journal_fixture_open(&jf);
    append_readings(&jf, 300, 0);
    subscriber *sub = subscriber_start(b.port, true);

    selgw_mqtt_config cfg = test_mqtt_config(b.port, protocol);
    selgw_mqtt_sink *sink = start_sink(&jf, &cfg);
    assert_int_equal(selgw_mqtt_sink_start(sink), SELGW_ERR_INVALID); /* it runs already */
    wait_delivered(sink, sub, 300, 300);
    /* records appended while it runs follow */
    append_readings(&jf, 50, 0);
    wait_delivered(sink, sub, 350, 350);
    wait_status(sub, "online");
    assert_retained_status(b.port, "online");

    selgw_mqtt_sink_stop(sink);
    selgw_sink_stats st;
    selgw_mqtt_sink_stats(sink, &st);
    assert_int_equal(st.delivered, 350);
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.last_seq, 350);
    assert_int_equal(st.reconnects, 1);
    assert_int_equal(st.last_error, SELGW_OK);
    assert_int_equal(selgw_journal_cursor(jf.journal, SELGW_MQTT_SINK_NAME), 350);
    /* a clean stop says "offline" itself: the will is not sent on a clean disconnect */
    wait_status(sub, "offline");
    assert_retained_status(b.port, "offline");

    /* exactly once, every one */
    for (uint64_t seq = 1; seq <= 350; seq++)
        assert_int_equal(sub->counts[seq], 1);
    assert_int_equal(sub->duplicates, 0);
    assert_int_equal(sub->bad, 0);

    /* started again, it goes on from the cursor: nothing is published twice */
    append_readings(&jf, 10, 0);
    assert_int_equal(selgw_mqtt_sink_start(sink), SELGW_OK);
    wait_delivered(sink, sub, 360, 360);
    selgw_mqtt_sink_free(sink);
    assert_int_equal(sub->duplicates, 0);
    assert_int_equal(selgw_journal_cursor(jf.journal, SELGW_MQTT_SINK_NAME), 360);

    subscriber_free(sub);
    journal_fixture_close(&jf);
    broker_cleanup(&b);
}

static void test_delivery_mqtt311(void **state)
{
    (void)state;
    run_clean_delivery(311);
}

static void test_delivery_mqtt5(void **state)
{
    (void)state;
    run_clean_delivery(5);
}

/* The broker is stopped (SIGTERM) while records are in flight, records keep coming while it
 * is down, it comes back on the same port: every record arrives, duplicates only from the
 * window that was in flight, and the cursor ends at the last record.
 * Not SIGKILL: a broker killed outright loses what it had acknowledged but not yet passed
 * on (mosquitto keeps that in RAM), which would be the broker's loss, not the sink's; a
 * stopping broker writes it to its persistence file and delivers it after the restart. */
static void run_broker_restart(int protocol)
{
    broker b;
    broker_init(&b, NULL);
    broker_start(&b);
    journal_fixture jf;
    journal_fixture_open(&jf);
    append_readings(&jf, 3000, 0);
    /* A persistent session: after the restart the broker queues for the subscriber
     * whatever arrives before it has reconnected. */
    subscriber *sub = subscriber_start(b.port, false);

    selgw_mqtt_config cfg = test_mqtt_config(b.port, protocol);
    selgw_mqtt_sink *sink = start_sink(&jf, &cfg);
    int64_t deadline = test_deadline_after_s(WAIT_S);
    while (subscriber_distinct(sub) < 500) {
        if (selgw_mono_ns() > deadline)
            fail_msg("nothing delivered before the stop");
        test_sleep_ms(1);
    }
    broker_stop(&b, SIGTERM);
    uint64_t at_stop = subscriber_distinct(sub);

    /* the sink notices, and records keep coming while the broker is away */
    deadline = test_deadline_after_s(WAIT_S);
    for (;;) {
        selgw_sink_stats st;
        selgw_mqtt_sink_stats(sink, &st);
        if (st.last_error != SELGW_OK)
            break;
        if (selgw_mono_ns() > deadline)
            fail_msg("the sink did not notice that the broker stopped");
        test_sleep_ms(5);
    }
    append_readings(&jf, 500, 0);
    broker_start(&b);
    wait_delivered(sink, sub, 3500, 3500);
    wait_status(sub, "online");

    selgw_mqtt_sink_stop(sink);
    selgw_sink_stats st;
    selgw_mqtt_sink_stats(sink, &st);
    assert_int_equal(st.last_seq, 3500);
    assert_true(st.reconnects >= 2);
    assert_int_equal(st.refused, 0);
    assert_int_equal(selgw_journal_cursor(jf.journal, SELGW_MQTT_SINK_NAME), 3500);
    for (uint64_t seq = 1; seq <= 3500; seq++)
        assert_true(sub->counts[seq] >= 1);
    /* Only what was in flight when the broker stopped can arrive twice: the sink's window,
     * and the one message the broker had in flight towards the subscriber. */
    assert_true(sub->duplicates <= MAX_INFLIGHT + 1);
    assert_int_equal(sub->bad, 0);
    print_message("broker stopped after %" PRIu64 " records; %" PRIu64 " duplicate(s), %" PRIu64
                  " connection(s)\n",
                  at_stop, sub->duplicates, st.reconnects);
    selgw_mqtt_sink_free(sink);
    subscriber_free(sub);
    journal_fixture_close(&jf);
    broker_cleanup(&b);
}

static void test_broker_restart_mqtt311(void **state)
{
    (void)state;
    run_broker_restart(311);
}

static void test_broker_restart_mqtt5(void **state)
{
    (void)state;
    run_broker_restart(5);
}

/* MQTT 5: the broker refuses the records of one device (ACL: PUBACK reason 0x87). They are
 * counted as refused and passed; everything else is delivered; the cursor reaches the end. */
static void test_refused_records_are_passed_mqtt5(void **state)
{
    (void)state;
    broker b;
    broker_init(&b, "topic readwrite " PREFIX "/#\n"
                    "topic deny " PREFIX "/ziyang-hanwang/hw-p01/blocked\n");
    broker_start(&b);
    journal_fixture jf;
    journal_fixture_open(&jf);
    append_readings(&jf, 200, 10); /* seq 10, 20, ... 200 come from "blocked" */
    subscriber *sub = subscriber_start(b.port, true);

    selgw_mqtt_config cfg = test_mqtt_config(b.port, 5);
    selgw_mqtt_sink *sink = start_sink(&jf, &cfg);
    wait_delivered(sink, sub, 200, 180);
    selgw_mqtt_sink_stop(sink);
    selgw_sink_stats st;
    selgw_mqtt_sink_stats(sink, &st);
    assert_int_equal(st.refused, 20);
    assert_int_equal(st.delivered, 180);
    assert_int_equal(selgw_journal_cursor(jf.journal, SELGW_MQTT_SINK_NAME), 200);
    for (uint64_t seq = 1; seq <= 200; seq++)
        assert_int_equal(sub->counts[seq], seq % 10 == 0 ? 0 : 1);
    selgw_mqtt_sink_free(sink);
    subscriber_free(sub);
    journal_fixture_close(&jf);
    broker_cleanup(&b);
}

/* The broker refuses the connection (not authorised): the sink reports SELGW_ERR_AUTH, keeps
 * everything, and delivers it all once the broker lets it in (config reloaded). */
static void test_refused_connection_then_allowed(void **state)
{
    (void)state;
    broker b;
    broker_init(&b, NULL);
    broker_write_config(&b, NULL, false);
    broker_start(&b);
    journal_fixture jf;
    journal_fixture_open(&jf);
    append_readings(&jf, 100, 0);
    selgw_mqtt_config cfg = test_mqtt_config(b.port, 311);
    selgw_mqtt_sink *sink = start_sink(&jf, &cfg);
    int64_t deadline = test_deadline_after_s(WAIT_S);
    selgw_sink_stats st;
    for (;;) {
        selgw_mqtt_sink_stats(sink, &st);
        if (st.last_error == SELGW_ERR_AUTH)
            break;
        if (selgw_mono_ns() > deadline)
            fail_msg("no SELGW_ERR_AUTH (last error: %s)", selgw_strerror(st.last_error));
        test_sleep_ms(5);
    }
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.reconnects, 0);
    append_readings(&jf, 20, 0);
    broker_write_config(&b, NULL, true);
    assert_int_equal(kill(b.pid, SIGHUP), 0);
    deadline = test_deadline_after_s(WAIT_S);
    for (;;) {
        selgw_mqtt_sink_stats(sink, &st);
        if (st.last_seq == 120)
            break;
        if (selgw_mono_ns() > deadline)
            fail_msg("not delivered after the reload: cursor %" PRIu64 " (last error: %s)",
                     st.last_seq, selgw_strerror(st.last_error));
        test_sleep_ms(5);
    }
    selgw_mqtt_sink_free(sink);
    assert_int_equal(st.delivered, 120);
    assert_int_equal(st.last_error, SELGW_OK);
    assert_int_equal(selgw_journal_cursor(jf.journal, SELGW_MQTT_SINK_NAME), 120);
    journal_fixture_close(&jf);
    broker_cleanup(&b);
}

/* QoS 0: handed to the library counts as delivered; on a healthy link all arrive. */
static void test_qos0_delivery(void **state)
{
    (void)state;
    broker b;
    broker_init(&b, NULL);
    broker_start(&b);
    journal_fixture jf;
    journal_fixture_open(&jf);
    append_readings(&jf, 500, 0);
    subscriber *sub = subscriber_start(b.port, true);
    selgw_mqtt_config cfg = test_mqtt_config(b.port, 311);
    cfg.qos = 0;
    selgw_mqtt_sink *sink = start_sink(&jf, &cfg);
    wait_delivered(sink, sub, 500, 500);
    selgw_mqtt_sink_free(sink);
    assert_int_equal(selgw_journal_cursor(jf.journal, SELGW_MQTT_SINK_NAME), 500);
    subscriber_free(sub);
    journal_fixture_close(&jf);
    broker_cleanup(&b);
}

/* The will: a gateway that dies without disconnecting (SIGKILL) is marked "offline". The
 * sink runs in a child process; forked before this process has any thread. */
static void test_will_marks_dead_gateway_offline(void **state)
{
    (void)state;
    broker b;
    broker_init(&b, NULL);
    broker_start(&b);
    char child_dir[64];
    make_temp_dir(child_dir);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(ready[0]);
        journal_fixture jf;
        journal_fixture_open_in(&jf, child_dir);
        selgw_mqtt_config cfg = test_mqtt_config(b.port, 311);
        selgw_mqtt_sink *sink = NULL;
        if (selgw_mqtt_sink_new(&cfg, GATEWAY, jf.journal, &sink) != SELGW_OK ||
            selgw_mqtt_sink_start(sink) != SELGW_OK)
            _exit(2);
        int64_t deadline = test_deadline_after_s(WAIT_S);
        for (;;) {
            selgw_sink_stats st;
            selgw_mqtt_sink_stats(sink, &st);
            if (st.reconnects >= 1)
                break;
            if (selgw_mono_ns() > deadline)
                _exit(3);
            test_sleep_ms(5);
        }
        if (write(ready[1], "x", 1) != 1)
            _exit(4);
        for (;;)
            pause(); /* killed by the parent; its journal dir is removed there */
    }
    close(ready[1]);
    struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, WAIT_S * 1000), 1);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);

    subscriber *sub = subscriber_start(b.port, true);
    wait_status(sub, "online"); /* retained, published by the child's sink */
    kill(child, SIGKILL);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    wait_status(sub, "offline"); /* the will */
    assert_retained_status(b.port, "offline");
    subscriber_free(sub);
    broker_cleanup(&b);
    remove_tree(child_dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (access(MOSQUITTO_BIN, X_OK) != 0) {
        fprintf(stderr, "skipping: %s is not installed\n", MOSQUITTO_BIN);
        return 77;
    }
    if (getenv("SELGW_TEST_DEBUG"))
        selgw_log_set_level(SELGW_LOG_DEBUG);
    mosquitto_lib_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_will_marks_dead_gateway_offline),
        cmocka_unit_test(test_delivery_mqtt311),
        cmocka_unit_test(test_delivery_mqtt5),
        cmocka_unit_test(test_refused_records_are_passed_mqtt5),
        cmocka_unit_test(test_qos0_delivery),
        cmocka_unit_test(test_refused_connection_then_allowed),
        cmocka_unit_test(test_broker_restart_mqtt311),
        cmocka_unit_test(test_broker_restart_mqtt5),
    };
    int failed = cmocka_run_group_tests(tests, NULL, stop_leftover_brokers);
    mosquitto_lib_cleanup();
    return failed;
}
