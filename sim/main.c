/* selgw-sim: plays every Modbus device of a selgw configuration. See docs/SIMULATOR.md. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "config.h"
#include "base/diag.h"
#include "sim/sim.h"

#define EXIT_USAGE 2

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_hangup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: selgw-sim [-c CONFIG] [options]\n"
            "Plays every Modbus device of a selgw configuration (the built-in demo without -c):\n"
            "TCP buses listen on their host:port, RTU buses get a pty whose slave is linked at\n"
            "the bus's device path. Prints one 'bus ID KIND WHERE' line per bus, then 'ready'.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE        selgw configuration (YAML); default: the built-in demo\n"
            "      --bus ID             simulate only this bus (repeatable); default: all\n"
            "      --tcp ID=HOST:PORT   listen here for TCP bus ID (port 0: any free port)\n"
            "      --serial ID=PATH     serve RTU bus ID on an existing tty or pty (e.g. one\n"
            "                           end of a socat pty pair) instead of a pty of our own\n"
            "      --pty ID=LINKPATH    link our pty for RTU bus ID here instead of the bus's\n"
            "                           device path (an existing symlink is replaced, a file\n"
            "                           or device never)\n"
            "      --seed N             seed of the value model (default 1); same seed, same\n"
            "                           values\n"
            "      --time-scale X       simulated time runs X times faster (3600: a day in 24 s)\n"
            "      --start-time T       simulated time starts at T (default: now): UNIX\n"
            "                           seconds, or a time as selgw takes it:\n"
            "                           YYYY-MM-DD[THH:MM[:SS[.fraction]]] in UTC or with\n"
            "                           its zone (Z, +08:00)\n"
            "      --wire-timing        RTU buses answer with the timing of a real line at the\n"
            "                           bus's baud rate and framing\n"
            "      --device-at DEV=UNIT[@BAUD]  put device DEV at another unit id than its\n"
            "                           config's (several devices may share one: on RTU their\n"
            "                           answers collide into garbled frames), answering only\n"
            "                           frames sent at BAUD (RTU on our own pty only). A write\n"
            "                           to its profile's addressing registers moves it (at once,\n"
            "                           or at the next SIGHUP if its profile says power-cycle)\n"
            "      --fault DEV=KIND[:ARG]  inject a fault (repeatable). KIND: none, silent,\n"
            "                           exception[:CODE] (default 4), slow:MS, corrupt\n"
            "      --control FILE       runtime faults, 'DEVICE KIND[:ARG]' per line, '#'\n"
            "                           comments; re-read on SIGHUP, replacing the previous\n"
            "                           runtime faults (which take precedence over --fault)\n"
            "                           and scripted values: 'value DEV FIELD NUMBER' (the\n"
            "                           field reports NUMBER), 'freeze DEV [FIELD]' (the same\n"
            "                           value, bit for bit, while the line stays)\n"
            "      --scenario NAME      cold-night: air temperature 12 degC at 14:00 local\n"
            "                           time, -1 degC at 02:00, below 2 degC from ~22:10 to\n"
            "                           ~05:50 (a frost night for the alert rules)\n"
            "      --stats-file FILE    write per-device statistics as JSON at exit\n"
            "  -h, --help               this help\n"
            "\n"
            "SIGINT/SIGTERM stop it cleanly (pty links removed) and print per-device\n"
            "statistics on stderr. Exit status: 0 after a clean stop, 1 on a runtime\n"
            "failure (cannot listen or open a line), 2 on a bad command line or config.\n");
}

/* Splits "ID=VALUE" into a new setting appended to *list. */
static int add_setting(const char *option, const char *arg, selgw_sim_bus_setting **list,
                       size_t *count)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || eq[1] == '\0') {
        fprintf(stderr, "selgw-sim: %s %s: expected ID=VALUE\n", option, arg);
        return -1;
    }
    selgw_sim_bus_setting *grown = realloc(*list, (*count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    *list = grown;
    grown[*count].bus_id = strndup(arg, (size_t)(eq - arg));
    grown[*count].value = strdup(eq + 1);
    (*count)++;
    if (!grown[*count - 1].bus_id || !grown[*count - 1].value)
        return -1;
    return 0;
}

static int add_fault(const char *arg, selgw_sim_options *opts)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        fprintf(stderr, "selgw-sim: --fault %s: expected DEVICE=KIND[:ARG]\n", arg);
        return -1;
    }
    selgw_sim_fault fault;
    char why[160];
    if (selgw_sim_fault_parse(eq + 1, &fault, why, sizeof why) != SELGW_OK) {
        fprintf(stderr, "selgw-sim: --fault %s: %s\n", arg, why);
        return -1;
    }
    selgw_sim_device_fault *grown = realloc(opts->faults, (opts->fault_count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    opts->faults = grown;
    grown[opts->fault_count].device_id = strndup(arg, (size_t)(eq - arg));
    grown[opts->fault_count].fault = fault;
    opts->fault_count++;
    return grown[opts->fault_count - 1].device_id ? 0 : -1;
}

/* UNIX seconds, or a time as the gateway's command line takes it (UTC unless it says its
 * zone), so a test can start the simulation at the moment it will ask the gateway for. */
static int parse_start_time(const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (*arg && *end == '\0' && !errno && isfinite(v)) {
        *out = v;
        return 0;
    }
    int64_t ns;
    if (!selgw_parse_time_arg(arg, 0, &ns))
        return -1;
    *out = (double)ns / 1e9;
    return 0;
}

enum {
    OPT_BUS = 256,
    OPT_TCP,
    OPT_SERIAL,
    OPT_PTY,
    OPT_SEED,
    OPT_TIME_SCALE,
    OPT_START_TIME,
    OPT_WIRE_TIMING,
    OPT_FAULT,
    OPT_DEVICE_AT,
    OPT_CONTROL,
    OPT_STATS_FILE,
    OPT_SCENARIO,
};

/* Returns 0, or the exit status when the program must stop (help: -1 for exit 0). */
static int parse_args(int argc, char **argv, selgw_sim_options *opts, const char **config)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"bus", required_argument, NULL, OPT_BUS},
        {"tcp", required_argument, NULL, OPT_TCP},
        {"serial", required_argument, NULL, OPT_SERIAL},
        {"pty", required_argument, NULL, OPT_PTY},
        {"seed", required_argument, NULL, OPT_SEED},
        {"time-scale", required_argument, NULL, OPT_TIME_SCALE},
        {"start-time", required_argument, NULL, OPT_START_TIME},
        {"wire-timing", no_argument, NULL, OPT_WIRE_TIMING},
        {"fault", required_argument, NULL, OPT_FAULT},
        {"device-at", required_argument, NULL, OPT_DEVICE_AT},
        {"control", required_argument, NULL, OPT_CONTROL},
        {"stats-file", required_argument, NULL, OPT_STATS_FILE},
        {"scenario", required_argument, NULL, OPT_SCENARIO},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'c':
            *config = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case OPT_BUS: {
            char **grown = realloc(opts->bus_filter, (opts->bus_filter_count + 1) * sizeof *grown);
            if (!grown)
                return EXIT_FAILURE;
            opts->bus_filter = grown;
            if (!(grown[opts->bus_filter_count] = strdup(optarg)))
                return EXIT_FAILURE;
            opts->bus_filter_count++;
            break;
        }
        case OPT_TCP:
            if (add_setting("--tcp", optarg, &opts->tcp, &opts->tcp_count) != 0)
                return EXIT_USAGE;
            break;
        case OPT_SERIAL:
            if (add_setting("--serial", optarg, &opts->serial, &opts->serial_count) != 0)
                return EXIT_USAGE;
            break;
        case OPT_PTY:
            if (add_setting("--pty", optarg, &opts->pty, &opts->pty_count) != 0)
                return EXIT_USAGE;
            break;
        case OPT_SEED:
            errno = 0;
            opts->seed = strtoull(optarg, &end, 0);
            if (!*optarg || *end || errno || optarg[0] == '-') {
                fprintf(stderr, "selgw-sim: --seed %s: expected a non-negative integer\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_TIME_SCALE:
            errno = 0;
            opts->time_scale = strtod(optarg, &end);
            if (!*optarg || *end || errno || !(opts->time_scale > 0) ||
                !isfinite(opts->time_scale)) {
                fprintf(stderr, "selgw-sim: --time-scale %s: expected a positive number\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_START_TIME:
            if (parse_start_time(optarg, &opts->start_time_s) != 0) {
                fprintf(stderr,
                        "selgw-sim: --start-time %s: expected UNIX seconds or "
                        "YYYY-MM-DD[THH:MM[:SS[.fraction]]] in UTC or with its zone\n",
                        optarg);
                return EXIT_USAGE;
            }
            opts->has_start_time = true;
            break;
        case OPT_WIRE_TIMING:
            opts->wire_timing = true;
            break;
        case OPT_DEVICE_AT:
            if (add_setting("--device-at", optarg, &opts->device_at, &opts->device_at_count) != 0)
                return EXIT_USAGE;
            break;
        case OPT_FAULT:
            if (add_fault(optarg, opts) != 0)
                return EXIT_USAGE;
            break;
        case OPT_CONTROL:
            free(opts->control_file);
            if (!(opts->control_file = strdup(optarg)))
                return EXIT_FAILURE;
            break;
        case OPT_SCENARIO:
            if (selgw_sim_scenario_parse(optarg, &opts->scenario) != SELGW_OK) {
                fprintf(stderr, "selgw-sim: --scenario %s: expected cold-night or none\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_STATS_FILE:
            free(opts->stats_file);
            if (!(opts->stats_file = strdup(optarg)))
                return EXIT_FAILURE;
            break;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "selgw-sim: unexpected argument '%s' (see --help)\n", argv[optind]);
        return EXIT_USAGE;
    }
    return 0;
}

int main(int argc, char **argv)
{
    selgw_sim_options opts;
    selgw_sim_options_init(&opts);
    const char *config_path = NULL;
    int status = parse_args(argc, argv, &opts, &config_path);
    if (status != 0) {
        selgw_sim_options_clear(&opts);
        return status < 0 ? EXIT_SUCCESS : status;
    }

    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = NULL;
    selgw_err e = SELGW_ERR_NOMEM;
    if (diag)
        e = config_path ? selgw_config_load_file(config_path, diag, &cfg)
                        : selgw_config_load_builtin_demo(diag, &cfg);
    if (e != SELGW_OK) {
        if (diag && selgw_diag_count(diag))
            selgw_diag_print(diag, stderr);
        else
            fprintf(stderr, "selgw-sim: %s: %s\n", config_path ? config_path : "built-in demo",
                    selgw_strerror(e));
        selgw_diag_free(diag);
        selgw_sim_options_clear(&opts);
        return EXIT_USAGE;
    }
    selgw_diag_free(diag);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hangup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    selgw_sim *sim = NULL;
    e = selgw_sim_new(cfg, &opts, stderr, &sim);
    if (e != SELGW_OK) {
        selgw_config_free(cfg);
        selgw_sim_options_clear(&opts);
        return e == SELGW_ERR_INVALID ? EXIT_USAGE : EXIT_FAILURE;
    }
    selgw_sim_print_buses(sim, stdout);

    status = EXIT_SUCCESS;
    if (selgw_sim_run(sim, &stop_requested, &reload_requested) != SELGW_OK)
        status = EXIT_FAILURE;
    selgw_sim_print_stats(sim, stderr);
    if (selgw_sim_write_stats_file(sim) != SELGW_OK)
        status = EXIT_FAILURE;
    selgw_sim_free(sim);
    selgw_config_free(cfg);
    selgw_sim_options_clear(&opts);
    return status;
}
