/* The names come from the generated table (tinyfl_wire_gen.c), so they follow spec.py. */
#include "tinyfl_status.h"

const char *tinyfl_status_str(tinyfl_status status)
{
    unsigned index = (unsigned)status;
    if (index >= (unsigned)TINYFL_STATUS_COUNT) {
        return "UNKNOWN";
    }
    return tinyfl_status_names[index];
}
