/* selgw: sensor profiles, the register maps of sensor models.
 *
 * A profile is a YAML file (sensors/profiles/NAME.yaml, format in docs/PROFILES.md). The
 * profiles shipped with selgw are compiled into the binary; a config may add a directory of
 * its own. Loading validates every value and reports problems with FILE:LINE:COLUMN into a
 * selgw_diag, all of them, not only the first. */
#ifndef SELGW_PROFILE_H
#define SELGW_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"
#include "base/error.h"

typedef enum selgw_value_type {
    SELGW_TYPE_BIT, /* one coil or discrete input (function 1 or 2 only) */
    SELGW_TYPE_U16,
    SELGW_TYPE_S16,
    SELGW_TYPE_U32,
    SELGW_TYPE_S32,
    SELGW_TYPE_U64,
    SELGW_TYPE_S64,
    SELGW_TYPE_F32, /* IEEE 754 binary32 */
    SELGW_TYPE_F64, /* IEEE 754 binary64 */
} selgw_value_type;

/* Order of the bytes of a value on the wire. Letters name the bytes of the value from most
 * to least significant (A is the most significant); the order lists them as they arrive.
 * For 32 bits:  ABCD big-endian (Modbus convention), CDAB word-swapped, BADC byte-swapped
 * within each word, DCBA little-endian. For 64 bits the same rule extends to four words
 * (CDAB: last word first, bytes big-endian within each word). For 16 bits only the byte
 * swap matters: BADC and DCBA swap the two bytes, ABCD and CDAB do not. */
typedef enum selgw_byte_order {
    SELGW_ORDER_ABCD,
    SELGW_ORDER_CDAB,
    SELGW_ORDER_BADC,
    SELGW_ORDER_DCBA,
} selgw_byte_order;

typedef struct selgw_field {
    char *name;       /* e.g. "soil_moisture"; unique within the profile */
    uint8_t function; /* Modbus function code 1, 2, 3 or 4 */
    uint16_t address; /* 0-based wire address of the first register or bit */
    selgw_value_type type;
    selgw_byte_order order; /* default ABCD */
    double scale;           /* engineering value = raw * scale + offset; default 1 */
    double offset;          /* default 0 */
    char *unit;             /* e.g. "%", "degC", "uS/cm", "lx", "ppm"; "" for none */
    bool has_min, has_max;  /* valid range of the engineering value, inclusive */
    double min, max;
} selgw_field;

/* How a model is given a new unit id or baud rate (the optional `addressing:` section of a
 * profile): the holding registers written with a write function, as its source documents.
 * Commissioning (selgw set-address) uses it; polling never does. */
typedef struct selgw_baud_code {
    int baud;
    uint16_t code; /* the value written to the baud register for this rate */
} selgw_baud_code;

typedef enum selgw_address_apply {
    SELGW_APPLY_UNSTATED,    /* the source does not say when the new settings apply */
    SELGW_APPLY_IMMEDIATE,   /* the device answers at the new settings at once */
    SELGW_APPLY_POWER_CYCLE, /* it takes them after a power cycle */
} selgw_address_apply;

typedef struct selgw_addressing {
    bool present;              /* the profile has an addressing section */
    uint8_t function;          /* 6 (write single register, default) or 16 */
    uint16_t unit_id_register; /* the new unit id is written here */
    bool has_baud_register;
    uint16_t baud_register; /* the baud code is written here */
    size_t baud_code_count; /* 0: the source names the register but not its codes */
    selgw_baud_code *baud_codes;
    selgw_address_apply apply;
} selgw_addressing;

/* The code a baud rate is written as, or -1 when the profile does not know it. */
int selgw_addressing_baud_code(const selgw_addressing *addressing, int baud);

typedef struct selgw_profile {
    char *name;   /* identifier used by configs, e.g. "cwt-soil-thc-s" */
    char *model;  /* vendor and model, free text */
    char *source; /* where the register map comes from */
    char *path;   /* file (or embedded name) it was loaded from */
    /* Default link settings of the model as shipped; a config's bus overrides them. */
    int baud;      /* e.g. 4800 or 9600 */
    char parity;   /* 'N', 'E' or 'O' */
    int data_bits; /* 7 or 8 */
    int stop_bits; /* 1 or 2 */
    int default_unit_id;
    /* Request planning: largest read the model accepts (registers for functions 3/4; 0 =
     * protocol limit) and the largest hole of unused registers worth reading through to
     * merge two reads (0 = merge only contiguous registers). */
    int max_read_registers;
    int max_gap;
    size_t field_count;
    selgw_field *fields;
    selgw_addressing addressing;
} selgw_profile;

/* The baud rates a profile's link may name, ascending, and how many there are. */
extern const int selgw_common_bauds[];
extern const size_t selgw_common_baud_count;
/* Whether value is one of them (the config's bus baud and the commissioning flags too). */
bool selgw_baud_is_common(int64_t value);

typedef struct selgw_profile_set selgw_profile_set;

selgw_profile_set *selgw_profile_set_new(void);
void selgw_profile_set_free(selgw_profile_set *set); /* NULL is fine */

/* Each loader adds the profile(s) to the set. On any error it adds nothing, reports every
 * problem into diag and returns SELGW_ERR_CONFIG (SELGW_ERR_IO if a file cannot be read).
 * A name already in the set is an error. */
selgw_err selgw_profile_set_load_file(selgw_profile_set *set, const char *path, selgw_diag *diag);
/* All *.yaml files of a directory, in name order. */
selgw_err selgw_profile_set_load_dir(selgw_profile_set *set, const char *dir, selgw_diag *diag);
/* From memory; display_name is used in diagnostics in place of a file name. */
selgw_err selgw_profile_set_load_string(selgw_profile_set *set, const char *display_name,
                                        const char *yaml, size_t len, selgw_diag *diag);
/* The profiles shipped in sensors/profiles/, compiled into the binary. */
selgw_err selgw_profile_set_load_builtin(selgw_profile_set *set, selgw_diag *diag);

const selgw_profile *selgw_profile_set_find(const selgw_profile_set *set, const char *name);
size_t selgw_profile_set_count(const selgw_profile_set *set);
const selgw_profile *selgw_profile_set_at(const selgw_profile_set *set, size_t i);

/* Index of a field by name, or -1. */
int selgw_profile_field_index(const selgw_profile *profile, const char *field_name);

/* Names as written in YAML ("u16", "CDAB"); parse returns false for an unknown name. */
const char *selgw_value_type_name(selgw_value_type type);
bool selgw_value_type_parse(const char *name, selgw_value_type *out);
const char *selgw_byte_order_name(selgw_byte_order order);
bool selgw_byte_order_parse(const char *name, selgw_byte_order *out);

#endif
