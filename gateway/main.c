/* selgw: the gateway's command line.
 *
 *   selgw check FILE         validate a config and print a summary
 *   selgw run [FILE]         poll the devices into the journal; the sinks deliver from it
 *   selgw journal [FILE]     what the journal holds; --dump prints its records
 *   selgw keygen FILE        create the gateway's signing key pair
 *   selgw pubkey KEYFILE     print the public key of a secret key file
 *   selgw annotate [FILE]    queue a lab result or note for a plot's evidence chain
 *   selgw export [FILE]      write a plot's evidence bundle for a period
 *   selgw verify BUNDLE      check an evidence bundle offline, with no config
 *   selgw status [FILE]      what the running gateway is doing, from its HTTP API
 *   selgw profiles [NAME]    the sensor profiles; with NAME its registers and addressing
 *   selgw scan               find the devices of a line (baud rates, parities, unit ids)
 *   selgw read               read one device once (commission.c has these four)
 *   selgw set-address        give a new probe its own unit id (and baud rate)
 *   selgw passwd             hash a password for the HTTP API (http.password_hash)
 *   selgw archive -c FILE    the central archive: the gateways' evidence into PostgreSQL
 *   selgw version            print the version
 *   selgw help [COMMAND]     the list of commands, or the help of one
 *
 * Without FILE, run, journal, annotate and export use the demo config compiled into the
 * binary (config/demo.yaml). Each command has its own options struct and flag table
 * (commands[] below): getopt_long's options, `selgw COMMAND --help` and the refusal of a
 * flag the command does not take are all read from that one table, so they cannot disagree.
 * The global flags -v, -q, -h and --log-level LEVEL go before or after the command. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/archive_config.h"
#include "archive/archive_source.h"
#include "base/clock.h"
#include "commission.h"
#include "config.h"
#include "base/durable.h"
#include "evidence/bundle_io.h"
#include "evidence/evidence.h"
#include "evidence/provenance.h"
#include "evidence/qr.h"
#include "evidence/seal_request.h"
#include "evidence/keys.h"
#include "evidence/report.h"
#include "evidence/lot.h"
#include "gateway.h"
#include "journal/journal.h"
#include "sinks/lineproto.h"
#include "base/log.h"
#include "sinks/sink.h"
#include "sensors/plan.h"
#include "service.h"
#include "journal/record.h"
#include "base/password.h"
#include "http/client.h"

/* Also the status of a usage error: a config that cannot be used and a command line that
 * cannot be read are both the operator's to fix before anything runs. */
#define EXIT_CONFIG 2

/* A --from or --to: checked while the command line is parsed (selgw_parse_cli_time), so
 * every command refuses a time it cannot read with the same message, naming the flag. A
 * time without its zone is read again at the gateway's utc_offset once the config is
 * loaded (read_local_time). */
typedef struct time_flag {
    bool given;
    bool zoned; /* the text gave its zone */
    int64_t ns;
    const char *text;
} time_flag;

/* One options struct per command: the fields its flags and its operand fill. */
typedef struct check_options {
    const char *config_path;
    bool plan;
} check_options;

enum { PRINT_DEFAULT, PRINT_ON, PRINT_OFF };

typedef struct run_options {
    const char *config_path; /* NULL: the built-in demo config */
    bool once;
    int print; /* PRINT_DEFAULT: print when no sink is configured */
} run_options;

typedef struct journal_options {
    const char *config_path;
    bool dump;
    const char *format; /* --dump: "json" (default) or "lp" */
    time_flag from, to;
} journal_options;

typedef struct keygen_options {
    const char *key_path; /* the secret key file to create */
} keygen_options;

typedef struct pubkey_options {
    const char *key_path; /* the secret key file to read */
} pubkey_options;

typedef struct annotate_options {
    const char *config_path, *plot, *text, *ref;
} annotate_options;

typedef struct export_options {
    const char *config_path, *plot, *output, *lot, *qr;
    time_flag from, to;
    bool plain;       /* --plain, --no-compress: the text as it is, not gzip */
    const char *wait; /* --wait SECONDS for a seal asked of the running gateway */
    /* from the central archive instead of the journal (docs/ARCHIVE.md) */
    const char *archive, *gateway, *pubkey;
} export_options;

/* A flag that may be given more than once (--plot of a lot): its values in order. */
#define LIST_FLAG_MAX 64
typedef struct list_flag {
    const char *items[LIST_FLAG_MAX];
    size_t count;
} list_flag;

typedef struct lot_options {
    const char *config_path, *id, *product, *quantity, *unit, *processing;
    list_flag plots, households, refs;
} lot_options;

typedef struct verify_options {
    const char *bundle_path, *pubkey, *keys, *plot;
    list_flag witness_keys;        /* witnesses the auditor trusts (docs/EVIDENCE.md) */
    const char *witness_tolerance; /* seconds; NULL: the default 300 */
    time_flag from, to;
    const char *report, *lang, *pdf; /* the HTML report (docs/REPORT.md) */
} verify_options;

typedef struct status_options {
    const char *config_path; /* NULL: the built-in demo config's address */
    const char *url;         /* the API's base URL, instead of the config's http.listen */
} status_options;

typedef struct archive_options {
    const char *config_path; /* the archive's own config (docs/ARCHIVE.md) */
    bool check;              /* validate it and print a summary, nothing else */
} archive_options;

typedef struct help_options {
    const char *command; /* NULL: the overview */
} help_options;

/* Room for any command's options; each command reads its own member. A flag table's
 * offsets are into that member's struct, which starts where the union does. */
typedef union command_options {
    check_options check;
    run_options run;
    journal_options journal;
    keygen_options keygen;
    pubkey_options pubkey;
    annotate_options annotate;
    export_options export;
    lot_options lot;
    verify_options verify;
    status_options status;
    archive_options archive;
    help_options help;
    selgw_profiles_options profiles;
    selgw_read_options read;
    selgw_scan_options scan;
    selgw_set_address_options set_address;
} command_options;

static selgw_config *load_config_as(const char *path, bool read_only);

static selgw_config *load_config(const char *path)
{
    return load_config_as(path, false);
}

/* For commands that only read the journal or queue a note: no sink secrets needed. */
static selgw_config *load_config_read_only(const char *path)
{
    return load_config_as(path, true);
}

static selgw_config *load_config_as(const char *path, bool read_only)
{
    selgw_diag *diag = selgw_diag_new();
    if (!diag) {
        fprintf(stderr, "selgw: out of memory\n");
        return NULL;
    }
    selgw_config *cfg = NULL;
    selgw_err err = !path       ? selgw_config_load_builtin_demo(diag, &cfg)
                    : read_only ? selgw_config_load_file_read_only(path, diag, &cfg)
                                : selgw_config_load_file(path, diag, &cfg);
    if (err != SELGW_OK) {
        selgw_diag_print(diag, stderr);
        size_t n = selgw_diag_count(diag);
        fprintf(stderr, "%sselgw: %s: %s", selgw_log_journal_prefix(SELGW_LOG_ERROR),
                path ? path : "built-in demo config", selgw_strerror(err));
        if (n)
            fprintf(stderr, " (%zu error%s)", n, n == 1 ? "" : "s");
        fputc('\n', stderr);
    }
    selgw_diag_free(diag);
    return cfg;
}

/* The reads each device costs per poll: what an operator checks against a device's
 * manual, and what the serial-line benchmark measures against. */
static int print_plans(const selgw_config *cfg)
{
    for (size_t i = 0; i < cfg->device_count; i++) {
        const selgw_device *dev = &cfg->devices[i];
        selgw_plan *plan = NULL;
        selgw_err err = selgw_device_plan(dev, &plan);
        if (err != SELGW_OK) {
            fprintf(stderr, "selgw: device %s: %s\n", dev->id, selgw_strerror(err));
            return 1;
        }
        printf("plan %s unit %d bus %s:", dev->id, dev->unit_id, cfg->buses[dev->bus].id);
        for (size_t r = 0; r < plan->request_count; r++)
            printf(" fc%u@%u+%u", plan->requests[r].function, plan->requests[r].address,
                   plan->requests[r].count);
        printf("\n");
        selgw_plan_free(plan);
    }
    return 0;
}

static int cmd_check(const command_options *options)
{
    const check_options *opt = &options->check;
    if (!opt->config_path) {
        fprintf(stderr, "selgw check: -c FILE is required\n");
        return EXIT_CONFIG;
    }
    selgw_config *cfg = load_config(opt->config_path);
    if (!cfg)
        return EXIT_CONFIG;
    printf("%s: OK\n", opt->config_path);
    selgw_config_summary(cfg, stdout);
    int status = opt->plan ? print_plans(cfg) : 0;
    selgw_config_free(cfg);
    return status;
}

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t reload_requested;
static volatile sig_atomic_t seal_requested;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
    else if (sig == SIGUSR1)
        seal_requested = 1; /* `selgw export` asks for a seal now */
    else
        stop_signal = sig;
}

/* The journal failed for good: stop as if asked to; the exit status says it. Called from a
 * poller's thread, where the signal is blocked: it goes to the main thread. */
static void on_gateway_failure(void *ctx)
{
    (void)ctx;
    kill(getpid(), SIGTERM);
}

/* The systemd watchdog's ping, only while the gateway is healthy; nothing without one. */
static void watch(selgw_service *service, selgw_gateway *g)
{
    if (selgw_service_watchdog_period_ms(service) < 0)
        return;
    char why[256];
    bool healthy = selgw_gateway_healthy(g, SELGW_GATEWAY_STALL_NS, why, sizeof why);
    selgw_service_watchdog(service, healthy, why);
}

static int cmd_run(const command_options *options)
{
    const run_options *opt = &options->run;
    /* glibc gives threads malloc arenas of their own, up to eight per core: with a poller
     * per bus that made 14 arenas, each with pages resident, for threads that allocate
     * little after their start. Two are enough on the gateways this runs on; measured on
     * the 50-bus bench: private memory -120 KiB (docs/BENCHMARKS.md). */
    mallopt(M_ARENA_MAX, 2);
    /* Signals are blocked in every thread but this one (threads inherit the mask), which
     * waits for them in sigsuspend; the handler only records which signal came. Set first,
     * so that a stop asked for while the config loads is a clean stop, not a kill. */
    sigset_t handled, old_set;
    sigemptyset(&handled);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGHUP);
    sigaddset(&handled, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &handled, &old_set);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    selgw_config *cfg = load_config(opt->config_path);
    if (!cfg)
        return EXIT_CONFIG;
    /* A reader that goes away (selgw run | head) must not kill the gateway silently. */
    signal(SIGPIPE, SIG_IGN);
    const char *sink_names[SELGW_SINK_KINDS_MAX];
    bool has_sinks = selgw_sink_names(cfg, sink_names) > 0;
    selgw_gateway_options gopt = {
        .print_readings = opt->print == PRINT_ON || (opt->print == PRINT_DEFAULT && !has_sinks),
        .start_sinks = !opt->once,
        .serve_http = !opt->once,
        .on_failure = on_gateway_failure,
    };

    /* Under systemd (Type=notify): ready once started, the watchdog pinged from the loop
     * below while the gateway is healthy. Nothing is sent outside systemd, or with --once. */
    selgw_service *service = NULL;
    selgw_service_new(&service);
    selgw_gateway *g = NULL;
    selgw_err err = selgw_gateway_new(cfg, &gopt, &g);
    int status;
    if (err != SELGW_OK) {
        fprintf(stderr, "selgw: cannot start: %s\n", selgw_strerror(err));
        status = 1;
    } else if (opt->once) {
        size_t failed = selgw_gateway_poll_once(g);
        if (failed)
            selgw_log(SELGW_LOG_WARN, "%zu of %zu devices did not answer completely", failed,
                      selgw_gateway_device_count(g));
        status = failed || selgw_gateway_failed(g) ? 1 : 0;
    } else {
        status = 0;
        if (selgw_gateway_start(g) != SELGW_OK) {
            status = 1;
            stop_signal = SIGTERM;
        }
        char running[128];
        snprintf(running, sizeof running, "polling %zu devices", selgw_gateway_device_count(g));
        if (!stop_signal)
            selgw_service_ready(service, running);
        sigset_t wait_set = old_set;
        sigdelset(&wait_set, SIGINT);
        sigdelset(&wait_set, SIGTERM);
        sigdelset(&wait_set, SIGHUP);
        sigdelset(&wait_set, SIGUSR1);
        int watchdog_ms = selgw_service_watchdog_period_ms(service);
        struct timespec watchdog_wait = {watchdog_ms / 1000, (watchdog_ms % 1000) * 1000000L};
        while (!stop_signal) {
            /* sigsuspend with a timeout: the watchdog's period, or none without one. */
            ppoll(NULL, 0, watchdog_ms >= 0 ? &watchdog_wait : NULL, &wait_set);
            if (seal_requested && !stop_signal) {
                seal_requested = 0;
                selgw_gateway_request_seal(g);
            }
            if (!stop_signal)
                watch(service, g); /* also right before a reload, which may take a while */
            if (reload_requested && !stop_signal) {
                reload_requested = 0;
                if (!opt->config_path) {
                    selgw_log(SELGW_LOG_INFO, "reload: the built-in demo config has no file");
                    continue;
                }
                selgw_service_reloading(service);
                selgw_log(SELGW_LOG_INFO, "reload: reading %s", opt->config_path);
                selgw_config *next = load_config(opt->config_path);
                if (!next)
                    selgw_log(SELGW_LOG_ERROR,
                              "reload: %s rejected, keeping the running "
                              "configuration",
                              opt->config_path);
                else
                    selgw_gateway_reload(g, next);
                snprintf(running, sizeof running, "polling %zu devices",
                         selgw_gateway_device_count(g));
                selgw_service_ready(service, running);
                watch(service, g);
            }
        }
        selgw_log(SELGW_LOG_INFO, "%s received, stopping", strsignal(stop_signal));
        char why[64];
        snprintf(why, sizeof why, "stopped by %s", strsignal(stop_signal));
        selgw_service_stopping(service, why);
        selgw_gateway_stop(g, why);
        if (selgw_gateway_failed(g))
            status = 1;
    }
    if (g)
        selgw_gateway_log_totals(g);
    selgw_gateway_free(g);
    selgw_service_free(service);
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    return status;
}

static int dump_journal(selgw_journal *j, int64_t from_ns, int64_t to_ns, const char *measurement)
{
    selgw_journal_reader *r = NULL;
    if (selgw_journal_reader_new(j, 0, &r) != SELGW_OK)
        return 1;
    selgw_record *rec = malloc(sizeof *rec);
    size_t cap = 8192;
    char *buf = malloc(cap);
    int status = rec && buf ? 0 : 1;
    uint64_t seq;
    const uint8_t *payload;
    size_t len;
    selgw_err err = SELGW_OK;
    while (!status && (err = selgw_journal_read(r, &seq, &payload, &len)) == SELGW_OK) {
        if (selgw_record_decode(payload, len, rec) != SELGW_OK) {
            fprintf(stderr, "selgw: journal record %llu cannot be decoded\n",
                    (unsigned long long)seq);
            status = 1;
            break;
        }
        if (rec->time_ns < from_ns || rec->time_ns >= to_ns)
            continue;
        rec->seq = seq;
        selgw_record_hash(payload, len, rec->hash);
        rec->has_hash = true;
        size_t need = measurement ? selgw_lp_record(rec, measurement, buf, cap)
                                  : selgw_record_json(rec, buf, cap);
        if (need >= cap) {
            char *grown = realloc(buf, need + 1);
            if (!grown) {
                status = 1;
                break;
            }
            buf = grown;
            cap = need + 1;
            if (measurement)
                selgw_lp_record(rec, measurement, buf, cap);
            else
                selgw_record_json(rec, buf, cap);
        }
        if (measurement)
            fputs(buf, stdout); /* a line protocol line ends with its newline; events have none */
        else
            puts(buf);
    }
    if (err != SELGW_OK && err != SELGW_ERR_AGAIN) {
        fprintf(stderr, "selgw: reading the journal: %s\n", selgw_strerror(err));
        status = 1;
    }
    free(buf);
    free(rec);
    selgw_journal_reader_free(r);
    return status;
}

#define LOCAL_TIME "the gateway's local time, gateway.utc_offset"

/* A time given without its zone is the gateway's local time (its utc_offset); says on
 * stderr how it was read, so nobody mistakes a day by eight hours. False (said) when the
 * local reading is out of range (1970-01-01 at +08:00 is in 1969). */
static bool read_local_time(const char *command, const char *flag, time_flag *t, int offset_minutes,
                            const char *whose)
{
    if (!t->given || t->zoned)
        return true;
    char why[256];
    if (!selgw_parse_cli_time(t->text, offset_minutes, &t->ns, &t->zoned, why, sizeof why)) {
        fprintf(stderr, "selgw %s: %s: %s (%s)\n", command, flag, why, whose);
        return false;
    }
    char local[SELGW_INSTANT_TEXT_SIZE], utc[SELGW_INSTANT_TEXT_SIZE];
    fprintf(stderr, "selgw %s: %s %s read as %s (%s), %s\n", command, flag, t->text,
            selgw_format_local(t->ns, offset_minutes, local), whose,
            selgw_format_instant(t->ns, utc));
    return true;
}

static int cmd_journal(const command_options *options)
{
    const journal_options *opt = &options->journal;
    if (!opt->dump && (opt->format || opt->from.given || opt->to.given)) {
        fprintf(stderr, "selgw journal: --format, --from and --to apply to --dump only\n");
        return EXIT_CONFIG;
    }
    bool lineproto = opt->format && !strcmp(opt->format, "lp");
    if (opt->format && !lineproto && strcmp(opt->format, "json")) {
        fprintf(stderr, "selgw journal: --format is json or lp\n");
        return EXIT_CONFIG;
    }
    selgw_config *cfg = load_config_read_only(opt->config_path);
    if (!cfg)
        return EXIT_CONFIG;
    time_flag from = opt->from, to = opt->to;
    if (!read_local_time("journal", "--from", &from, cfg->utc_offset_minutes, LOCAL_TIME) ||
        !read_local_time("journal", "--to", &to, cfg->utc_offset_minutes, LOCAL_TIME)) {
        selgw_config_free(cfg);
        return EXIT_CONFIG;
    }
    int64_t from_ns = from.given ? from.ns : INT64_MIN;
    int64_t to_ns = to.given ? to.ns : INT64_MAX;
    const char *sinks[SELGW_SINK_KINDS_MAX];
    size_t sink_count = selgw_sink_names(cfg, sinks);
    selgw_journal *j = NULL;
    selgw_journal_recovery rec;
    memset(&rec, 0, sizeof rec);
    /* Read-only: a gateway may be running on this journal right now. */
    selgw_err err = selgw_journal_open(&cfg->journal, sinks, sink_count, false, &j, &rec);
    int status = 0;
    if (err != SELGW_OK) {
        fprintf(stderr, "selgw: journal %s: %s%s%s\n", cfg->journal.dir, selgw_strerror(err),
                rec.message[0] ? ": " : "", rec.message);
        status = 1;
    } else if (opt->dump) {
        /* the config always has a measurement: its default without an influxdb section */
        status = dump_journal(j, from_ns, to_ns, lineproto ? cfg->influxdb.measurement : NULL);
    } else {
        selgw_journal_describe(j, stdout);
    }
    selgw_journal_close(j);
    selgw_config_free(cfg);
    return status;
}

static int cmd_keygen(const command_options *options)
{
    const keygen_options *opt = &options->keygen;
    if (!opt->key_path) {
        fprintf(stderr, "selgw keygen: give the secret key file to create, e.g. "
                        "selgw keygen /etc/selgw/gateway.key\n");
        return EXIT_CONFIG;
    }
    char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE], why[512] = "";
    selgw_err err = selgw_keygen(opt->key_path, public_text, why, sizeof why);
    if (err != SELGW_OK) {
        fprintf(stderr, "selgw keygen: %s\n", why[0] ? why : selgw_strerror(err));
        return 1;
    }
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    char fp[SELGW_KEY_FINGERPRINT_SIZE] = "";
    if (selgw_public_key_parse(public_text, pk))
        selgw_key_fingerprint(pk, fp);
    fprintf(stderr,
            "secret key written to %s (mode 0600); keep it on this gateway only.\n"
            "public key (give it to the enterprise and its auditor), fingerprint %s:\n",
            opt->key_path, fp);
    printf("%s\n", public_text);
    return 0;
}

static int cmd_annotate(const command_options *options)
{
    const annotate_options *opt = &options->annotate;
    if (!opt->plot || !opt->text) {
        fprintf(stderr, "selgw annotate: --plot P --text TEXT [--ref REPORT] are required\n");
        return EXIT_CONFIG;
    }
    selgw_config *cfg = load_config_read_only(opt->config_path);
    if (!cfg)
        return EXIT_CONFIG;
    char why[512] = "";
    selgw_err err = selgw_annotation_spool(cfg, opt->plot, opt->text, opt->ref, why, sizeof why);
    if (err != SELGW_OK)
        fprintf(stderr, "selgw annotate: %s\n", why[0] ? why : selgw_strerror(err));
    else
        fprintf(stderr,
                "selgw annotate: queued for plot %s; the running gateway chains and "
                "journals it within a second (or at its next start)\n",
                opt->plot);
    selgw_config_free(cfg);
    return err == SELGW_OK ? 0 : 1;
}

/* `selgw export --lot ID -o FILE`: the lot's bundle. */
/* One export: a plot's period or a lot, written as --plain says. */
typedef struct export_job {
    const export_options *opt;
    const selgw_config *cfg;
    int64_t from_ns, to_ns;  /* a plot's period */
    int64_t needs_seal_ns;   /* what a closing seal must cover: to_ns, or a lot's last record */
    uint8_t hash[SELGW_BUNDLE_HASH_BYTES];
    selgw_lot *lot;          /* a lot once exported: what its label shows */
} export_job;

static selgw_err export_once(export_job *job, char *why, size_t why_cap)
{
    const export_options *opt = job->opt;
    why[0] = '\0';
    if (opt->lot) {
        job->needs_seal_ns = 0;
        return selgw_evidence_export_lot(job->cfg, opt->lot, opt->output, !opt->plain, job->hash,
                                         &job->needs_seal_ns, &job->lot, why, why_cap);
    }
    job->needs_seal_ns = job->to_ns;
    return selgw_evidence_export(job->cfg, opt->plot, job->from_ns, job->to_ns, opt->output,
                                 !opt->plain, job->hash, why, why_cap);
}

/* Exports; when no seal covers what the export needs yet, asks the running gateway for one
 * (SIGUSR1) and waits up to wait_s for it, then exports again. */
static selgw_err export_with_seal(export_job *job, long wait_s, char *why, size_t why_cap)
{
    selgw_err err = export_once(job, why, why_cap);
    if (err != SELGW_ERR_AGAIN)
        return err;
    char asked_why[256] = "";
    selgw_seal_request req;
    selgw_err asked = wait_s > 0 ? selgw_seal_request_send(job->cfg, &req, asked_why,
                                                           sizeof asked_why)
                                 : SELGW_ERR_AGAIN;
    if (asked == SELGW_OK) {
        fprintf(stderr,
                "selgw export: no seal covers the period yet: asked the running gateway "
                "(pid %ld) for one, waiting up to %ld s\n",
                req.pid, wait_s);
        asked = selgw_seal_request_wait(job->cfg, &req, job->needs_seal_ns,
                                        (int64_t)wait_s * 1000, asked_why, sizeof asked_why);
        if (asked == SELGW_OK)
            err = export_once(job, why, why_cap);
    }
    char until[SELGW_INSTANT_TEXT_SIZE];
    selgw_format_instant(job->needs_seal_ns, until);
    if (err == SELGW_ERR_AGAIN && asked == SELGW_ERR_NOT_FOUND)
        snprintf(why, why_cap,
                 "no seal covers every poll begun before %s yet, and the gateway is not "
                 "running (%s): its next start and clean stop will seal the period",
                 until, asked_why);
    else if (err == SELGW_ERR_AGAIN && wait_s > 0 && asked_why[0])
        snprintf(why, why_cap, "no seal covers every poll begun before %s yet: %s", until,
                 asked_why);
    return err;
}

static selgw_err write_text_file(FILE *f, void *ctx)
{
    const char *text = ctx;
    return fputs(text, f) < 0 ? selgw_err_from_errno(errno) : SELGW_OK;
}

/* The lot's QR label: the code (the lot id, the bundle's hash, the product's lot_url) as an
 * SVG, with the lot id and the hash written under it for people. */
static bool write_qr_label(const selgw_lot *lot, const char *hash_text, const char *path)
{
    char *text = selgw_lot_qr_text(lot->lot, hash_text, lot->url);
    char *svg = text ? selgw_qr_label_svg(text, lot->lot, lot->product, hash_text) : NULL;
    bool ok = svg && selgw_durable_replace(path, 0644, write_text_file, svg) == SELGW_OK;
    if (!ok)
        fprintf(stderr, "selgw export: the QR label %s: %s\n", path,
                svg ? strerror(errno) : "the code cannot be made (too long a URL?)");
    else
        fprintf(stderr, "selgw export: QR label written to %s (%s)\n", path, text);
    free(text);
    free(svg);
    return ok;
}

/* `selgw export --archive DSN --gateway G --pubkey KEY --plot P --from T1 --to T2 -o FILE`:
 * the same bundle, read from the archive's rows; times without a zone are UTC (there is no
 * config to give the gateway's offset). */
static int export_from_archive(const export_options *opt)
{
    if (opt->config_path || opt->lot || opt->qr || opt->wait) {
        fprintf(stderr, "selgw export: --archive takes no -c, --lot, --qr or --wait\n");
        return EXIT_CONFIG;
    }
    if (!opt->gateway || !opt->pubkey || !opt->plot || !opt->from.given || !opt->to.given ||
        !opt->output) {
        fprintf(stderr, "selgw export: --archive DSN needs --gateway G --pubkey ed25519:HEX "
                        "--plot P --from T1 --to T2 -o FILE\n");
        return EXIT_CONFIG;
    }
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    if (!selgw_public_key_parse(opt->pubkey, pk)) {
        fprintf(stderr, "selgw export: --pubkey %s: not ed25519:<64 hex digits>\n", opt->pubkey);
        return EXIT_CONFIG;
    }
    time_flag from = opt->from, to = opt->to;
    if (!read_local_time("export", "--from", &from, 0, "UTC") ||
        !read_local_time("export", "--to", &to, 0, "UTC"))
        return EXIT_CONFIG;
    if (from.ns >= to.ns) {
        fprintf(stderr, "selgw export: --from T1 must be before --to T2\n");
        return EXIT_CONFIG;
    }
    char why[768] = "";
    selgw_archive_source *archive = NULL;
    selgw_err err = selgw_archive_source_new(opt->archive, opt->gateway, &archive, why, sizeof why);
    uint8_t hash[32];
    if (err == SELGW_OK && selgw_archive_source_count(archive) == 0) {
        snprintf(why, sizeof why, "the archive holds no record of gateway %s", opt->gateway);
        err = SELGW_ERR_NOT_FOUND;
    }
    if (err == SELGW_OK) {
        selgw_record_source src = {.ctx = archive,
                                   .open = selgw_archive_reader_open,
                                   .read = selgw_archive_reader_read,
                                   .close = selgw_archive_reader_close};
        err = selgw_evidence_export_source(&src, opt->gateway, pk, opt->plot, from.ns, to.ns,
                                           opt->output, !opt->plain, hash, why, sizeof why);
    }
    selgw_archive_source_free(archive);
    if (err != SELGW_OK) {
        fprintf(stderr, "selgw export: %s\n", why[0] ? why : selgw_strerror(err));
        return 1;
    }
    char text[SELGW_BUNDLE_HASH_TEXT_SIZE];
    selgw_bundle_hash_text(hash, text);
    fprintf(stderr, "selgw export: evidence for plot %s of gateway %s from the archive written "
                    "to %s%s\n",
            opt->plot, opt->gateway, opt->output, opt->plain ? "" : " (gzip)");
    printf("bundle hash: %s\n", text);
    return 0;
}

static int cmd_export(const command_options *options)
{
    const export_options *opt = &options->export;
    if (opt->archive)
        return export_from_archive(opt);
    if (opt->gateway || opt->pubkey) {
        fprintf(stderr, "selgw export: --gateway and --pubkey go with --archive DSN\n");
        return EXIT_CONFIG;
    }
    if (opt->lot && (opt->plot || opt->from.given || opt->to.given || !opt->output)) {
        fprintf(stderr, "selgw export: --lot ID takes -o FILE and no --plot, --from or --to (the "
                        "lot says its plots and their periods)\n");
        return EXIT_CONFIG;
    }
    if (opt->qr && !opt->lot) {
        fprintf(stderr, "selgw export: --qr LABEL.svg is the label of a lot: give --lot ID\n");
        return EXIT_CONFIG;
    }
    if (!opt->lot && (!opt->plot || !opt->from.given || !opt->to.given || !opt->output)) {
        fprintf(stderr, "selgw export: --plot P --from T1 --to T2 -o FILE (or --lot ID -o FILE) "
                        "are required\n");
        return EXIT_CONFIG;
    }
    if (!opt->lot && opt->from.zoned && opt->to.zoned && opt->from.ns >= opt->to.ns) {
        fprintf(stderr, "selgw export: --from T1 must be before --to T2\n");
        return EXIT_CONFIG; /* said before the config is read, when no zone is missing */
    }
    long wait_s = 60;
    if (opt->wait) {
        char *end;
        errno = 0;
        wait_s = strtol(opt->wait, &end, 10);
        if (errno || end == opt->wait || *end || wait_s < 0 || wait_s > 86400) {
            fprintf(stderr, "selgw export: --wait takes whole seconds from 0 to 86400\n");
            return EXIT_CONFIG;
        }
    }
    selgw_config *cfg = load_config_read_only(opt->config_path);
    if (!cfg)
        return EXIT_CONFIG;
    export_job job = {.opt = opt, .cfg = cfg};
    if (!opt->lot) {
        time_flag from = opt->from, to = opt->to;
        if (!read_local_time("export", "--from", &from, cfg->utc_offset_minutes, LOCAL_TIME) ||
            !read_local_time("export", "--to", &to, cfg->utc_offset_minutes, LOCAL_TIME)) {
            selgw_config_free(cfg);
            return EXIT_CONFIG;
        }
        if (from.ns >= to.ns) {
            fprintf(stderr, "selgw export: --from T1 must be before --to T2\n");
            selgw_config_free(cfg);
            return EXIT_CONFIG;
        }
        job.from_ns = from.ns;
        job.to_ns = to.ns;
    }
    char why[768] = "";
    selgw_err err = export_with_seal(&job, wait_s, why, sizeof why);
    bool label_ok = true;
    if (err != SELGW_OK) {
        fprintf(stderr, "selgw export: %s\n", why[0] ? why : selgw_strerror(err));
    } else {
        char text[SELGW_BUNDLE_HASH_TEXT_SIZE];
        selgw_bundle_hash_text(job.hash, text);
        fprintf(stderr, "selgw export: evidence for %s %s written to %s%s\n",
                opt->lot ? "lot" : "plot", opt->lot ? opt->lot : opt->plot, opt->output,
                opt->plain ? "" : " (gzip)");
        printf("bundle hash: %s\n", text);
        if (opt->qr)
            label_ok = write_qr_label(job.lot, text, opt->qr);
    }
    selgw_lot_free(job.lot);
    selgw_config_free(cfg);
    return err == SELGW_OK && label_ok ? 0 : 1;
}

static int cmd_lot(const command_options *options)
{
    const lot_options *opt = &options->lot;
    if (!opt->id || !opt->product || !opt->plots.count || !opt->quantity || !opt->unit) {
        fprintf(stderr, "selgw lot: --id ID --product NAME --plot P:FROM..TO --quantity Q --unit U "
                        "are required\n");
        return EXIT_CONFIG;
    }
    char *end = NULL;
    errno = 0;
    double quantity = strtod(opt->quantity, &end);
    if (errno || end == opt->quantity || *end) {
        fprintf(stderr, "selgw lot: --quantity %s: not a number\n", opt->quantity);
        return EXIT_CONFIG;
    }
    selgw_config *cfg = load_config_read_only(opt->config_path);
    if (!cfg)
        return EXIT_CONFIG;
    selgw_lot_request req = {.id = opt->id,
                             .product = opt->product,
                             .unit = opt->unit,
                             .processing = opt->processing,
                             .quantity = quantity,
                             .plot_count = opt->plots.count,
                             .plots = opt->plots.items,
                             .household_count = opt->households.count,
                             .households = opt->households.items,
                             .ref_count = opt->refs.count,
                             .refs = opt->refs.items};
    char why[768] = "";
    char *json = NULL;
    selgw_err err = selgw_lot_build(cfg, &req, selgw_utc_ns(), &json, why, sizeof why);
    int queue_lock = -1;
    if (err == SELGW_OK &&
        (queue_lock = selgw_lot_queue_lock(cfg->journal.dir, why, sizeof why)) < 0)
        err = SELGW_ERR_IO;
    /* The queue before the journal: the gateway removes a queue file only after its
     * records are committed, so in this order a lot is seen in one or the other. */
    bool queued = err == SELGW_OK && selgw_lot_is_queued(cfg->journal.dir, opt->id);
    if (err == SELGW_OK) {
        selgw_lot_record *records = NULL;
        size_t count = 0;
        err = selgw_lot_records(cfg, opt->id, &records, &count, why, sizeof why);
        if (err == SELGW_OK && count) {
            snprintf(why, sizeof why,
                     "lot %s is already recorded (journal record %" PRIu64 ", plot %s): a lot id "
                     "is recorded once",
                     opt->id, records[0].jseq, records[0].plot);
            err = SELGW_ERR_INVALID;
        } else if (err == SELGW_OK && queued) {
            snprintf(why, sizeof why, "lot %s is already queued (the gateway journals it soon)",
                     opt->id);
            err = SELGW_ERR_INVALID;
        }
        selgw_lot_records_free(records, count);
    }
    if (err == SELGW_OK)
        err = selgw_lot_spool(cfg, opt->id, json, why, sizeof why);
    selgw_lot_queue_unlock(queue_lock);
    if (err != SELGW_OK) {
        fprintf(stderr, "selgw lot: %s\n", why[0] ? why : selgw_strerror(err));
    } else {
        printf("%s\n", json);
        fprintf(stderr,
                "selgw lot: lot %s queued for %zu plot%s; the running gateway records it in "
                "each plot's chain within a second (or at its next start)\n",
                opt->id, opt->plots.count, opt->plots.count == 1 ? "" : "s");
    }
    free(json);
    selgw_config_free(cfg);
    return err == SELGW_OK ? 0 : 1;
}

static int cmd_verify(const command_options *options)
{
    const verify_options *opt = &options->verify;
    if (!opt->bundle_path) {
        fprintf(stderr, "selgw verify: give the evidence file: selgw verify FILE --pubkey KEY\n");
        return EXIT_CONFIG;
    }
    /* verify reads no config: a time without its zone is UTC, and it says so */
    time_flag from = opt->from, to = opt->to;
    static const char utc[] = "UTC: verify reads no config; give the zone, e.g. +08:00";
    read_local_time("verify", "--from", &from, 0, utc); /* UTC: checked while parsing */
    read_local_time("verify", "--to", &to, 0, utc);
    if ((opt->lang || opt->pdf) && !opt->report) {
        fprintf(stderr, "selgw verify: --lang and --pdf go with --report FILE.html\n");
        return EXIT_CONFIG;
    }
    selgw_report *report = NULL;
    if (opt->report && !(report = selgw_report_new(opt->lang ? opt->lang : "zh"))) {
        fprintf(stderr, "selgw verify: --lang %s: the report is in zh (the default) or en\n",
                opt->lang);
        return EXIT_CONFIG;
    }
    selgw_verify_options vopt = {.pubkey = opt->pubkey,
                                 .keys_file = opt->keys,
                                 .plot = opt->plot,
                                 .has_from = from.given,
                                 .from_ns = from.ns,
                                 .has_to = to.given,
                                 .to_ns = to.ns,
                                 .report = report};
    if (opt->witness_keys.count > SELGW_VERIFY_MAX_WITNESS_KEYS) {
        fprintf(stderr, "selgw verify: at most %d --witness-key\n", SELGW_VERIFY_MAX_WITNESS_KEYS);
        selgw_report_free(report);
        return EXIT_CONFIG;
    }
    for (size_t i = 0; i < opt->witness_keys.count; i++)
        vopt.witness_keys[vopt.witness_key_count++] = opt->witness_keys.items[i];
    if (opt->witness_tolerance) {
        char *end = NULL;
        errno = 0;
        double seconds = strtod(opt->witness_tolerance, &end);
        if (errno || end == opt->witness_tolerance || *end || !(seconds >= 0) || seconds > 1e9) {
            fprintf(stderr, "selgw verify: --witness-tolerance %s: not a number of seconds\n",
                    opt->witness_tolerance);
            selgw_report_free(report);
            return EXIT_CONFIG;
        }
        vopt.witness_tolerance_set = true;
        vopt.witness_tolerance_ns = (int64_t)(seconds * 1e9);
    }
    int status;
    switch (selgw_evidence_verify(opt->bundle_path, &vopt, stdout)) {
    case SELGW_OK:
        status = 0;
        break;
    case SELGW_ERR_CORRUPT:
        status = 1;
        break;
    case SELGW_ERR_AUTH:
        status = 3;
        break;
    default:
        status = EXIT_CONFIG;
    }
    if (!report)
        return status;
    /* The verdict stands as printed; a report that cannot be written is said on stderr, and
     * turns only a VERIFIED exit status into 4 (a script must not take a missing report
     * for a written one). */
    fflush(stdout);
    char why[600];
    bool written = selgw_report_write_html(report, opt->report, why, sizeof why) == SELGW_OK;
    if (!written)
        fprintf(stderr, "selgw verify: the report was not written: %s\n", why);
    else if (opt->pdf && selgw_report_print_pdf(opt->report, opt->pdf, why, sizeof why) != SELGW_OK) {
        fprintf(stderr, "selgw verify: the PDF was not written (the HTML report %s was): %s\n",
                opt->report, why);
        written = false;
    }
    selgw_report_free(report);
    return !written && status == 0 ? 4 : status;
}

static int cmd_pubkey(const command_options *options)
{
    const pubkey_options *opt = &options->pubkey;
    if (!opt->key_path) {
        fprintf(stderr, "selgw pubkey: give the secret key file: selgw pubkey KEYFILE\n");
        return EXIT_CONFIG;
    }
    selgw_signer *signer = NULL;
    char why[512] = "";
    selgw_err err = selgw_signer_load(opt->key_path, &signer, why, sizeof why);
    if (err != SELGW_OK) {
        fprintf(stderr, "selgw pubkey: %s\n", why[0] ? why : selgw_strerror(err));
        return 1;
    }
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    selgw_signer_public_key(signer, pk);
    selgw_signer_free(signer);
    char text[SELGW_PUBLIC_KEY_TEXT_SIZE], fp[SELGW_KEY_FINGERPRINT_SIZE];
    selgw_public_key_format(pk, text);
    selgw_key_fingerprint(pk, fp);
    printf("%s\n", text);
    fprintf(stderr, "fingerprint %s\n", fp);
    return 0;
}

/* ---- commissioning (commission.c) ----------------------------------------------------- */

/* The commissioning commands take -c only for the config's profiles or devices. */
static int cmd_profiles(const command_options *options)
{
    const selgw_profiles_options *opt = &options->profiles;
    selgw_config *cfg = NULL;
    if (opt->config_path && !(cfg = load_config_read_only(opt->config_path)))
        return EXIT_CONFIG;
    int status = selgw_commission_profiles(cfg, opt);
    selgw_config_free(cfg);
    return status;
}

static int cmd_read(const command_options *options)
{
    const selgw_read_options *opt = &options->read;
    selgw_config *cfg = NULL;
    if (opt->config_path && !(cfg = load_config_read_only(opt->config_path)))
        return EXIT_CONFIG;
    int status = selgw_commission_read(cfg, opt);
    selgw_config_free(cfg);
    return status;
}

static int cmd_scan(const command_options *options)
{
    const selgw_scan_options *opt = &options->scan;
    selgw_config *cfg = NULL;
    if (opt->config_path && !(cfg = load_config_read_only(opt->config_path)))
        return EXIT_CONFIG;
    int status = selgw_commission_scan(cfg, opt);
    selgw_config_free(cfg);
    return status;
}

static int cmd_set_address(const command_options *options)
{
    const selgw_set_address_options *opt = &options->set_address;
    selgw_config *cfg = NULL;
    if (opt->config_path && !(cfg = load_config_read_only(opt->config_path)))
        return EXIT_CONFIG;
    int status = selgw_commission_set_address(cfg, opt);
    selgw_config_free(cfg);
    return status;
}

/* ---- the commands and their flags ------------------------------------------------------ */

typedef enum flag_kind {
    FLAG_TEXT,  /* takes a value, kept as typed: a const char * field */
    FLAG_LIST,  /* takes a value, may be given again: a list_flag field */
    FLAG_TIME,  /* takes a time (selgw_parse_cli_time): a time_flag field */
    FLAG_TRUE,  /* a bool field set to true */
    FLAG_SET,   /* an int field set to the flag's value */
    FLAG_LOG,   /* global: the log level `value` */
    FLAG_LEVEL, /* global: takes the log level's name (selgw_log_level_parse) */
    FLAG_HELP,  /* global: the command's help text */
} flag_kind;

typedef struct flag {
    const char *name;       /* --name; NULL ends a table */
    char letter;            /* -x, or 0 */
    flag_kind kind;         /* what it does with its field */
    const char *value_name; /* FLAG_TEXT and FLAG_TIME: the value in help texts */
    size_t offset;          /* of its field in the command's options */
    int value;              /* FLAG_SET and FLAG_LOG */
    const char *help;
} flag;

#define TEXT_FLAG(name, letter, value_name, type, field, help)                                     \
    {                                                                                              \
        name, letter, FLAG_TEXT, value_name, offsetof(type, field), 0, help                        \
    }
#define LIST_FLAG(name, value_name, type, field, help)                                             \
    {                                                                                              \
        name, 0, FLAG_LIST, value_name, offsetof(type, field), 0, help                             \
    }
#define TIME_FLAG(name, value_name, type, field, help)                                             \
    {                                                                                              \
        name, 0, FLAG_TIME, value_name, offsetof(type, field), 0, help                             \
    }
#define BOOL_FLAG(name, type, field, help)                                                         \
    {                                                                                              \
        name, 0, FLAG_TRUE, NULL, offsetof(type, field), 0, help                                   \
    }
#define CONFIG_FLAG(type)                                                                          \
    TEXT_FLAG("config", 'c', "FILE", type, config_path, "the configuration file (or FILE alone)")

static const flag global_flags[] = {
    {"verbose", 'v', FLAG_LOG, NULL, 0, SELGW_LOG_DEBUG, "log debugging detail on stderr"},
    {"quiet", 'q', FLAG_LOG, NULL, 0, SELGW_LOG_ERROR, "log only errors on stderr"},
    {"help", 'h', FLAG_HELP, NULL, 0, 0, "print the help of the command, or the list of commands"},
    {"log-level", 0, FLAG_LEVEL, "LEVEL", 0, 0,
     "log up to LEVEL: error, warn, info (default), debug"},
    {0},
};

static const flag no_flags[] = {{0}};

static const flag check_flags[] = {
    CONFIG_FLAG(check_options),
    BOOL_FLAG("plan", check_options, plan, "also list the Modbus reads of every device"),
    {0},
};

static const flag run_flags[] = {
    CONFIG_FLAG(run_options),
    BOOL_FLAG("once", run_options, once,
              "poll every device once and exit: 0 if all answered, 1 if not"),
    {"print", 0, FLAG_SET, NULL, offsetof(run_options, print), PRINT_ON,
     "print every journaled record as a JSON line (the default without sinks)"},
    {"no-print", 0, FLAG_SET, NULL, offsetof(run_options, print), PRINT_OFF,
     "do not, even without sinks"},
    {0},
};

static const flag journal_flags[] = {
    CONFIG_FLAG(journal_options),
    BOOL_FLAG("dump", journal_options, dump, "print the records as JSON lines"),
    TEXT_FLAG("format", 0, "json|lp", journal_options, format,
              "with --dump: json (default), or lp: the readings as InfluxDB line protocol"),
    TIME_FLAG("from", "TIME", journal_options, from,
              "with --dump: the records from TIME (inclusive)"),
    TIME_FLAG("to", "TIME", journal_options, to,
              "with --dump: the records before TIME (exclusive)"),
    {0},
};

static const flag annotate_flags[] = {
    CONFIG_FLAG(annotate_options),
    TEXT_FLAG("plot", 0, "P", annotate_options, plot, "the plot the result or note is about"),
    TEXT_FLAG("text", 0, "TEXT", annotate_options, text, "the result or note"),
    TEXT_FLAG("ref", 0, "REPORT", annotate_options, ref, "the lab report's number"),
    {0},
};

static const flag export_flags[] = {
    CONFIG_FLAG(export_options),
    TEXT_FLAG("plot", 0, "P", export_options, plot, "the plot"),
    TIME_FLAG("from", "T1", export_options, from, "the period's start (inclusive)"),
    TIME_FLAG("to", "T2", export_options, to, "the period's end (exclusive)"),
    TEXT_FLAG("output", 'o', "BUNDLE", export_options, output,
              "the evidence file to write (gzip-compressed)"),
    BOOL_FLAG("plain", export_options, plain, "write the bundle as plain text, not gzip"),
    BOOL_FLAG("no-compress", export_options, plain, "the same as --plain"),
    TEXT_FLAG("wait", 0, "SECONDS", export_options, wait,
              "when no seal covers the period yet, ask the running gateway for one and wait "
              "up to SECONDS for it (default 60; 0: do not ask)"),
    TEXT_FLAG("lot", 0, "ID", export_options, lot,
              "instead of --plot, --from, --to: the lot's bundle (its plots' seasons)"),
    TEXT_FLAG("qr", 0, "LABEL.svg", export_options, qr,
              "with --lot: also write the lot's QR label (lot id, bundle hash, the product's "
              "lot_url)"),
    TEXT_FLAG("archive", 0, "DSN", export_options, archive,
              "instead of a config's journal: the records `selgw archive` stored in this "
              "PostgreSQL (a libpq conninfo or URI); with --gateway and --pubkey"),
    TEXT_FLAG("gateway", 0, "G", export_options, gateway, "with --archive: the gateway's id"),
    TEXT_FLAG("pubkey", 0, "ed25519:HEX", export_options, pubkey,
              "with --archive: the gateway's public key, written into the bundle"),
    {0},
};

static const flag lot_flags[] = {
    CONFIG_FLAG(lot_options),
    TEXT_FLAG("id", 0, "ID", lot_options, id, "the lot's id (letters, digits, '.', '_', '-')"),
    TEXT_FLAG("product", 0, "NAME", lot_options, product, "a product of the config's products"),
    LIST_FLAG("plot", "P:FROM..TO", lot_options, plots,
              "a plot of the lot and its harvest days (local, YYYY-MM-DD); again for more"),
    TEXT_FLAG("quantity", 0, "Q", lot_options, quantity, "how much the lot is"),
    TEXT_FLAG("unit", 0, "U", lot_options, unit, "of the quantity, e.g. kg"),
    LIST_FLAG("household", "CODE", lot_options, households,
              "a household who picked (contracted on a plot of the lot); again for more"),
    TEXT_FLAG("processing", 0, "TEXT", lot_options, processing, "how the lot was processed"),
    LIST_FLAG("ref", "REF", lot_options, refs, "a reference (lab report...); again for more"),
    {0},
};

static const flag verify_flags[] = {
    TEXT_FLAG("pubkey", 0, "ed25519:HEX", verify_options, pubkey, "a public key you trust"),
    TEXT_FLAG("keys", 0, "FILE", verify_options, keys,
              "public keys you trust: registered keys, one a line"),
    TEXT_FLAG("plot", 0, "P", verify_options, plot,
              "the plot asked for (a bundle of another plot is NOT VERIFIED)"),
    TIME_FLAG("from", "T1", verify_options, from,
              "the start asked for (a bundle starting later is NOT VERIFIED)"),
    TIME_FLAG("to", "T2", verify_options, to,
              "the end asked for (a bundle ending earlier is NOT VERIFIED)"),
    TEXT_FLAG("report", 0, "FILE.html", verify_options, report,
              "also write a report people read: one HTML file, printable (docs/REPORT.md)"),
    TEXT_FLAG("lang", 0, "zh|en", verify_options, lang,
              "the report's language: zh (zh-CN, the default) or en"),
    TEXT_FLAG("pdf", 0, "FILE.pdf", verify_options, pdf,
              "with --report: also print it to PDF with headless Chromium"),
    LIST_FLAG("witness-key", "KEY|FILE", verify_options, witness_keys,
              "a witness you trust (the archive's key): ed25519:HEX or a file of keys; again "
              "for more"),
    TEXT_FLAG("witness-tolerance", 0, "SECONDS", verify_options, witness_tolerance,
              "how far the gateway's clock may be ahead of its witness (default 300)"),
    {0},
};

static const flag profiles_flags[] = {
    TEXT_FLAG("config", 'c', "FILE", selgw_profiles_options, config_path,
              "also the site profiles of this config's profiles_dir"),
    {0},
};

#define LINK_FLAGS(type)                                                                           \
    TEXT_FLAG("tcp", 0, "HOST:PORT", type, link.tcp, "a Modbus TCP device or gateway"),            \
        TEXT_FLAG("serial", 0, "DEVICE", type, link.serial,                                        \
                  "a Modbus RTU line, e.g. /dev/ttyUSB0"),                                         \
        TEXT_FLAG("timeout", 0, "MS", type, link.timeout, "how long to wait for an answer")

static const flag read_flags[] = {
    TEXT_FLAG("config", 'c', "FILE", selgw_read_options, config_path,
              "the config DEVICE is in (or whose profiles to use)"),
    LINK_FLAGS(selgw_read_options),
    TEXT_FLAG("baud", 0, "N", selgw_read_options, link.baud,
              "with --serial: the baud rate (default: the profile's)"),
    TEXT_FLAG("parity", 0, "N|E|O", selgw_read_options, link.parity,
              "with --serial: the parity (default: the profile's)"),
    TEXT_FLAG("unit", 0, "N", selgw_read_options, unit, "the unit id (default: the profile's)"),
    TEXT_FLAG("profile", 0, "NAME", selgw_read_options, profile, "the device's profile"),
    BOOL_FLAG("raw", selgw_read_options, raw, "also the registers and the frames in hex"),
    {0},
};

static const flag scan_flags[] = {
    TEXT_FLAG("config", 'c', "FILE", selgw_scan_options, config_path,
              "also try the site profiles of this config's profiles_dir"),
    LINK_FLAGS(selgw_scan_options),
    TEXT_FLAG("baud", 0, "N[,N...]", selgw_scan_options, link.baud,
              "with --serial: the baud rates to try (default: 1200 to 115200)"),
    TEXT_FLAG("parity", 0, "P[,P...]", selgw_scan_options, link.parity,
              "with --serial: the parities to try (default: N,E,O)"),
    TEXT_FLAG("units", 0, "FIRST-LAST", selgw_scan_options, units,
              "the unit ids to try (default: 1-247)"),
    {0},
};

static const flag set_address_flags[] = {
    TEXT_FLAG("config", 'c', "FILE", selgw_set_address_options, config_path,
              "also the site profiles of this config's profiles_dir"),
    LINK_FLAGS(selgw_set_address_options),
    TEXT_FLAG("baud", 0, "N", selgw_set_address_options, link.baud,
              "with --serial: the device's baud rate now (default: the profile's)"),
    TEXT_FLAG("parity", 0, "N|E|O", selgw_set_address_options, link.parity,
              "with --serial: its parity (default: the profile's)"),
    TEXT_FLAG("unit", 0, "N", selgw_set_address_options, unit,
              "its unit id now (default: the profile's factory id)"),
    TEXT_FLAG("profile", 0, "NAME", selgw_set_address_options, profile,
              "its profile, which names the addressing registers"),
    TEXT_FLAG("new-unit", 0, "N", selgw_set_address_options, new_unit, "the unit id to give it"),
    TEXT_FLAG("new-baud", 0, "N", selgw_set_address_options, new_baud,
              "also the baud rate to give it (the profile must know its code)"),
    {0},
};

typedef struct command {
    const char *name;
    const char *synopsis;  /* its operand and flags, after "selgw NAME" */
    const char *about;     /* what it does, in lines of at most 80 characters */
    const flag *flags;     /* its own; the global ones come on top */
    const char *operand;   /* the name of its one argument that is not a flag, or NULL */
    size_t operand_offset; /* the const char * field the operand goes to */
    int (*run)(const command_options *opt);
} command;

static const flag archive_flags[] = {
    CONFIG_FLAG(archive_options),
    BOOL_FLAG("check", archive_options, check, "validate the file and print a summary, then exit"),
    {0},
};

static const flag status_flags[] = {
    CONFIG_FLAG(status_options),
    TEXT_FLAG("url", 0, "URL", status_options, url,
              "the API's address, e.g. http://127.0.0.1:9108 (instead of the config's; with -c "
              "too, the config's http.tls_cert is the certificate trusted)"),
    {0},
};

/* A client of the running gateway's HTTP API: it never opens the journal or a bus, so it
 * works while the gateway runs, as any user who can reach the address. */
static int cmd_archive(const command_options *options)
{
    const archive_options *opt = &options->archive;
    if (!opt->config_path) {
        fprintf(stderr, "selgw archive: -c FILE is required\n");
        return EXIT_CONFIG;
    }
    selgw_diag *diag = selgw_diag_new();
    selgw_archive_config *cfg = NULL;
    selgw_err err = diag ? selgw_archive_config_load(opt->config_path, diag, &cfg) : SELGW_ERR_NOMEM;
    if (err != SELGW_OK) {
        if (diag && selgw_diag_count(diag) > 0) {
            selgw_diag_sort(diag);
            selgw_diag_print(diag, stderr);
        } else {
            fprintf(stderr, "selgw archive: cannot load %s: %s\n", opt->config_path,
                    selgw_strerror(err));
        }
        selgw_diag_free(diag);
        return EXIT_CONFIG;
    }
    selgw_diag_free(diag);
    if (opt->check) {
        printf("%s: OK\n", opt->config_path);
        selgw_archive_config_summary(cfg, stdout);
        selgw_archive_config_free(cfg);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int status = selgw_archive_run(cfg, &stop_signal);
    selgw_archive_config_free(cfg);
    return status;
}

static int cmd_status(const command_options *options)
{
    const status_options *opt = &options->status;
    char base[300], expect[SELGW_ID_MAX + 1] = "", answered[SELGW_ID_MAX + 1];
    char *ca_file = NULL; /* the config's http.tls_cert: the certificate an https API shows */
    if (opt->url) {
        snprintf(base, sizeof base, "%s", opt->url);
        size_t n = strlen(base);
        while (n && base[n - 1] == '/')
            base[--n] = '\0';
    }
    if (!opt->url || opt->config_path) {
        /* the config gives the address, or with --url only the certificate to trust */
        selgw_config *cfg = load_config_read_only(opt->config_path);
        if (!cfg)
            return EXIT_CONFIG;
        if (cfg->http.tls_cert && !(ca_file = strdup(cfg->http.tls_cert))) {
            selgw_config_free(cfg);
            fprintf(stderr, "selgw status: out of memory\n");
            return 1;
        }
        bool enabled = cfg->http.enabled;
        if (!opt->url) {
            selgw_http_url_of_listen(cfg->http.listen, cfg->http.tls_cert != NULL, base,
                                     sizeof base);
            snprintf(expect, sizeof expect, "%s", cfg->gateway_id);
        }
        selgw_config_free(cfg);
        if (!opt->url && !enabled) {
            fprintf(stderr,
                    "selgw status: %s has http: enabled: false, so the gateway serves "
                    "no status; turn it on and reload, or give --url\n",
                    opt->config_path ? opt->config_path : "the built-in demo config");
            free(ca_file);
            return 1;
        }
    }
    char why[600] = "", *status = NULL, *latest = NULL;
    selgw_err err = selgw_http_get(base, "/api/v1/status", ca_file, &status, why, sizeof why);
    if (err == SELGW_OK)
        err = selgw_http_get(base, "/api/v1/latest", ca_file, &latest, why, sizeof why);
    free(ca_file);
    if (err == SELGW_ERR_CONNECT || err == SELGW_ERR_TIMEOUT) {
        fprintf(stderr,
                "selgw status: no gateway answers at %s (%s).\n"
                "Is `selgw run` running with this config (systemctl status selgw)? The address "
                "is the config's http.listen, or --url.\n",
                base, why);
        return 1;
    }
    if (err == SELGW_OK && expect[0] &&
        !selgw_status_is_gateway(status, expect, answered, sizeof answered)) {
        fprintf(stderr,
                "selgw status: the gateway answering at %s is '%s', not '%s' of %s: another "
                "gateway holds that address (give each its own http.listen)\n",
                base, answered, expect,
                opt->config_path ? opt->config_path : "the built-in demo config");
        free(status);
        free(latest);
        return 1;
    }
    if (err == SELGW_OK && selgw_status_print(status, latest, stdout) != SELGW_OK) {
        err = SELGW_ERR_INVALID;
        snprintf(why, sizeof why, "%s does not answer as selgw's API does", base);
    }
    free(status);
    free(latest);
    if (err != SELGW_OK) {
        fprintf(stderr, "selgw status: %s\n", why[0] ? why : selgw_strerror(err));
        return 1;
    }
    return 0;
}

/* One line of the password from stdin into buf, without its line end: without echo and
 * after a prompt on stderr when stdin is a terminal. False at end of input or when the
 * line does not fit. */
static bool read_password_line(const char *prompt, char *buf, size_t cap, size_t *len)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios saved, quiet;
    bool echo_off = false;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        fflush(stderr);
        if (tcgetattr(STDIN_FILENO, &saved) == 0) {
            quiet = saved;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            quiet.c_lflag |= ECHONL;
            echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    bool ok = fgets(buf, (int)cap, stdin) != NULL;
    if (echo_off)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    if (!ok)
        return false;
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (n + 1 == cap)
        return false; /* longer than the buffer */
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    *len = n;
    return true;
}

#define PASSWORD_MAX 512
#define PASSWORD_MIN 8

static int cmd_passwd(const command_options *options)
{
    (void)options;
    char first[PASSWORD_MAX + 2], second[PASSWORD_MAX + 2];
    size_t len = 0, len2 = 0;
    int status = 1;
    if (!read_password_line("New password for the HTTP API: ", first, sizeof first, &len)) {
        fprintf(stderr, "selgw passwd: no password read (one line of at most %d bytes)\n",
                PASSWORD_MAX);
    } else if (len < PASSWORD_MIN) {
        fprintf(stderr, "selgw passwd: the password needs at least %d characters\n", PASSWORD_MIN);
    } else if (isatty(STDIN_FILENO) &&
               (!read_password_line("Again: ", second, sizeof second, &len2) || len2 != len ||
                memcmp(first, second, len))) {
        fprintf(stderr, "selgw passwd: the two passwords differ\n");
    } else {
        char hash[SELGW_PASSWORD_HASH_SIZE];
        if (selgw_password_hash(first, len, hash) != SELGW_OK) {
            fprintf(stderr, "selgw passwd: not enough memory to hash the password\n");
        } else {
            printf("password_hash: \"%s\"\n", hash);
            fprintf(stderr, "Put this line in the config's http: section (or the hash alone "
                            "in the file http.password_file names); the password itself is "
                            "kept nowhere.\n");
            status = 0;
        }
    }
    explicit_bzero(first, sizeof first);
    explicit_bzero(second, sizeof second);
    return status;
}

static int cmd_version(const command_options *options);
static int cmd_help(const command_options *options);

static const command commands[] = {
    {"check", "[-c] FILE [--plan]",
     "validate FILE and print a summary (bases, plots, buses, devices, Modbus requests per\n"
     "poll cycle), or every error as FILE:LINE:COLUMN: message (exit 2)\n",
     check_flags, "FILE", offsetof(command_options, check.config_path), cmd_check},
    {"run", "[[-c] FILE] [--once] [--print | --no-print]",
     "poll every device into the journal and deliver to the configured sinks, until SIGINT\n"
     "or SIGTERM; without FILE the built-in demo config (config/demo.yaml). SIGHUP reloads\n"
     "FILE (an invalid file is reported and the running config kept)\n",
     run_flags, "FILE", offsetof(command_options, run.config_path), cmd_run},
    {"journal", "[[-c] FILE] [--dump [--format json|lp] [--from TIME] [--to TIME]]",
     "list the journal's segments, sequence ranges, sink cursors and backlog, or print its\n"
     "records (--dump); read-only, also while a gateway runs on it. Without FILE the\n"
     "built-in demo config's journal\n",
     journal_flags, "FILE", offsetof(command_options, journal.config_path), cmd_journal},
    {"keygen", "FILE",
     "create the gateway's Ed25519 key pair: the secret key in FILE (mode 0600), the public\n"
     "key printed for the enterprise and its auditor\n",
     no_flags, "FILE", offsetof(command_options, keygen.key_path), cmd_keygen},
    {"pubkey", "KEYFILE",
     "print the public key of a secret key file (and its fingerprint on stderr)\n", no_flags,
     "KEYFILE", offsetof(command_options, pubkey.key_path), cmd_pubkey},
    {"annotate", "[[-c] FILE] --plot P --text TEXT [--ref REPORT]",
     "record a lab result or note for plot P (e.g. a soil selenium analysis with its lab\n"
     "report number); the running gateway chains and seals it with the readings\n",
     annotate_flags, "FILE", offsetof(command_options, annotate.config_path), cmd_annotate},
    {"export",
     "[[-c] FILE] (--plot P --from T1 --to T2 | --lot ID [--qr LABEL.svg]) -o BUNDLE [--plain]\n"
     "    [--wait SECONDS]\n"
     "    | --archive DSN --gateway G --pubkey ed25519:HEX --plot P --from T1 --to T2 -o BUNDLE",
     "write the evidence of plot P over [T1, T2): its devices' records, annotations, tag\n"
     "history, the seals that cover the period and the public key; or of a lot (each of its\n"
     "plots' season up to the harvest) and its QR label. gzip-compressed unless --plain.\n"
     "Prints the bundle's hash. When no seal covers the period yet, asks the running gateway\n"
     "for one (SIGUSR1) and waits for it. With --archive, the same bundle from the records\n"
     "`selgw archive` stored in PostgreSQL (no config; times without a zone are UTC)\n",
     export_flags, "FILE", offsetof(command_options, export.config_path), cmd_export},
    {"lot",
     "[[-c] FILE] --id ID --product NAME --plot P:FROM..TO [--plot ...] --quantity Q --unit U\n"
     "    [--household CODE ...] [--processing TEXT] [--ref REF ...]",
     "record a harvest lot of a GI product in its plots' chains (docs/EVIDENCE.md, Lots);\n"
     "the running gateway journals it; then `selgw export --lot ID` writes its evidence\n",
     lot_flags, "FILE", offsetof(command_options, lot.config_path), cmd_lot},
    {"verify",
     "BUNDLE [--pubkey ed25519:HEX] [--keys FILE] [--plot P] [--from T1] [--to T2] "
     "[--report FILE.html] [--witness-key KEY|FILE] [--witness-tolerance SECONDS]",
     "check an evidence bundle offline (no server, no config): signatures, links, nothing\n"
     "missing or added, every device of the plot present, seals covering the period; print a\n"
     "summary. The key must be one you trust (--pubkey, --keys). With --report, also write\n"
     "the same as one self-contained HTML file people read (Chinese, or English with\n"
     "--lang en), and with --pdf print it through headless Chromium. Exit 0: VERIFIED;\n"
     "1: NOT VERIFIED (the problems are listed); 2: the bundle or a key could not be read;\n"
     "3: every check passed, but no trusted key was given; 4: VERIFIED, but the report or\n"
     "its PDF could not be written\n",
     verify_flags, "BUNDLE", offsetof(command_options, verify.bundle_path), cmd_verify},
    {"status", "[[-c] FILE] [--url URL]",
     "show what the running gateway is doing, from its HTTP API: buses, devices (last value,\n"
     "age, failures), sinks and their backlog, the journal. Exit 1 when no gateway answers\n",
     status_flags, "FILE", offsetof(command_options, status.config_path), cmd_status},
    {"profiles", "[NAME] [-c FILE]",
     "list the sensor profiles (shipped, and the config's site profiles): model, factory link\n"
     "settings, fields with units; with NAME its registers and how to re-address it\n",
     profiles_flags, "NAME", offsetof(command_options, profiles.name), cmd_profiles},
    {"read",
     "-c FILE DEVICE | (--tcp HOST:PORT | --serial DEV [--baud N] [--parity P]) "
     "--unit N --profile NAME [--raw]",
     "read one device once and print its fields with units and quality (--raw: also the\n"
     "registers and the frames in hex); exit 1 if it did not answer completely. A device\n"
     "of a running gateway: its last reading, from the gateway's HTTP API (no --raw)\n",
     read_flags, "DEVICE", offsetof(command_options, read.device), cmd_read},
    {"scan", "(--tcp HOST:PORT | --serial DEV [--baud N,...] [--parity P,...]) [--units A-B]",
     "find the devices of a line: try each baud rate and parity (default: all common ones)\n"
     "and each unit id; list those that answer with the profiles that read plausible values\n"
     "from them, and the unit ids where several devices answer at once. Ctrl-C stops it\n"
     "and prints what was found so far\n",
     scan_flags, NULL, 0, cmd_scan},
    {"set-address",
     "(--tcp HOST:PORT | --serial DEV [--baud N] [--parity P]) [--unit N] --profile NAME "
     "--new-unit N [--new-baud N]",
     "give a device a new unit id (and baud rate) through the registers its profile names,\n"
     "then read it back at its new settings; refused when several devices answer at its\n"
     "unit id now, or one answers at the new one already\n",
     set_address_flags, NULL, 0, cmd_set_address},
    {"passwd", "",
     "read a password for the HTTP API (dashboard, API, metrics) from stdin, without echo on\n"
     "a terminal, and print the line to put in the config's http: section: its hash\n"
     "(libsodium Argon2id), never the password\n",
     no_flags, NULL, 0, cmd_passwd},
    {"archive", "-c FILE [--check]",
     "the central archive (docs/ARCHIVE.md): receive the gateways' evidence uplink from an\n"
     "MQTT 5 broker (persistent session, shared subscription) and store every record in\n"
     "PostgreSQL, once, acknowledged only after it is committed; until SIGINT or SIGTERM.\n"
     "Exit 3 when a record could not be committed (it was not acknowledged)\n",
     archive_flags, "FILE", offsetof(command_options, archive.config_path), cmd_archive},
    {"version", "", "print the version\n", no_flags, NULL, 0, cmd_version},
    {"help", "[COMMAND]", "the list of commands, or the help of COMMAND\n", no_flags, "COMMAND",
     offsetof(command_options, help.command), cmd_help},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void report_unknown_command(const char *name)
{
    fprintf(stderr, "selgw: unknown command '%s'; the commands are", name);
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(stderr, "%s %s", i ? "," : "", commands[i].name);
    fprintf(stderr, " (selgw --help)\n");
}

/* ---- help texts ------------------------------------------------------------------------ */

/* "-c, --config FILE" in help texts (between ", "), "-c/--config FILE" in messages ("/");
 * a flag without a letter is indented in help texts so the long names line up. */
static void spell_flag(const flag *f, const char *between, bool align, char *buf, size_t cap)
{
    char letter[8] = "";
    if (f->letter)
        snprintf(letter, sizeof letter, "-%c%s", f->letter, between);
    else if (align)
        snprintf(letter, sizeof letter, "    ");
    snprintf(buf, cap, "%s--%s%s%s", letter, f->name, f->value_name ? " " : "",
             f->value_name ? f->value_name : "");
}

/* The width the spellings are padded to: the longest of flags and the global flags. */
static int flag_column(const flag *flags)
{
    const flag *lists[2] = {flags, global_flags};
    size_t width = 0;
    for (int l = 0; l < 2; l++)
        for (const flag *f = lists[l]; f->name; f++) {
            char spelled[64];
            spell_flag(f, ", ", true, spelled, sizeof spelled);
            if (strlen(spelled) > width)
                width = strlen(spelled);
        }
    return (int)width;
}

static void print_flags(FILE *out, const char *title, const flag *flags, int width)
{
    if (!flags->name)
        return;
    fprintf(out, "%s\n", title);
    for (const flag *f = flags; f->name; f++) {
        char spelled[64];
        spell_flag(f, ", ", true, spelled, sizeof spelled);
        fprintf(out, "  %-*s  %s\n", width, spelled, f->help);
    }
}

static void print_indented(FILE *out, const char *text, int indent)
{
    while (*text) {
        size_t line = strcspn(text, "\n");
        fprintf(out, "%*s%.*s\n", indent, "", (int)line, text);
        text += line + (text[line] == '\n');
    }
}

static void print_usage(FILE *out)
{
    fputs("usage: selgw [-v | -q | -h] COMMAND [FLAGS] [ARGUMENT]\n\ncommands:\n", out);
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        fprintf(out, "  %s%s%s\n", commands[i].name, commands[i].synopsis[0] ? " " : "",
                commands[i].synopsis);
        print_indented(out, commands[i].about, 8);
    }
    fputc('\n', out);
    print_flags(out, "global flags, before or after the command:", global_flags,
                flag_column(no_flags));
    fputs("\nselgw COMMAND --help lists the flags of COMMAND.\n", out);
}

static void print_command_help(FILE *out, const command *cmd)
{
    fprintf(out, "usage: selgw %s%s%s\n\n", cmd->name, cmd->synopsis[0] ? " " : "", cmd->synopsis);
    print_indented(out, cmd->about, 0);
    fputc('\n', out);
    int width = flag_column(cmd->flags);
    print_flags(out, "flags:", cmd->flags, width);
    if (cmd->flags->name)
        fputc('\n', out);
    char title[64];
    snprintf(title, sizeof title, "global flags, before or after %s:", cmd->name);
    print_flags(out, title, global_flags, width);
    for (const flag *f = cmd->flags; f->name; f++)
        if (f->kind == FLAG_TIME) {
            fprintf(out, "\n%s", "times: " SELGW_TIME_FORMS "\n");
            break;
        }
}

/* "--pubkey ed25519:HEX, --keys FILE and the global flags -v, -q, -h, --log-level LEVEL": what a
 * command takes, for the message that refuses a flag. */
static void print_what_it_takes(const command *cmd)
{
    if (cmd)
        fprintf(stderr, "selgw %s takes ", cmd->name);
    else
        fprintf(stderr, "before the command, selgw takes ");
    if (cmd && cmd->flags->name) {
        for (const flag *f = cmd->flags; f->name; f++) {
            char spelled[64];
            spell_flag(f, "/", false, spelled, sizeof spelled);
            fprintf(stderr, "%s, ", spelled);
        }
        fprintf(stderr, "and ");
    } else {
        fprintf(stderr, "only ");
    }
    fprintf(stderr, "the global flags");
    for (const flag *f = global_flags; f->name; f++) {
        char spelled[64];
        if (f->letter)
            snprintf(spelled, sizeof spelled, "-%c", f->letter);
        else
            spell_flag(f, "/", false, spelled, sizeof spelled);
        fprintf(stderr, "%s %s", f == global_flags ? "" : ",", spelled);
    }
    fprintf(stderr, " (selgw %s%s--help)\n", cmd ? cmd->name : "", cmd ? " " : "");
}

/* ---- the parser: getopt_long, fed from the tables -------------------------------------- */

#define MAX_FLAGS 32 /* a command's own flags and the global ones (checked in read_args) */

static bool flag_is_spelled(const flag *f, const char *spelled)
{
    if (spelled[1] == '-')
        return !strcmp(f->name, spelled + 2);
    return f->letter == spelled[1] && !spelled[2];
}

/* " a, b and c" on stderr, each item after prefix. */
static void print_list(const char *const *items, size_t count, const char *prefix)
{
    for (size_t i = 0; i < count; i++)
        fprintf(stderr, "%s %s%s", i == 0 ? "" : i + 1 == count ? " and" : ",", prefix, items[i]);
}

/* A flag cmd does not take (cmd NULL: one before the command). The message names it, the
 * commands it is a flag of (if any), and what cmd takes instead. getopt_long answers an
 * unknown flag and an ambiguous abbreviation alike, so the names it begins are looked up. */
static void refuse_flag(const command *cmd, const char *spelled, const struct option *longopts)
{
    const char *owners[COMMAND_COUNT], *begun[MAX_FLAGS];
    size_t owner_count = 0, begun_count = 0;
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        for (const flag *f = commands[i].flags; f->name; f++)
            if (flag_is_spelled(f, spelled)) {
                owners[owner_count++] = commands[i].name;
                break;
            }
    for (const struct option *o = longopts; spelled[1] == '-' && o->name; o++)
        if (!strncmp(o->name, spelled + 2, strlen(spelled + 2)))
            begun[begun_count++] = o->name;
    fprintf(stderr, "selgw%s%s: ", cmd ? " " : "", cmd ? cmd->name : "");
    if (begun_count > 1) {
        fprintf(stderr, "%s is ambiguous: it is the beginning of", spelled);
        print_list(begun, begun_count, "--");
        fputc('\n', stderr);
    } else if (!owner_count) {
        fprintf(stderr, "unknown flag %s\n", spelled);
    } else {
        if (cmd)
            fprintf(stderr, "%s does not apply to %s: it is a flag of", spelled, cmd->name);
        else
            fprintf(stderr, "%s is not a global flag: it is a flag of", spelled);
        print_list(owners, owner_count, "");
        fprintf(stderr, "%s\n", cmd ? "" : " (give it after the command)");
    }
    print_what_it_takes(cmd);
}

static bool takes_value(const flag *f)
{
    return f->kind == FLAG_TEXT || f->kind == FLAG_LIST || f->kind == FLAG_TIME ||
           f->kind == FLAG_LEVEL;
}

static bool apply_flag(const command *cmd, const flag *f, const char *spelled, const char *value,
                       command_options *opt, bool *help)
{
    char *field = (char *)opt + f->offset;
    switch (f->kind) {
    case FLAG_TEXT:
        /* given twice (-c a -c b, or FILE and then -c): which one was meant is a guess */
        if (*(const char **)field) {
            fprintf(stderr, "selgw %s: %s %s: given already as '%s'\n", cmd ? cmd->name : "",
                    spelled, value, *(const char **)field);
            return false;
        }
        *(const char **)field = value;
        return true;
    case FLAG_LIST: {
        list_flag *l = (list_flag *)field;
        if (l->count == LIST_FLAG_MAX) {
            fprintf(stderr, "selgw %s: %s: at most %d of them\n", cmd ? cmd->name : "", spelled,
                    LIST_FLAG_MAX);
            return false;
        }
        l->items[l->count++] = value;
        return true;
    }
    case FLAG_TIME: {
        time_flag *t = (time_flag *)field;
        char why[256];
        if (!selgw_parse_cli_time(value, 0, &t->ns, &t->zoned, why, sizeof why)) {
            fprintf(stderr, "selgw %s: %s: %s\n", cmd->name, spelled, why);
            return false;
        }
        t->given = true;
        t->text = value;
        return true;
    }
    case FLAG_TRUE:
        *(bool *)field = true;
        return true;
    case FLAG_SET:
        *(int *)field = f->value;
        return true;
    case FLAG_LOG:
        selgw_log_set_level((selgw_log_level)f->value);
        return true;
    case FLAG_LEVEL: {
        selgw_log_level level;
        if (!selgw_log_level_parse(value, &level)) {
            fprintf(stderr, "selgw%s%s: %s: '%s' is not a log level: it is %s\n", cmd ? " " : "",
                    cmd ? cmd->name : "", spelled, value, SELGW_LOG_LEVEL_NAMES);
            return false;
        }
        selgw_log_set_level(level);
        return true;
    }
    case FLAG_HELP:
        *help = true;
        return true;
    }
    return false;
}

/* cmd's operand, or, when it is already there (from a flag too), the first argument too many. */
static void take_operand(const command *cmd, command_options *opt, const char *arg,
                         const char **extra)
{
    const char **field = (const char **)((char *)opt + cmd->operand_offset);
    if (cmd->operand && !*field)
        *field = arg;
    else if (!*extra)
        *extra = arg;
}

/* Reads argv (argv[0], the program's or the command's name, is skipped) into opt with
 * getopt_long: cmd's flags and the global ones, and cmd's operand, wherever they stand. With
 * cmd NULL (before the command) only global flags, up to the command's name: optind is left
 * at it, or at argc if there is none. False, with the reason on stderr, on anything cmd does
 * not take. -h stops the reading (the help is all that will be done). */
static bool read_args(const command *cmd, int argc, char **argv, command_options *opt, bool *help)
{
    /* getopt_long answers a flag with a letter with that letter, given as -x or --name, and
     * one without with 256 + its index. "+" stops at the command's name; "-" hands operands
     * back in order among the flags, even under POSIXLY_CORRECT; ":" answers a missing value
     * with ':'. */
    const flag *lists[2] = {cmd ? cmd->flags : no_flags, global_flags}, *all[MAX_FLAGS];
    size_t count = 0;
    for (int l = 0; l < 2; l++)
        for (const flag *f = lists[l]; f->name; f++)
            count++;
    if (count > MAX_FLAGS) { /* a table grew past the arrays: never drop a flag silently */
        fprintf(stderr, "selgw: internal error: %s has %zu flags, more than MAX_FLAGS (%d)\n",
                cmd ? cmd->name : "selgw", count, MAX_FLAGS);
        abort();
    }
    struct option longopts[MAX_FLAGS + 1] = {{0}};
    char optstring[3 + 2 * MAX_FLAGS] = {cmd ? '-' : '+', ':'};
    size_t n = 0, used = 2;
    for (int l = 0; l < 2; l++)
        for (const flag *f = lists[l]; f->name; f++, n++) {
            all[n] = f;
            longopts[n] = (struct option){f->name, takes_value(f) ? required_argument : no_argument,
                                          NULL, f->letter ? f->letter : 256 + (int)n};
            if (f->letter) /* x, or x: for one that takes a value */
                used +=
                    (size_t)sprintf(optstring + used, "%c%s", f->letter, takes_value(f) ? ":" : "");
        }
    const char *extra = NULL;
    opterr = 0; /* the refusals below say more than getopt_long's messages */
    optind = 0; /* start over (glibc), reading optstring's "+" or "-" again */
    for (int c, at = 1; (at = optind ? optind : 1, c = getopt_long(argc, argv, optstring, longopts,
                                                                 NULL)) != -1;) {
        if (c == 1) {
            take_operand(cmd, opt, optarg, &extra);
            continue;
        }
        /* getopt_long takes an unambiguous abbreviation (--unit for --units): a flag is
         * spelled whole, or it is refused like any flag the command does not take. (A long
         * flag is never in a cluster of letters, so argv[at] is the one it was read from.) */
        const char *word = at < argc ? argv[at] : "";
        if (c != '?' && c != ':' && word[0] == '-' && word[1] == '-' && word[2]) {
            size_t len = strcspn(word + 2, "=");
            const char *name = NULL;
            for (size_t i = 0; i < n; i++)
                if (longopts[i].val == c)
                    name = longopts[i].name;
            if (name && (strlen(name) != len || strncmp(name, word + 2, len))) {
                char spelled[64];
                snprintf(spelled, sizeof spelled, "%.*s", (int)(len + 2), word);
                refuse_flag(cmd, spelled, longopts);
                return false;
            }
        }
        /* On '?', optopt is an unknown letter, 0 for an unknown or ambiguous --name (typed),
         * or the flag given a value it does not take (--name=V); on ':', the flag. */
        const flag *f = NULL;
        for (size_t i = 0; i < n; i++)
            if (longopts[i].val == (c == '?' || c == ':' ? optopt : c))
                f = all[i];
        const char *typed = argv[optind - 1];
        char spelled[64] = {'-', (char)optopt}; /* a letter unknown or missing its value */
        if (f && (c != ':' || typed[1] == '-'))
            snprintf(spelled, sizeof spelled, "--%s", f->name);
        else if (!f && !optopt)
            snprintf(spelled, sizeof spelled, "%.*s", (int)strcspn(typed, "="), typed);
        if (!f) {
            refuse_flag(cmd, spelled, longopts);
            return false;
        }
        if (c == '?' || c == ':') {
            fprintf(stderr, "selgw%s%s: %s %s\n", cmd ? " " : "", cmd ? cmd->name : "", spelled,
                    c == ':' ? "needs a value" : "takes no value");
            return false;
        }
        if (!apply_flag(cmd, f, spelled, optarg, opt, help))
            return false;
        if (*help && cmd)
            return true;
    }
    for (; cmd && optind < argc; optind++) /* the operands after "--" */
        take_operand(cmd, opt, argv[optind], &extra);
    if (extra) {
        fprintf(stderr, "selgw %s: unexpected argument '%s'\n", cmd->name, extra);
        print_what_it_takes(cmd);
        return false;
    }
    return true;
}

static int cmd_version(const command_options *options)
{
    (void)options;
    printf("selgw %s\n", SELGW_VERSION);
    return 0;
}

static int cmd_help(const command_options *options)
{
    const char *name = options->help.command;
    if (!name) {
        print_usage(stdout);
        return 0;
    }
    const command *cmd = find_command(name);
    if (!cmd) {
        report_unknown_command(name);
        return EXIT_CONFIG;
    }
    print_command_help(stdout, cmd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--version"))
        return cmd_version(NULL);
    command_options opt;
    memset(&opt, 0, sizeof opt);
    bool help = false;
    if (!read_args(NULL, argc, argv, &opt, &help))
        return EXIT_CONFIG;
    int at = optind;  /* the command's name */
    if (at == argc) { /* no command */
        print_usage(help ? stdout : stderr);
        return help ? 0 : EXIT_CONFIG;
    }
    const command *cmd = find_command(argv[at]);
    if (!cmd) {
        report_unknown_command(argv[at]);
        return EXIT_CONFIG;
    }
    if (!help && !read_args(cmd, argc - at, argv + at, &opt, &help))
        return EXIT_CONFIG;
    if (help) {
        print_command_help(stdout, cmd);
        return 0;
    }
    return cmd->run(&opt);
}
