/* Reads (x, multiplier, shift) int32 triples on stdin, writes
 * tinyfl_multiply_by_quantized_multiplier(x, multiplier, shift) as int32 on stdout. */
#include <stdint.h>
#include <stdio.h>

#include "kernels/tinyfl_requant.h"

int main(void)
{
    int32_t in[3];
    while (fread(in, sizeof(int32_t), 3, stdin) == 3) {
        const int32_t out = tinyfl_multiply_by_quantized_multiplier(in[0], in[1], in[2]);
        if (fwrite(&out, sizeof(out), 1, stdout) != 1) {
            return 1;
        }
    }
    return 0;
}
