/* selgw: the gateway's command line.
 *
 *   selgw check FILE      validate a config and print a summary
 *   selgw run [FILE]      poll the devices into the journal; the sinks deliver from it
 *   selgw journal [FILE]  what the journal holds; --dump prints its records
 *
 * Without FILE, run and journal use the demo config compiled into the binary
 * (config/demo.yaml). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "config.h"
#include "evidence/evidence.h"
#include "evidence/provenance.h"
#include "evidence/keys.h"
#include "gateway.h"
#include "journal/journal.h"
#include "sinks/lineproto.h"
#include "base/log.h"
#include "sinks/sink.h"
#include "sensors/plan.h"
#include "journal/record.h"

#define EXIT_CONFIG 2

static const char usage_text[] =
    "usage: selgw COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  check [-c] FILE [--plan]\n"
    "        validate FILE and print a summary, or every error as FILE:LINE:COLUMN: message\n"
    "        (exit 2); --plan also lists the Modbus reads of every device\n"
    "  run [[-c] FILE] [--once] [--print | --no-print]\n"
    "        poll every device into the journal and deliver to the configured sinks, until\n"
    "        SIGINT or SIGTERM; without FILE the built-in demo config (config/demo.yaml).\n"
    "        --print writes every journaled record as a JSON line on stdout (the default\n"
    "        when no sink is configured). --once polls every device once, journals the\n"
    "        readings and exits 0 if all answered, 1 if not. SIGHUP reloads FILE (an\n"
    "        invalid file is reported and the running config kept)\n"
    "  journal [[-c] FILE] [--dump [--format json|lp] [--from TIME] [--to TIME]]\n"
    "        list the journal's segments, sequence ranges, sink cursors and backlog;\n"
    "        --dump prints its records as JSON lines (or the readings as InfluxDB line\n"
    "        protocol with --format lp, as the InfluxDB sink sends them), optionally only\n"
    "        those from TIME (inclusive) to TIME (exclusive), e.g. 2026-05-01 or\n"
    "        2026-05-01T06:00:00Z (UTC)\n"
    "  keygen FILE\n"
    "        create the gateway's Ed25519 key pair: the secret key in FILE (mode 0600), the\n"
    "        public key printed for the enterprise and its auditor\n"
    "  annotate [[-c] FILE] --plot P --text TEXT [--ref REPORT]\n"
    "        record a lab result or note for plot P (e.g. a soil selenium analysis with its\n"
    "        lab report number); the gateway chains and seals it with the readings\n"
    "  export [[-c] FILE] --plot P --from T1 --to T2 -o BUNDLE\n"
    "        write the evidence of plot P over [T1, T2): its devices' records, annotations,\n"
    "        tag history, the seals that cover the period and the public key\n"
    "  verify BUNDLE [--pubkey ed25519:HEX] [--keys FILE] [--plot P] [--from T1] [--to T2]\n"
    "        check an evidence bundle offline (no server, no config): signatures, links,\n"
    "        nothing missing or added, every device of the plot present, seals covering\n"
    "        the period; print a summary. The key must be one you trust: given with\n"
    "        --pubkey, or listed in FILE (registered keys, one a line). --plot, --from and\n"
    "        --to: what you asked for; a bundle of another plot or a shorter period is\n"
    "        NOT VERIFIED. Exit 0: VERIFIED;\n"
    "        1: NOT VERIFIED (the problems are listed); 2: the bundle or a key could not\n"
    "        be read; 3: every check passed, but no trusted key was given\n"
    "  pubkey KEYFILE\n"
    "        print the public key of a secret key file (and its fingerprint on stderr)\n"
    "  version\n"
    "        print the version\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file\n"
    "  -v, --verbose       log debugging detail on stderr\n"
    "  -q, --quiet         log only errors on stderr\n"
    "  -h, --help          this text\n";

typedef struct options {
    const char *config_path;
    bool once;
    bool plan;
    int print; /* -1 default, 0 --no-print, 1 --print */
    bool dump;
    const char *format; /* --dump: "json" (default) or "lp" */
    const char *from, *to;
    const char *plot, *output, *pubkey, *keys, *text, *ref;
} options;

static int parse_options(int argc, char **argv, options *opt)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"once", no_argument, NULL, 1000},
        {"plan", no_argument, NULL, 'p'},         {"print", no_argument, NULL, 'P'},
        {"no-print", no_argument, NULL, 'N'},     {"dump", no_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'}, {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},     {"plot", required_argument, NULL, 'L'},
        {"output", required_argument, NULL, 'O'}, {"pubkey", required_argument, NULL, 'K'},
        {"text", required_argument, NULL, 'X'},   {"ref", required_argument, NULL, 'R'},
        {"keys", required_argument, NULL, 'Y'},
        {"verbose", no_argument, NULL, 'v'},      {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:o:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt->config_path = optarg;
            break;
        case 'o':
            opt->output = optarg;
            break;
        case 1000:
            opt->once = true;
            break;
        case 'p':
            opt->plan = true;
            break;
        case 'P':
            opt->print = 1;
            break;
        case 'N':
            opt->print = 0;
            break;
        case 'd':
            opt->dump = true;
            break;
        case 'f':
            opt->format = optarg;
            break;
        case 'F':
            opt->from = optarg;
            break;
        case 'T':
            opt->to = optarg;
            break;
        case 'L':
            opt->plot = optarg;
            break;
        case 'O':
            opt->output = optarg;
            break;
        case 'K':
            opt->pubkey = optarg;
            break;
        case 'X':
            opt->text = optarg;
            break;
        case 'Y':
            opt->keys = optarg;
            break;
        case 'R':
            opt->ref = optarg;
            break;
        case 'v':
            selgw_log_set_level(SELGW_LOG_DEBUG);
            break;
        case 'q':
            selgw_log_set_level(SELGW_LOG_ERROR);
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(0);
        default:
            fputs(usage_text, stderr);
            return -1;
        }
    }
    /* `selgw check FILE` reads as naturally as `selgw check -c FILE`. */
    if (optind == argc - 1 && !opt->config_path)
        opt->config_path = argv[optind++];
    if (optind != argc) {
        fprintf(stderr, "selgw: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

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
        fprintf(stderr, "selgw: %s: %s", path ? path : "built-in demo config", selgw_strerror(err));
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

static int cmd_check(const options *opt)
{
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

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
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

static int cmd_run(const options *opt)
{
    selgw_config *cfg = load_config(opt->config_path);
    if (!cfg)
        return EXIT_CONFIG;
    /* A reader that goes away (selgw run | head) must not kill the gateway silently. */
    signal(SIGPIPE, SIG_IGN);
    const char *sink_names[SELGW_SINK_KINDS_MAX];
    bool has_sinks = selgw_sink_names(cfg, sink_names) > 0;
    selgw_gateway_options gopt = {
        .print_readings = opt->print == 1 || (opt->print == -1 && !has_sinks),
        .start_sinks = !opt->once,
        .on_failure = on_gateway_failure,
    };

    /* Signals are blocked in every thread but this one (threads inherit the mask), which
     * waits for them in sigsuspend; the handler only records which signal came. */
    sigset_t handled, old_set;
    sigemptyset(&handled);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &handled, &old_set);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

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
        sigset_t wait_set = old_set;
        sigdelset(&wait_set, SIGINT);
        sigdelset(&wait_set, SIGTERM);
        sigdelset(&wait_set, SIGHUP);
        while (!stop_signal) {
            sigsuspend(&wait_set);
            if (reload_requested && !stop_signal) {
                reload_requested = 0;
                if (!opt->config_path) {
                    selgw_log(SELGW_LOG_INFO, "reload: the built-in demo config has no file");
                    continue;
                }
                selgw_log(SELGW_LOG_INFO, "reload: reading %s", opt->config_path);
                selgw_config *next = load_config(opt->config_path);
                if (!next)
                    selgw_log(SELGW_LOG_ERROR,
                              "reload: %s rejected, keeping the running "
                              "configuration",
                              opt->config_path);
                else
                    selgw_gateway_reload(g, next);
            }
        }
        selgw_log(SELGW_LOG_INFO, "%s received, stopping", strsignal(stop_signal));
        char why[64];
        snprintf(why, sizeof why, "stopped by %s", strsignal(stop_signal));
        selgw_gateway_stop(g, why);
        if (selgw_gateway_failed(g))
            status = 1;
    }
    if (g)
        selgw_gateway_log_totals(g);
    selgw_gateway_free(g);
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    return status;
}

/* Times on the command line: UTC unless they say their zone (clock.h). */
static bool parse_utc_time(const char *text, int64_t *out)
{
    return selgw_parse_time_arg(text, 0, out);
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

static int cmd_journal(const options *opt)
{
    int64_t from_ns = INT64_MIN, to_ns = INT64_MAX;
    bool lineproto = opt->format && !strcmp(opt->format, "lp");
    if (opt->format && !lineproto && strcmp(opt->format, "json")) {
        fprintf(stderr, "selgw journal: --format is json or lp\n");
        return EXIT_CONFIG;
    }
    if ((opt->from && !parse_utc_time(opt->from, &from_ns)) ||
        (opt->to && !parse_utc_time(opt->to, &to_ns))) {
        fprintf(stderr, "selgw journal: TIME is YYYY-MM-DD[THH:MM[:SS[.fraction]]] in UTC, or "
                        "with its zone (Z, +08:00)\n");
        return EXIT_CONFIG;
    }
    selgw_config *cfg = load_config_read_only(opt->config_path);
    if (!cfg)
        return EXIT_CONFIG;
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
        const char *measurement = cfg->influxdb.measurement ? cfg->influxdb.measurement : "reading";
        status = dump_journal(j, from_ns, to_ns, lineproto ? measurement : NULL);
    } else {
        selgw_journal_describe(j, stdout);
    }
    selgw_journal_close(j);
    selgw_config_free(cfg);
    return status;
}

static int cmd_keygen(const options *opt)
{
    if (!opt->config_path) { /* the positional argument: the secret key file to create */
        fprintf(stderr, "selgw keygen: give the secret key file to create, e.g. "
                        "selgw keygen /etc/selgw/gateway.key\n");
        return EXIT_CONFIG;
    }
    char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE], why[512] = "";
    selgw_err err = selgw_keygen(opt->config_path, public_text, why, sizeof why);
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
            opt->config_path, fp);
    printf("%s\n", public_text);
    return 0;
}

static int cmd_annotate(const options *opt)
{
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

static int cmd_export(const options *opt)
{
    int64_t from_ns, to_ns;
    if (!opt->plot || !opt->from || !opt->to || !opt->output) {
        fprintf(stderr, "selgw export: --plot P --from T1 --to T2 -o FILE are required\n");
        return EXIT_CONFIG;
    }
    if (!parse_utc_time(opt->from, &from_ns) || !parse_utc_time(opt->to, &to_ns) ||
        from_ns >= to_ns) {
        fprintf(stderr, "selgw export: TIME is YYYY-MM-DD[THH:MM[:SS[.fraction]]] in UTC, or "
                        "with its zone (Z, +08:00); from before to\n");
        return EXIT_CONFIG;
    }
    selgw_config *cfg = load_config_read_only(opt->config_path);
    if (!cfg)
        return EXIT_CONFIG;
    char why[512] = "";
    selgw_err err =
        selgw_evidence_export(cfg, opt->plot, from_ns, to_ns, opt->output, why, sizeof why);
    if (err != SELGW_OK)
        fprintf(stderr, "selgw export: %s\n", why[0] ? why : selgw_strerror(err));
    else
        fprintf(stderr, "selgw export: evidence for plot %s written to %s\n", opt->plot,
                opt->output);
    selgw_config_free(cfg);
    return err == SELGW_OK ? 0 : 1;
}

static int cmd_verify(const options *opt)
{
    if (!opt->config_path) { /* the positional argument: the bundle */
        fprintf(stderr, "selgw verify: give the evidence file: selgw verify FILE --pubkey KEY\n");
        return EXIT_CONFIG;
    }
    selgw_verify_options vopt = {.pubkey = opt->pubkey, .keys_file = opt->keys, .plot = opt->plot};
    vopt.has_from = opt->from != NULL;
    vopt.has_to = opt->to != NULL;
    if ((vopt.has_from && !parse_utc_time(opt->from, &vopt.from_ns)) ||
        (vopt.has_to && !parse_utc_time(opt->to, &vopt.to_ns))) {
        fprintf(stderr, "selgw verify: TIME is YYYY-MM-DD[THH:MM[:SS[.fraction]]] in UTC, or "
                        "with its zone (Z, +08:00)\n");
        return EXIT_CONFIG;
    }
    switch (selgw_evidence_verify(opt->config_path, &vopt, stdout)) {
    case SELGW_OK:
        return 0;
    case SELGW_ERR_CORRUPT:
        return 1;
    case SELGW_ERR_AUTH:
        return 3;
    default:
        return EXIT_CONFIG;
    }
}

static int cmd_pubkey(const options *opt)
{
    if (!opt->config_path) { /* the positional argument: the secret key file */
        fprintf(stderr, "selgw pubkey: give the secret key file: selgw pubkey KEYFILE\n");
        return EXIT_CONFIG;
    }
    selgw_signer *signer = NULL;
    char why[512] = "";
    selgw_err err = selgw_signer_load(opt->config_path, &signer, why, sizeof why);
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_CONFIG;
    }
    const char *command = argv[1];
    if (!strcmp(command, "version") || !strcmp(command, "--version")) {
        printf("selgw %s\n", SELGW_VERSION);
        return 0;
    }
    if (!strcmp(command, "help") || !strcmp(command, "--help") || !strcmp(command, "-h")) {
        fputs(usage_text, stdout);
        return 0;
    }
    options opt = {.print = -1};
    if (parse_options(argc - 1, argv + 1, &opt) != 0)
        return EXIT_CONFIG;
    if (!strcmp(command, "check"))
        return cmd_check(&opt);
    if (!strcmp(command, "run"))
        return cmd_run(&opt);
    if (!strcmp(command, "journal"))
        return cmd_journal(&opt);
    if (!strcmp(command, "keygen"))
        return cmd_keygen(&opt);
    if (!strcmp(command, "annotate"))
        return cmd_annotate(&opt);
    if (!strcmp(command, "export"))
        return cmd_export(&opt);
    if (!strcmp(command, "verify"))
        return cmd_verify(&opt);
    if (!strcmp(command, "pubkey"))
        return cmd_pubkey(&opt);
    fprintf(stderr, "selgw: unknown command '%s'\n%s", command, usage_text);
    return EXIT_CONFIG;
}
