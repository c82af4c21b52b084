/* Reads tinyfl_add_params as 12 int32 values per record on stdin; writes each record's
 * tinyfl_add_s8_table (512 int32) on stdout, for the generator's Python table to be compared. */
#include <stdint.h>
#include <stdio.h>

#include "kernels/tinyfl_add_s8_fast.h"

int main(void)
{
    int32_t in[12];
    while (fread(in, sizeof(int32_t), 12, stdin) == 12) {
        const tinyfl_add_params p = {in[0], in[1], in[2], in[3], in[4],  in[5],
                                     in[6], in[7], in[8], in[9], in[10], in[11]};
        int32_t table[512];
        tinyfl_add_s8_table(&p, table);
        if (fwrite(table, sizeof(int32_t), 512, stdout) != 512) {
            return 1;
        }
    }
    return 0;
}
