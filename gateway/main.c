/* selgw: the gateway's command line.
 *
 *   selgw check -c FILE         validate a config and print a summary
 *   selgw run [-c FILE] [--once] poll the devices and print readings as JSON lines
 *
 * Without -c, run uses the demo config compiled into the binary (config/demo.yaml). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "plan.h"
#include "log.h"
#include "poller.h"
#include "reading.h"
#include "transport.h"

#define EXIT_CONFIG 2

static const char usage_text[] =
    "usage: selgw COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  check [-c] FILE [--plan]\n"
    "        validate FILE and print a summary, or every error as FILE:LINE:COLUMN: message\n"
    "        (exit 2); --plan also lists the Modbus reads of every device\n"
    "  run [[-c] FILE] [--once]\n"
    "        poll every device and print readings as JSON lines on stdout, until SIGINT or\n"
    "        SIGTERM; without FILE the built-in demo config (config/demo.yaml); --once polls\n"
    "        every device once and exits 0 if all answered, 1 if not; SIGHUP reloads FILE\n"
    "        (an invalid file is reported and the running config kept)\n"
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
} options;

static int parse_options(int argc, char **argv, options *opt)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"once", no_argument, NULL, 'o'},
        {"plan", no_argument, NULL, 'p'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt->config_path = optarg;
            break;
        case 'o':
            opt->once = true;
            break;
        case 'p':
            opt->plan = true;
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

static selgw_config *load_config(const char *path)
{
    selgw_diag *diag = selgw_diag_new();
    if (!diag) {
        fprintf(stderr, "selgw: out of memory\n");
        return NULL;
    }
    selgw_config *cfg = NULL;
    selgw_err err = path ? selgw_config_load_file(path, diag, &cfg)
                         : selgw_config_load_builtin_demo(diag, &cfg);
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

/* Readings go to stdout as JSON lines until the journal takes them. Pollers call this from
 * their threads; one lock keeps lines whole. */
typedef struct stdout_sink {
    pthread_mutex_t lock;
    char *buf;
    size_t cap;
    bool failed;
} stdout_sink;

static void emit_to_stdout(void *ctx, const selgw_reading *reading)
{
    stdout_sink *sink = ctx;
    pthread_mutex_lock(&sink->lock);
    size_t need = selgw_reading_json(reading, sink->buf, sink->cap);
    if (need + 2 > sink->cap) {
        char *grown = realloc(sink->buf, need + 2);
        if (grown) {
            sink->buf = grown;
            sink->cap = need + 2;
            selgw_reading_json(reading, sink->buf, sink->cap);
        }
    }
    if (need + 2 <= sink->cap) {
        sink->buf[need] = '\n';
        if (fwrite(sink->buf, 1, need + 1, stdout) != need + 1 || fflush(stdout) != 0) {
            if (!sink->failed)
                selgw_log(SELGW_LOG_ERROR, "cannot write readings to stdout: %s", strerror(errno));
            sink->failed = true;
        }
    } else if (!sink->failed) {
        selgw_log(SELGW_LOG_ERROR, "out of memory encoding a reading of %s", reading->device->id);
        sink->failed = true;
    }
    pthread_mutex_unlock(&sink->lock);
}

/* The pollers of one config, one per bus. */
typedef struct fleet {
    selgw_config *cfg;
    selgw_poller **pollers;
} fleet;

typedef struct run_totals {
    uint64_t polls, failed, late;
} run_totals;

static selgw_err fleet_create(selgw_config *cfg, stdout_sink *sink, fleet *f)
{
    f->cfg = cfg;
    f->pollers = calloc(cfg->bus_count ? cfg->bus_count : 1, sizeof *f->pollers);
    if (!f->pollers)
        return SELGW_ERR_NOMEM;
    for (size_t i = 0; i < cfg->bus_count; i++) {
        selgw_transport *t = NULL;
        selgw_err err = selgw_transport_new(&cfg->buses[i], &t);
        if (err == SELGW_OK)
            err = selgw_poller_new(cfg, i, t, emit_to_stdout, sink, &f->pollers[i]);
        if (err != SELGW_OK) {
            selgw_log(SELGW_LOG_ERROR, "bus %s: %s", cfg->buses[i].id, selgw_strerror(err));
            return err;
        }
    }
    return SELGW_OK;
}

/* Stops and frees the pollers (not the config), adding their counts to totals. */
static void fleet_destroy(fleet *f, run_totals *totals)
{
    if (!f->pollers)
        return;
    for (size_t i = 0; i < f->cfg->bus_count; i++) {
        if (!f->pollers[i])
            continue;
        selgw_poller_stop(f->pollers[i]);
        selgw_poller_stats st;
        selgw_poller_get_stats(f->pollers[i], &st);
        totals->polls += st.polls;
        totals->failed += st.failed_polls;
        totals->late += st.late_polls;
        selgw_poller_free(f->pollers[i]);
    }
    free(f->pollers);
    f->pollers = NULL;
}

static selgw_err fleet_start(fleet *f)
{
    selgw_log(SELGW_LOG_INFO, "gateway %s: polling %zu devices on %zu buses (%s)",
              f->cfg->gateway_id, f->cfg->device_count, f->cfg->bus_count, f->cfg->path);
    for (size_t i = 0; i < f->cfg->bus_count; i++)
        if (selgw_poller_start(f->pollers[i]) != SELGW_OK) {
            selgw_log(SELGW_LOG_ERROR, "cannot start the poller of bus %s", f->cfg->buses[i].id);
            return SELGW_ERR_NOMEM;
        }
    return SELGW_OK;
}

/* SIGHUP: load the config file again. The running config stays until the new one is
 * valid in full; only then are the pollers of the old one stopped and new ones started. */
static void reload(const char *path, stdout_sink *sink, fleet *running, run_totals *totals)
{
    if (!path) {
        selgw_log(SELGW_LOG_INFO, "reload: running the built-in demo config, nothing to reload");
        return;
    }
    selgw_log(SELGW_LOG_INFO, "reload: reading %s", path);
    selgw_config *cfg = load_config(path);
    if (!cfg) {
        selgw_log(SELGW_LOG_ERROR, "reload: %s rejected, keeping the running configuration", path);
        return;
    }
    fleet next = {0};
    if (fleet_create(cfg, sink, &next) != SELGW_OK) {
        fleet_destroy(&next, totals);
        selgw_config_free(cfg);
        selgw_log(SELGW_LOG_ERROR, "reload: keeping the running configuration");
        return;
    }
    fleet_destroy(running, totals);
    selgw_config_free(running->cfg);
    *running = next;
    fleet_start(running);
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

static int run_once(fleet *f, stdout_sink *sink)
{
    size_t failed = 0;
    for (size_t i = 0; i < f->cfg->bus_count; i++)
        failed += selgw_poller_poll_once(f->pollers[i]);
    if (failed)
        selgw_log(SELGW_LOG_WARN, "%zu of %zu devices did not answer completely", failed,
                  f->cfg->device_count);
    return failed || sink->failed ? 1 : 0;
}

static int cmd_run(const options *opt)
{
    selgw_config *cfg = load_config(opt->config_path);
    if (!cfg)
        return EXIT_CONFIG;
    /* A reader that goes away (selgw run | head) must not kill the gateway silently. */
    signal(SIGPIPE, SIG_IGN);

    stdout_sink sink = {.cap = 4096};
    pthread_mutex_init(&sink.lock, NULL);
    sink.buf = malloc(sink.cap);
    fleet running = {0};
    run_totals totals = {0};
    int status = 1;
    if (!sink.buf || fleet_create(cfg, &sink, &running) != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "cannot set up the pollers");
        running.cfg = cfg;
        goto out;
    }
    if (opt->once) {
        status = run_once(&running, &sink);
        goto out;
    }

    /* Signals are blocked in every thread but this one, which waits for them in
     * sigsuspend; the handler only records which signal came. */
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

    status = 0;
    if (fleet_start(&running) != SELGW_OK) {
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
            reload(opt->config_path, &sink, &running, &totals);
        }
    }
    selgw_log(SELGW_LOG_INFO, "%s received, stopping", strsignal(stop_signal));
    fleet_destroy(&running, &totals);
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    selgw_log(SELGW_LOG_INFO, "stopped: %llu polls, %llu failed, %llu skipped (bus busy)",
              (unsigned long long)totals.polls, (unsigned long long)totals.failed,
              (unsigned long long)totals.late);

out:
    fleet_destroy(&running, &totals);
    free(sink.buf);
    pthread_mutex_destroy(&sink.lock);
    selgw_config_free(running.cfg);
    return status;
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
    options opt = {0};
    if (parse_options(argc - 1, argv + 1, &opt) != 0)
        return EXIT_CONFIG;
    if (!strcmp(command, "check"))
        return cmd_check(&opt);
    if (!strcmp(command, "run"))
        return cmd_run(&opt);
    fprintf(stderr, "selgw: unknown command '%s'\n%s", command, usage_text);
    return EXIT_CONFIG;
}
