#include "base/reading.h"

const char *selgw_quality_name(selgw_quality q)
{
    switch (q) {
    case SELGW_QUALITY_OK:
        return "ok";
    case SELGW_QUALITY_OUT_OF_RANGE:
        return "out_of_range";
    case SELGW_QUALITY_READ_FAILED:
        return "read_failed";
    }
    return "unknown";
}
