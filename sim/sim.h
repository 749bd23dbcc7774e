/* selgw-sim: a simulator that plays every Modbus device of a selgw configuration, over TCP
 * and over serial lines (pty pairs or existing ttys), with values from the model (model.h)
 * and per-device fault injection. docs/SIMULATOR.md describes the program.
 *
 * Layers, each usable on its own (the unit tests use the first three):
 *  - Modbus framing helpers: CRC16 and the expected length of an RTU request.
 *  - Faults: parsing "KIND[:ARG]".
 *  - selgw_sim_device: one device's register space, answering request PDUs.
 *  - selgw_sim: the program, one poll() loop over all buses. */
#ifndef SELGW_SIM_H
#define SELGW_SIM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "base/error.h"
#include "sensors/profile.h"

/* ---- Modbus framing ---- */

/* Largest PDU (function code + data) Modbus allows. */
#define SELGW_SIM_MAX_PDU 253

/* Modbus exception codes the simulator sends. */
#define SELGW_SIM_EX_ILLEGAL_FUNCTION 0x01
#define SELGW_SIM_EX_ILLEGAL_ADDRESS 0x02
#define SELGW_SIM_EX_ILLEGAL_VALUE 0x03
#define SELGW_SIM_EX_DEVICE_FAILURE 0x04
#define SELGW_SIM_EX_GATEWAY_TARGET 0x0B

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF). On the wire the low byte comes first:
 * 01 03 00 00 00 01 has CRC 0x0A84, sent as 84 0A. */
uint16_t selgw_sim_crc16(const uint8_t *data, size_t len);

/* True if the last two bytes of an RTU frame are the CRC16 of the rest (low byte first). */
bool selgw_sim_rtu_crc_ok(const uint8_t *frame, size_t len);

/* The length of the complete RTU request frame (address + PDU + CRC) that starts buf, judged
 * from the function code: 8 for functions 1..6, 9 + byte count for 15 and 16.
 * Returns 0 when more bytes are needed to tell, -1 when the function is not one whose request
 * length is known (the frame then ends by 3.5 characters of silence). */
int selgw_sim_rtu_request_length(const uint8_t *buf, size_t len);

/* ---- Faults ---- */

typedef enum selgw_sim_fault_kind {
    SELGW_SIM_FAULT_NONE,
    SELGW_SIM_FAULT_SILENT,    /* no answer at all */
    SELGW_SIM_FAULT_EXCEPTION, /* every request answered with exception `arg` */
    SELGW_SIM_FAULT_SLOW,      /* answers `arg` milliseconds late */
    SELGW_SIM_FAULT_CORRUPT,   /* RTU: a CRC byte flipped; TCP: a garbled PDU */
} selgw_sim_fault_kind;

typedef struct selgw_sim_fault {
    selgw_sim_fault_kind kind;
    int arg; /* exception code (1..255) or milliseconds (0..3600000) */
} selgw_sim_fault;

/* Parses "none", "silent", "exception[:CODE]" (CODE decimal or 0x hex, default 4),
 * "slow:MS", "corrupt". On failure writes a reason into err (if given) and returns
 * SELGW_ERR_INVALID. */
selgw_err selgw_sim_fault_parse(const char *text, selgw_sim_fault *out, char *err, size_t errlen);

/* "slow:250", "exception:0x04" ... into buf. */
void selgw_sim_fault_format(const selgw_sim_fault *fault, char *buf, size_t len);

/* ---- One simulated device ---- */

typedef struct selgw_sim_device selgw_sim_device;

/* The device keeps a pointer to profile, which must outlive it. */
selgw_sim_device *selgw_sim_device_new(const selgw_profile *profile, uint64_t seed,
                                       int utc_offset_minutes);
void selgw_sim_device_free(selgw_sim_device *dev); /* NULL is fine */

/* Answers one request PDU (function code + data) at simulated time time_s: writes the
 * response PDU (possibly an exception: function | 0x80, code) into rsp, which must hold
 * SELGW_SIM_MAX_PDU bytes, and returns its length. Functions 1, 2, 3, 4 read, 6 and 16 write
 * holding registers (kept, and read back by function 3 in place of the model's value).
 * A read gets exception 2 only when it touches no field of its function at all; holes between
 * fields read as 0. Returns SELGW_ERR_NOMEM (and no response) only if storing a write failed. */
selgw_err selgw_sim_device_reply(selgw_sim_device *dev, const uint8_t *req, size_t req_len,
                                 double time_s, uint8_t *rsp, size_t *rsp_len);

/* Scripted values, for tests and the demo (the control file's `value` and `freeze` lines,
 * `--scenario`). A field set to a value reports it (snapped to the field's step) instead of
 * the model's; a frozen field reports, bit for bit, what it reported at time_s; a device
 * with the cold-night scenario reports selgw_model_cold_night as its air temperature. Field
 * NULL: every field of the device. SELGW_ERR_INVALID for a field the profile does not
 * have. */
selgw_err selgw_sim_device_set_value(selgw_sim_device *dev, const char *field, double value);
selgw_err selgw_sim_device_freeze(selgw_sim_device *dev, const char *field, double time_s);
void selgw_sim_device_clear_script(selgw_sim_device *dev);

typedef enum selgw_sim_scenario {
    SELGW_SIM_SCENARIO_NONE,
    SELGW_SIM_SCENARIO_COLD_NIGHT,
} selgw_sim_scenario;

void selgw_sim_device_set_scenario(selgw_sim_device *dev, selgw_sim_scenario scenario);
/* "cold-night" (or "none"); SELGW_ERR_INVALID otherwise. */
selgw_err selgw_sim_scenario_parse(const char *text, selgw_sim_scenario *out);

/* ---- The simulator program ---- */

/* "ID=VALUE" settings from the command line, split. */
typedef struct selgw_sim_bus_setting {
    char *bus_id;
    char *value;
} selgw_sim_bus_setting;

typedef struct selgw_sim_device_fault {
    char *device_id;
    selgw_sim_fault fault;
} selgw_sim_device_fault;

typedef struct selgw_sim_options {
    uint64_t seed;
    double time_scale;       /* simulated seconds per real second, > 0 */
    bool has_start_time;     /* else simulated time starts at the real time of start */
    double start_time_s;     /* UTC seconds since 1970 */
    bool wire_timing;        /* emulate the bytes crossing an RS-485 line at the bus's speed */
    size_t bus_filter_count; /* 0 = every bus of the config */
    char **bus_filter;
    size_t tcp_count; /* --tcp ID=HOST:PORT */
    selgw_sim_bus_setting *tcp;
    size_t serial_count; /* --serial ID=PATH */
    selgw_sim_bus_setting *serial;
    size_t pty_count; /* --pty ID=LINKPATH */
    selgw_sim_bus_setting *pty;
    size_t device_at_count; /* --device-at DEVICE=UNIT[@BAUD], checked by selgw_sim_new */
    selgw_sim_bus_setting *device_at;
    size_t fault_count; /* --fault DEVICE=KIND[:ARG], device ids not yet checked */
    selgw_sim_device_fault *faults;
    char *control_file;
    char *stats_file;
    selgw_sim_scenario scenario; /* --scenario, for every device */
} selgw_sim_options;

void selgw_sim_options_init(selgw_sim_options *opts);
void selgw_sim_options_clear(selgw_sim_options *opts); /* frees the contents */

typedef struct selgw_sim selgw_sim;

/* Checks the options against the config (unknown bus or device ids: SELGW_ERR_INVALID,
 * message on err), then opens every selected bus (listening sockets, ptys, ttys:
 * SELGW_ERR_IO or SELGW_ERR_CONNECT on failure, message on err). The config must outlive
 * the simulator. */
selgw_err selgw_sim_new(const selgw_config *cfg, const selgw_sim_options *opts, FILE *err,
                        selgw_sim **out);
/* Closes everything and removes the pty symlinks it made. NULL is fine. */
void selgw_sim_free(selgw_sim *sim);

/* Writes the "bus ID KIND WHERE" lines and "ready". */
void selgw_sim_print_buses(const selgw_sim *sim, FILE *out);

/* Runs until *stop becomes nonzero (set by the caller's SIGINT/SIGTERM handler). When
 * *reload becomes nonzero (SIGHUP) it is reset and the control file is read again. The loop
 * blocks SIGINT, SIGTERM and SIGHUP while it works and unblocks them only inside ppoll, so
 * a signal is never missed; they are unblocked again on return. */
selgw_err selgw_sim_run(selgw_sim *sim, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

/* Reads the control file now (also done at start and on reload). Problems go to err. */
void selgw_sim_reload_control(selgw_sim *sim);

/* One line per device on out; the JSON to opts->stats_file if set. */
void selgw_sim_print_stats(const selgw_sim *sim, FILE *out);
selgw_err selgw_sim_write_stats_file(const selgw_sim *sim);

#endif
