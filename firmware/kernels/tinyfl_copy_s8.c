/* RESHAPE / EXPAND_DIMS / SQUEEZE: the bytes do not change, only the shape. */
#include <string.h>

#include "tinyfl_kernels.h"

tinyfl_status tinyfl_copy_s8(size_t count, const int8_t *input, int8_t *output)
{
    if (input != output) {
        memmove(output, input, count);
    }
    return TINYFL_OK;
}
