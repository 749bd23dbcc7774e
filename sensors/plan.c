/* selgw: planning the Modbus reads that fetch every field of a device.
 *
 * Fields are sorted by (function, address) and swept left to right: a field joins the
 * current read when the hole between the read's end and the field's start is at most
 * max_gap and the read, grown to cover the field, stays within the limit; otherwise it
 * starts a new read. Overlapping fields (or fields naming the same registers) have no
 * hole and share a read. The sort breaks ties by field index, so a profile always gives
 * the same plan. */
#include "sensors/plan.h"

#include <stdlib.h>

#include "sensors/decode.h"

typedef struct field_span {
    size_t index;     /* in profile->fields */
    uint8_t function; /* 1..4 */
    uint32_t start;   /* first register or bit */
    uint32_t end;     /* one past the last */
} field_span;

static int compare_spans(const void *a, const void *b)
{
    const field_span *x = a, *y = b;
    if (x->function != y->function)
        return x->function < y->function ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return 0;
}

static bool function_reads_bits(uint8_t function)
{
    return function == 1 || function == 2;
}

/* The span of one field, or false if the field is not readable as described: unknown
 * function, a bit in a register function (or the reverse), past the end of the address
 * space, or longer than one read may be. */
static bool span_of_field(const selgw_field *field, size_t index, unsigned register_limit,
                          field_span *span)
{
    if (field->function < 1 || field->function > 4)
        return false;
    bool bits = function_reads_bits(field->function);
    if (bits != (field->type == SELGW_TYPE_BIT))
        return false;
    uint32_t length = bits ? 1 : selgw_type_registers(field->type);
    uint32_t limit = bits ? SELGW_MODBUS_MAX_READ_BITS : register_limit;
    if (length == 0 || length > limit)
        return false;
    span->index = index;
    span->function = field->function;
    span->start = field->address;
    span->end = (uint32_t)field->address + length;
    if (span->end > UINT32_C(65536))
        return false;
    return true;
}

selgw_err selgw_plan_build(const selgw_profile *profile, unsigned max_registers, unsigned max_gap,
                           selgw_plan **out)
{
    if (out == NULL)
        return SELGW_ERR_INVALID;
    *out = NULL;
    if (profile == NULL || (profile->field_count > 0 && profile->fields == NULL))
        return SELGW_ERR_INVALID;

    unsigned register_limit = max_registers == 0 || max_registers > SELGW_MODBUS_MAX_READ_REGISTERS
                                  ? SELGW_MODBUS_MAX_READ_REGISTERS
                                  : max_registers;
    size_t n = profile->field_count;

    selgw_plan *plan = calloc(1, sizeof *plan);
    field_span *spans = n ? calloc(n, sizeof *spans) : NULL;
    if (plan == NULL || (n && spans == NULL))
        goto nomem;
    plan->field_count = n;
    if (n) {
        plan->slots = calloc(n, sizeof *plan->slots);
        plan->requests = calloc(n, sizeof *plan->requests); /* at most one read per field */
        if (plan->slots == NULL || plan->requests == NULL)
            goto nomem;
    }

    for (size_t i = 0; i < n; i++) {
        if (!span_of_field(&profile->fields[i], i, register_limit, &spans[i])) {
            free(spans);
            selgw_plan_free(plan);
            return SELGW_ERR_INVALID;
        }
    }
    if (n > 1)
        qsort(spans, n, sizeof *spans, compare_spans);

    selgw_read_request *current = NULL;
    uint32_t current_end = 0;
    for (size_t i = 0; i < n; i++) {
        const field_span *s = &spans[i];
        uint32_t limit =
            function_reads_bits(s->function) ? SELGW_MODBUS_MAX_READ_BITS : register_limit;
        bool joins = false;
        if (current != NULL && current->function == s->function) {
            uint32_t hole = s->start > current_end ? s->start - current_end : 0;
            uint32_t merged_end = s->end > current_end ? s->end : current_end;
            joins = hole <= max_gap && merged_end - current->address <= limit;
        }
        if (joins) {
            if (s->end > current_end)
                current_end = s->end;
        } else {
            current = &plan->requests[plan->request_count++];
            current->function = s->function;
            current->address = (uint16_t)s->start;
            current_end = s->end;
        }
        current->count = (uint16_t)(current_end - current->address);
        plan->slots[s->index].request = plan->request_count - 1;
        plan->slots[s->index].offset = (uint16_t)(s->start - current->address);
    }

    free(spans);
    *out = plan;
    return SELGW_OK;

nomem:
    free(spans);
    selgw_plan_free(plan);
    return SELGW_ERR_NOMEM;
}

void selgw_plan_free(selgw_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->requests);
    free(plan->slots);
    free(plan);
}
