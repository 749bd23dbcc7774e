#include "sensors/profile.h"

#include "sensors/decode.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/embedded.h"
#include "base/reading.h"
#include "base/yaml.h"

/* Defaults and bounds of the profile format (docs/PROFILES.md). */
enum {
    PROFILE_DEFAULT_BAUD = 9600,
    PROFILE_DEFAULT_DATA_BITS = 8,
    PROFILE_DEFAULT_STOP_BITS = 1,
    PROFILE_DEFAULT_UNIT_ID = 1,
    PROFILE_MAX_READ_REGISTERS = 125, /* Modbus limit for functions 3 and 4 */
    PROFILE_DEFAULT_MAX_GAP = 4,
    PROFILE_MAX_GAP = 125,
    /* 248..255 are reserved by Modbus, yet some modules answer on one of them (Senseair
     * K30 on 254, "any address"), so a profile may name them as the factory default. */
    PROFILE_MAX_UNIT_ID = 255,
};

const int selgw_common_bauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200};
const size_t selgw_common_baud_count = sizeof selgw_common_bauds / sizeof selgw_common_bauds[0];

bool selgw_baud_is_common(int64_t value)
{
    for (size_t i = 0; i < selgw_common_baud_count; i++)
        if (selgw_common_bauds[i] == value)
            return true;
    return false;
}

struct selgw_profile_set {
    selgw_profile **items; /* pointers: a profile does not move when the set grows */
    size_t count;
    size_t capacity;
};

static const char *const type_names[] = {
    [SELGW_TYPE_BIT] = "bit", [SELGW_TYPE_U16] = "u16", [SELGW_TYPE_S16] = "s16",
    [SELGW_TYPE_U32] = "u32", [SELGW_TYPE_S32] = "s32", [SELGW_TYPE_U64] = "u64",
    [SELGW_TYPE_S64] = "s64", [SELGW_TYPE_F32] = "f32", [SELGW_TYPE_F64] = "f64",
};

static const char *const order_names[] = {
    [SELGW_ORDER_ABCD] = "ABCD",
    [SELGW_ORDER_CDAB] = "CDAB",
    [SELGW_ORDER_BADC] = "BADC",
    [SELGW_ORDER_DCBA] = "DCBA",
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *selgw_value_type_name(selgw_value_type type)
{
    return (unsigned)type < COUNT_OF(type_names) ? type_names[type] : "?";
}

bool selgw_value_type_parse(const char *name, selgw_value_type *out)
{
    for (size_t i = 0; name && i < COUNT_OF(type_names); i++)
        if (!strcasecmp(name, type_names[i])) {
            *out = (selgw_value_type)i;
            return true;
        }
    return false;
}

const char *selgw_byte_order_name(selgw_byte_order order)
{
    return (unsigned)order < COUNT_OF(order_names) ? order_names[order] : "?";
}

bool selgw_byte_order_parse(const char *name, selgw_byte_order *out)
{
    for (size_t i = 0; name && i < COUNT_OF(order_names); i++)
        if (!strcasecmp(name, order_names[i])) {
            *out = (selgw_byte_order)i;
            return true;
        }
    return false;
}

/* Registers (or bits, for SELGW_TYPE_BIT) a field occupies on the wire. */
static unsigned field_width(selgw_value_type type)
{
    return type == SELGW_TYPE_BIT ? 1 : selgw_type_registers(type);
}

static void profile_free(selgw_profile *profile)
{
    if (!profile)
        return;
    for (size_t i = 0; i < profile->field_count; i++) {
        free(profile->fields[i].name);
        free(profile->fields[i].unit);
    }
    free(profile->fields);
    free(profile->addressing.baud_codes);
    free(profile->name);
    free(profile->model);
    free(profile->source);
    free(profile->path);
    free(profile);
}

selgw_profile_set *selgw_profile_set_new(void)
{
    return calloc(1, sizeof(selgw_profile_set));
}

void selgw_profile_set_free(selgw_profile_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++)
        profile_free(set->items[i]);
    free(set->items);
    free(set);
}

const selgw_profile *selgw_profile_set_find(const selgw_profile_set *set, const char *name)
{
    for (size_t i = 0; set && name && i < set->count; i++)
        if (!strcmp(set->items[i]->name, name))
            return set->items[i];
    return NULL;
}

size_t selgw_profile_set_count(const selgw_profile_set *set)
{
    return set ? set->count : 0;
}

const selgw_profile *selgw_profile_set_at(const selgw_profile_set *set, size_t i)
{
    return set && i < set->count ? set->items[i] : NULL;
}

int selgw_profile_field_index(const selgw_profile *profile, const char *field_name)
{
    for (size_t i = 0; profile && field_name && i < profile->field_count; i++)
        if (!strcmp(profile->fields[i].name, field_name))
            return (int)i;
    return -1;
}

/* Removes (and frees) the profiles added after the set had `count` of them. */
static void set_truncate(selgw_profile_set *set, size_t count)
{
    while (set->count > count)
        profile_free(set->items[--set->count]);
}

static bool set_add(selgw_profile_set *set, selgw_profile *profile)
{
    if (set->count == set->capacity) {
        size_t capacity = set->capacity ? set->capacity * 2 : 16;
        selgw_profile **grown = realloc(set->items, capacity * sizeof(*grown));
        if (!grown)
            return false;
        set->items = grown;
        set->capacity = capacity;
    }
    set->items[set->count++] = profile;
    return true;
}

/* ---- parsing ---- */

static bool name_matches(const char *text, const char *extra_chars)
{
    if (!*text)
        return false;
    for (const char *p = text; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr(extra_chars, *p);
        if (!ok)
            return false;
    }
    return true;
}

/* Reads an optional integer within [min, max]; false (reported) if present and invalid. */
static bool read_int(selgw_yaml *yaml, struct fy_node *map, const char *key, long min, long max,
                     int *out)
{
    struct fy_node *node = selgw_yaml_get(map, key, NULL);
    if (!node)
        return true;
    int64_t value;
    if (!selgw_yaml_int(yaml, node, key, &value))
        return false;
    if (value < min || value > max) {
        selgw_yaml_error(yaml, node, "%s: %lld is out of range %ld..%ld", key, (long long)value,
                         min, max);
        return false;
    }
    *out = (int)value;
    return true;
}

static bool read_required_string(selgw_yaml *yaml, struct fy_node *map, const char *key,
                                 const char *what, char **out)
{
    struct fy_node *node = selgw_yaml_get(map, key, NULL);
    if (!node) {
        selgw_yaml_error(yaml, map, "missing required key '%s' in %s", key, what);
        return false;
    }
    if (!selgw_yaml_string(yaml, node, key, out))
        return false;
    if (!**out) {
        selgw_yaml_error(yaml, node, "%s must not be empty", key);
        return false;
    }
    return true;
}

static void parse_link(selgw_yaml *yaml, struct fy_node *link, selgw_profile *profile)
{
    static const char *const keys[] = {"baud", "parity", "data_bits", "stop_bits", "unit_id", NULL};
    if (!selgw_yaml_check_keys(yaml, link, "link", keys))
        return;
    struct fy_node *baud = selgw_yaml_get(link, "baud", NULL);
    if (baud) {
        int64_t value;
        if (selgw_yaml_int(yaml, baud, "baud", &value)) {
            if (selgw_baud_is_common(value))
                profile->baud = (int)value;
            else
                selgw_yaml_error(yaml, baud,
                                 "baud: %lld is not one of 1200, 2400, 4800, 9600, 19200, "
                                 "38400, 57600, 115200",
                                 (long long)value);
        }
    }
    struct fy_node *parity = selgw_yaml_get(link, "parity", NULL);
    if (parity) {
        const char *text = selgw_yaml_text(parity);
        char value = 0;
        if (text && selgw_yaml_is_scalar(parity)) {
            if (!strcasecmp(text, "N") || !strcasecmp(text, "none"))
                value = 'N';
            else if (!strcasecmp(text, "E") || !strcasecmp(text, "even"))
                value = 'E';
            else if (!strcasecmp(text, "O") || !strcasecmp(text, "odd"))
                value = 'O';
        }
        if (value)
            profile->parity = value;
        else
            selgw_yaml_error(yaml, parity, "parity: expected N, E or O (none, even, odd)");
    }
    read_int(yaml, link, "data_bits", 7, 8, &profile->data_bits);
    read_int(yaml, link, "stop_bits", 1, 2, &profile->stop_bits);
    read_int(yaml, link, "unit_id", 1, PROFILE_MAX_UNIT_ID, &profile->default_unit_id);
}

int selgw_addressing_baud_code(const selgw_addressing *addressing, int baud)
{
    for (size_t i = 0; addressing && i < addressing->baud_code_count; i++)
        if (addressing->baud_codes[i].baud == baud)
            return addressing->baud_codes[i].code;
    return -1;
}

static bool read_register(selgw_yaml *yaml, struct fy_node *map, const char *key, uint16_t *out)
{
    int value = -1;
    if (!read_int(yaml, map, key, 0, 65535, &value))
        return false;
    if (value >= 0)
        *out = (uint16_t)value;
    return value >= 0;
}

/* baud_codes: {4800: 1, 9600: 2}: the rate as the key, the code written as the value. */
static void parse_baud_codes(selgw_yaml *yaml, struct fy_node *codes, selgw_addressing *a)
{
    if (!selgw_yaml_is_mapping(codes)) {
        selgw_yaml_type_error(yaml, codes, "baud_codes", "a mapping of baud rate to code");
        return;
    }
    size_t count = selgw_yaml_count(codes);
    a->baud_codes = calloc(count ? count : 1, sizeof *a->baud_codes);
    if (!a->baud_codes) {
        selgw_yaml_error(yaml, codes, "out of memory");
        return;
    }
    void *iter = NULL;
    struct fy_node *key, *value;
    while (selgw_yaml_map_next(codes, &iter, &key, &value) && a->baud_code_count < count) {
        int64_t baud, code;
        if (!selgw_yaml_int(yaml, key, "baud_codes key", &baud) ||
            !selgw_yaml_int(yaml, value, "baud code", &code))
            continue;
        if (!selgw_baud_is_common(baud)) {
            selgw_yaml_error(yaml, key,
                             "baud_codes: %lld is not one of 1200, 2400, 4800, 9600, 19200, "
                             "38400, 57600, 115200",
                             (long long)baud);
            continue;
        }
        if (code < 0 || code > 65535) {
            selgw_yaml_error(yaml, value, "baud code: %lld is out of range 0..65535",
                             (long long)code);
            continue;
        }
        a->baud_codes[a->baud_code_count++] = (selgw_baud_code){(int)baud, (uint16_t)code};
    }
}

static void parse_addressing(selgw_yaml *yaml, struct fy_node *node, selgw_addressing *a)
{
    static const char *const keys[] = {
        "function", "unit_id_register", "baud_register", "baud_codes", "apply", NULL};
    if (!selgw_yaml_check_keys(yaml, node, "addressing", keys))
        return;
    a->present = true;
    a->function = 6;
    a->apply = SELGW_APPLY_UNSTATED;
    struct fy_node *function = selgw_yaml_get(node, "function", NULL);
    if (function) {
        int64_t value;
        if (selgw_yaml_int(yaml, function, "function", &value)) {
            if (value == 6 || value == 16)
                a->function = (uint8_t)value;
            else
                selgw_yaml_error(yaml, function,
                                 "function: %lld is not a write function (6 write single "
                                 "register, 16 write multiple registers)",
                                 (long long)value);
        }
    }
    if (!selgw_yaml_get(node, "unit_id_register", NULL))
        selgw_yaml_error(yaml, node, "missing required key 'unit_id_register' in addressing");
    else
        read_register(yaml, node, "unit_id_register", &a->unit_id_register);
    a->has_baud_register = read_register(yaml, node, "baud_register", &a->baud_register);
    struct fy_node *codes = selgw_yaml_get(node, "baud_codes", NULL);
    if (codes) {
        if (!a->has_baud_register)
            selgw_yaml_error(yaml, codes, "baud_codes needs baud_register");
        parse_baud_codes(yaml, codes, a);
    }
    struct fy_node *apply = selgw_yaml_get(node, "apply", NULL);
    if (apply) {
        const char *text = selgw_yaml_is_scalar(apply) ? selgw_yaml_text(apply) : NULL;
        if (text && !strcmp(text, "power-cycle"))
            a->apply = SELGW_APPLY_POWER_CYCLE;
        else if (text && !strcmp(text, "immediate"))
            a->apply = SELGW_APPLY_IMMEDIATE;
        else
            selgw_yaml_error(yaml, apply, "apply: expected power-cycle or immediate");
    }
}

/* Per-field state kept only while loading: nodes for positions, and whether the parts the
 * cross-checks need were valid. */
struct field_info {
    struct fy_node *item;
    struct fy_node *name_node;
    struct fy_node *address_node;
    bool placed; /* function, address and type are valid */
};

static void parse_range(selgw_yaml *yaml, struct fy_node *range, selgw_field *field)
{
    if (!selgw_yaml_is_sequence(range) || selgw_yaml_count(range) != 2) {
        selgw_yaml_error(yaml, range, "range: expected [min, max] (either may be null)");
        return;
    }
    void *iter = NULL;
    struct fy_node *lo = selgw_yaml_seq_next(range, &iter);
    struct fy_node *hi = selgw_yaml_seq_next(range, &iter);
    bool ok = true;
    double min = 0, max = 0;
    bool has_min = !selgw_yaml_is_null(lo), has_max = !selgw_yaml_is_null(hi);
    if (has_min)
        ok &= selgw_yaml_double(yaml, lo, "range minimum", &min);
    if (has_max)
        ok &= selgw_yaml_double(yaml, hi, "range maximum", &max);
    if (!ok)
        return;
    if (has_min && has_max && min > max) {
        selgw_yaml_error(yaml, range, "range: minimum %g is greater than maximum %g", min, max);
        return;
    }
    field->has_min = has_min;
    field->has_max = has_max;
    field->min = min;
    field->max = max;
}

static void parse_field(selgw_yaml *yaml, struct fy_node *item, selgw_field *field,
                        struct field_info *info, struct field_info *infos, size_t index)
{
    static const char *const keys[] = {"name",  "function", "address", "type",  "order",
                                       "scale", "offset",   "unit",    "range", NULL};
    info->item = item;
    field->scale = 1;
    field->order = SELGW_ORDER_ABCD;
    if (!selgw_yaml_check_keys(yaml, item, "field", keys))
        return;

    char what[96] = "field";
    info->name_node = selgw_yaml_get(item, "name", NULL);
    if (read_required_string(yaml, item, "name", "field", &field->name)) {
        if (!name_matches(field->name, "_")) {
            selgw_yaml_error(yaml, info->name_node,
                             "field name '%s': use lower-case letters, digits and '_'",
                             field->name);
        }
        for (size_t i = 0; i < index; i++) {
            const char *other = selgw_yaml_text(infos[i].name_node);
            if (other && !strcmp(other, field->name)) {
                selgw_yaml_pos first = selgw_yaml_node_pos(infos[i].name_node);
                selgw_yaml_error(yaml, info->name_node,
                                 "duplicate field name '%s' (first defined at %d:%d)", field->name,
                                 first.line, first.column);
                break;
            }
        }
        snprintf(what, sizeof(what), "field '%s'", field->name);
    }

    bool function_ok = false, address_ok = false, type_ok = false;
    struct fy_node *function = selgw_yaml_get(item, "function", NULL);
    if (!function) {
        selgw_yaml_error(yaml, item, "missing required key 'function' in %s", what);
    } else {
        int64_t value;
        if (selgw_yaml_int(yaml, function, "function", &value)) {
            if (value >= 1 && value <= 4) {
                field->function = (uint8_t)value;
                function_ok = true;
            } else {
                selgw_yaml_error(yaml, function,
                                 "function: %lld is not a read function (1 coils, 2 discrete "
                                 "inputs, 3 holding registers, 4 input registers)",
                                 (long long)value);
            }
        }
    }
    info->address_node = selgw_yaml_get(item, "address", NULL);
    if (!info->address_node) {
        selgw_yaml_error(yaml, item, "missing required key 'address' in %s", what);
    } else {
        int64_t value;
        if (selgw_yaml_int(yaml, info->address_node, "address", &value)) {
            if (value >= 0 && value <= 65535) {
                field->address = (uint16_t)value;
                address_ok = true;
            } else {
                selgw_yaml_error(yaml, info->address_node, "address: %lld is out of range 0..65535",
                                 (long long)value);
            }
        }
    }
    struct fy_node *type = selgw_yaml_get(item, "type", NULL);
    if (!type) {
        selgw_yaml_error(yaml, item, "missing required key 'type' in %s", what);
    } else {
        const char *text = selgw_yaml_text(type);
        if (selgw_yaml_is_scalar(type) && selgw_value_type_parse(text, &field->type))
            type_ok = true;
        else
            selgw_yaml_error(yaml, type,
                             "type: expected one of bit, u16, s16, u32, s32, u64, s64, f32, f64");
    }
    struct fy_node *order = selgw_yaml_get(item, "order", NULL);
    if (order) {
        const char *text = selgw_yaml_text(order);
        if (!selgw_yaml_is_scalar(order) || !selgw_byte_order_parse(text, &field->order))
            selgw_yaml_error(yaml, order, "order: expected one of ABCD, CDAB, BADC, DCBA");
    }
    struct fy_node *scale = selgw_yaml_get(item, "scale", NULL);
    if (scale) {
        double value;
        if (selgw_yaml_double(yaml, scale, "scale", &value)) {
            if (value == 0)
                selgw_yaml_error(yaml, scale, "scale must not be 0");
            else
                field->scale = value;
        }
    }
    struct fy_node *offset = selgw_yaml_get(item, "offset", NULL);
    if (offset)
        selgw_yaml_double(yaml, offset, "offset", &field->offset);
    struct fy_node *unit = selgw_yaml_get(item, "unit", NULL);
    if (unit && !selgw_yaml_is_null(unit))
        selgw_yaml_string(yaml, unit, "unit", &field->unit);
    struct fy_node *range = selgw_yaml_get(item, "range", NULL);
    if (range)
        parse_range(yaml, range, field);

    if (function_ok && type_ok) {
        bool bit_function = field->function <= 2;
        if (bit_function && field->type != SELGW_TYPE_BIT) {
            selgw_yaml_error(yaml, type,
                             "type %s needs a register function (3 or 4); function %u reads bits",
                             selgw_value_type_name(field->type), field->function);
            type_ok = false;
        } else if (!bit_function && field->type == SELGW_TYPE_BIT) {
            selgw_yaml_error(yaml, type,
                             "type bit needs a bit function (1 or 2); function %u reads registers",
                             field->function);
            type_ok = false;
        }
    }
    if (address_ok && type_ok) {
        unsigned width = field_width(field->type);
        if ((unsigned)field->address + width - 1 > 65535) {
            selgw_yaml_error(yaml, info->address_node,
                             "%s: %s at address %u runs past register 65535", what,
                             selgw_value_type_name(field->type), field->address);
            address_ok = false;
        }
    }
    info->placed = function_ok && address_ok && type_ok;
}

static void check_overlaps(selgw_yaml *yaml, const selgw_profile *profile,
                           const struct field_info *infos)
{
    for (size_t j = 0; j < profile->field_count; j++) {
        const selgw_field *b = &profile->fields[j];
        if (!infos[j].placed)
            continue;
        unsigned b_end = b->address + field_width(b->type) - 1;
        for (size_t i = 0; i < j; i++) {
            const selgw_field *a = &profile->fields[i];
            if (!infos[i].placed || a->function != b->function)
                continue;
            unsigned a_end = a->address + field_width(a->type) - 1;
            if (b->address > a_end || a->address > b_end)
                continue;
            selgw_yaml_pos first = selgw_yaml_node_pos(infos[i].address_node);
            const char *unit = b->function <= 2 ? "bits" : "registers";
            selgw_yaml_error(yaml, infos[j].address_node,
                             "field '%s' (function %u, %s %u..%u) overlaps field '%s' "
                             "(%s %u..%u, at %d:%d)",
                             b->name ? b->name : "?", b->function, unit, b->address, b_end,
                             a->name ? a->name : "?", unit, a->address, a_end, first.line,
                             first.column);
            break;
        }
    }
}

static void check_widths(selgw_yaml *yaml, const selgw_profile *profile,
                         const struct field_info *infos)
{
    for (size_t i = 0; i < profile->field_count; i++) {
        const selgw_field *f = &profile->fields[i];
        if (!infos[i].placed || f->type == SELGW_TYPE_BIT)
            continue;
        unsigned width = field_width(f->type);
        if ((int)width > profile->max_read_registers)
            selgw_yaml_error(yaml, infos[i].item,
                             "field '%s' (%s) needs %u registers in one read, more than "
                             "max_read_registers %d",
                             f->name ? f->name : "?", selgw_value_type_name(f->type), width,
                             profile->max_read_registers);
    }
}

/* Parses the document of one profile. Returns it (with path set) if the document had no
 * error, else NULL; *name_node receives the node of the name, for duplicate reports. */
static selgw_profile *parse_profile(selgw_yaml *yaml, struct fy_node **name_node)
{
    static const char *const keys[] = {
        "name",    "model",  "source",     "link", "max_read_registers",
        "max_gap", "fields", "addressing", NULL};
    struct fy_node *root = selgw_yaml_root(yaml);
    *name_node = NULL;
    selgw_profile *profile = calloc(1, sizeof(*profile));
    struct field_info *infos = NULL;
    if (!profile)
        return NULL;
    profile->baud = PROFILE_DEFAULT_BAUD;
    profile->parity = 'N';
    profile->data_bits = PROFILE_DEFAULT_DATA_BITS;
    profile->stop_bits = PROFILE_DEFAULT_STOP_BITS;
    profile->default_unit_id = PROFILE_DEFAULT_UNIT_ID;
    profile->max_read_registers = PROFILE_MAX_READ_REGISTERS;
    profile->max_gap = PROFILE_DEFAULT_MAX_GAP;
    profile->path = strdup(selgw_yaml_file(yaml));
    if (!profile->path) {
        selgw_yaml_error(yaml, NULL, "out of memory");
        goto done;
    }
    if (!selgw_yaml_check_keys(yaml, root, "profile", keys))
        goto done;

    *name_node = selgw_yaml_get(root, "name", NULL);
    if (read_required_string(yaml, root, "name", "profile", &profile->name) &&
        !name_matches(profile->name, "-"))
        selgw_yaml_error(yaml, *name_node,
                         "profile name '%s': use lower-case letters, digits and '-'",
                         profile->name);
    read_required_string(yaml, root, "model", "profile", &profile->model);
    read_required_string(yaml, root, "source", "profile", &profile->source);
    struct fy_node *link = selgw_yaml_get(root, "link", NULL);
    if (link)
        parse_link(yaml, link, profile);
    bool limits_ok = read_int(yaml, root, "max_read_registers", 1, PROFILE_MAX_READ_REGISTERS,
                              &profile->max_read_registers);
    read_int(yaml, root, "max_gap", 0, PROFILE_MAX_GAP, &profile->max_gap);
    struct fy_node *addressing = selgw_yaml_get(root, "addressing", NULL);
    if (addressing)
        parse_addressing(yaml, addressing, &profile->addressing);

    struct fy_node *fields = selgw_yaml_get(root, "fields", NULL);
    if (!fields) {
        selgw_yaml_error(yaml, root, "missing required key 'fields' in profile");
        goto done;
    }
    if (!selgw_yaml_check_sequence(yaml, fields, "fields"))
        goto done;
    size_t count = selgw_yaml_count(fields);
    if (count == 0) {
        selgw_yaml_error(yaml, fields, "fields: a profile needs at least one field");
        goto done;
    }
    /* every field of a poll goes into one journal record */
    if (count > SELGW_READING_MAX_FIELDS)
        selgw_yaml_error(yaml, fields, "fields: a profile has at most %d fields (this one has %zu)",
                         SELGW_READING_MAX_FIELDS, count);
    profile->fields = calloc(count, sizeof(*profile->fields));
    infos = calloc(count, sizeof(*infos));
    if (!profile->fields || !infos) {
        selgw_yaml_error(yaml, fields, "out of memory");
        goto done;
    }
    void *iter = NULL;
    struct fy_node *item;
    while ((item = selgw_yaml_seq_next(fields, &iter)) && profile->field_count < count) {
        size_t i = profile->field_count++;
        parse_field(yaml, item, &profile->fields[i], &infos[i], infos, i);
    }
    for (size_t i = 0; i < profile->field_count; i++) {
        if (!profile->fields[i].unit && !(profile->fields[i].unit = strdup(""))) {
            selgw_yaml_error(yaml, infos[i].item, "out of memory");
            goto done;
        }
    }
    check_overlaps(yaml, profile, infos);
    if (limits_ok)
        check_widths(yaml, profile, infos);

done:
    free(infos);
    if (selgw_yaml_error_count(yaml)) {
        profile_free(profile);
        return NULL;
    }
    return profile;
}

/* Parses a loaded document and adds the profile, unless it has errors or its name is taken. */
static selgw_err add_from_yaml(selgw_profile_set *set, selgw_yaml *yaml)
{
    struct fy_node *name_node;
    selgw_profile *profile = parse_profile(yaml, &name_node);
    if (!profile)
        return SELGW_ERR_CONFIG;
    const selgw_profile *existing = selgw_profile_set_find(set, profile->name);
    if (existing) {
        selgw_yaml_error(yaml, name_node, "duplicate profile name '%s': already defined in %s",
                         profile->name, existing->path);
        profile_free(profile);
        return SELGW_ERR_CONFIG;
    }
    if (!set_add(set, profile)) {
        profile_free(profile);
        return SELGW_ERR_NOMEM;
    }
    return SELGW_OK;
}

selgw_err selgw_profile_set_load_string(selgw_profile_set *set, const char *display_name,
                                        const char *yaml_text, size_t len, selgw_diag *diag)
{
    if (!set || !yaml_text)
        return SELGW_ERR_INVALID;
    selgw_yaml *yaml;
    selgw_err err = selgw_yaml_load_string(display_name, yaml_text, len, diag, &yaml);
    if (err != SELGW_OK)
        return err;
    err = add_from_yaml(set, yaml);
    selgw_yaml_free(yaml);
    return err;
}

selgw_err selgw_profile_set_load_file(selgw_profile_set *set, const char *path, selgw_diag *diag)
{
    if (!set || !path)
        return SELGW_ERR_INVALID;
    selgw_yaml *yaml;
    selgw_err err = selgw_yaml_load_file(path, NULL, diag, &yaml);
    if (err != SELGW_OK)
        return err;
    err = add_from_yaml(set, yaml);
    selgw_yaml_free(yaml);
    return err;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_yaml_suffix(const char *name)
{
    size_t len = strlen(name);
    return len > 5 && !strcmp(name + len - 5, ".yaml") && name[0] != '.';
}

/* Keeps the first error: IO and NOMEM say more than CONFIG about what went wrong. */
static void note_error(selgw_err *result, selgw_err err)
{
    if (err != SELGW_OK && (*result == SELGW_OK || *result == SELGW_ERR_CONFIG))
        *result = err;
}

selgw_err selgw_profile_set_load_dir(selgw_profile_set *set, const char *dir, selgw_diag *diag)
{
    if (!set || !dir)
        return SELGW_ERR_INVALID;
    DIR *d = opendir(dir);
    if (!d) {
        selgw_diag_add(diag, dir, 0, 0, "cannot open profile directory: %s", strerror(errno));
        return SELGW_ERR_IO;
    }
    char **names = NULL;
    size_t count = 0, capacity = 0;
    selgw_err result = SELGW_OK;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        if (!has_yaml_suffix(entry->d_name))
            continue;
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            char **grown = realloc(names, capacity * sizeof(*grown));
            if (!grown) {
                result = SELGW_ERR_NOMEM;
                break;
            }
            names = grown;
        }
        if (!(names[count] = strdup(entry->d_name))) {
            result = SELGW_ERR_NOMEM;
            break;
        }
        count++;
    }
    closedir(d);
    if (count > 1)
        qsort(names, count, sizeof(*names), compare_names);
    size_t initial = set->count;
    for (size_t i = 0; i < count && result != SELGW_ERR_NOMEM; i++) {
        char *path = NULL;
        size_t dir_len = strlen(dir);
        bool slash = dir_len && dir[dir_len - 1] == '/';
        if (asprintf(&path, "%s%s%s", dir, slash ? "" : "/", names[i]) < 0) {
            result = SELGW_ERR_NOMEM;
            break;
        }
        note_error(&result, selgw_profile_set_load_file(set, path, diag));
        free(path);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (result != SELGW_OK)
        set_truncate(set, initial);
    return result;
}

selgw_err selgw_profile_set_load_builtin(selgw_profile_set *set, selgw_diag *diag)
{
    if (!set)
        return SELGW_ERR_INVALID;
    size_t initial = set->count;
    selgw_err result = SELGW_OK;
    for (size_t i = 0; i < selgw_embedded_profiles_count; i++) {
        const struct selgw_embedded_file *file = &selgw_embedded_profiles[i];
        char *name = NULL;
        if (asprintf(&name, "<builtin>/%s", file->name) < 0) {
            result = SELGW_ERR_NOMEM;
            break;
        }
        note_error(&result, selgw_profile_set_load_string(set, name, file->data, file->size, diag));
        free(name);
    }
    if (result != SELGW_OK)
        set_truncate(set, initial);
    return result;
}
