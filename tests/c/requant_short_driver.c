/* Reads (x, multiplier, shift) int32 triples on stdin; writes, as int32 pairs on stdout,
 * tinyfl_requant_short_ok(multiplier, shift) and (when ok) tinyfl_requant_short(x, m, shift),
 * else 0. */
#include <stdint.h>
#include <stdio.h>

#include "kernels/tinyfl_requant.h"

int main(void)
{
    int32_t in[3];
    while (fread(in, sizeof(int32_t), 3, stdin) == 3) {
        int32_t out[2];
        out[0] = tinyfl_requant_short_ok(in[1], in[2]);
        out[1] = out[0] ? tinyfl_requant_short(in[0], in[1], in[2]) : 0;
        if (fwrite(out, sizeof(int32_t), 2, stdout) != 2) {
            return 1;
        }
    }
    return 0;
}
