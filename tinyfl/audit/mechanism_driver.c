/* Bulk entry point around the firmware's update protection, for the audit (ctypes, see
 * tinyfl/audit/mechanism.py): the very code a device runs (tinyfl_protect.c, tinyfl_dgauss.c,
 * tinyfl_drbg.c), called `count` times in one foreign call so that the hundreds of thousands of
 * releases a tight audit needs cost seconds, not minutes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyfl_drbg.h"
#include "tinyfl_protect.h"

size_t tinyfl_audit_drbg_size(void)
{
    return sizeof(tinyfl_drbg);
}

/* out is count x n int32 (row-major); scratch holds n floats. Returns the first status that
 * is not OK (then the rows from there on are undefined), else OK. */
int tinyfl_audit_releases(float clip, uint8_t grid_bits, uint64_t var_num, uint64_t var_den,
                          int noise_enabled, tinyfl_drbg *drbg, const float *update, size_t n,
                          size_t count, float *scratch, int32_t *out)
{
    tinyfl_protect_config cfg;
    size_t i;
    memset(&cfg, 0, sizeof(cfg));
    cfg.clip = clip;
    cfg.grid_bits = grid_bits;
    cfg.noise.num = var_num;
    cfg.noise.den = var_den;
    cfg.noise_enabled = (uint8_t)(noise_enabled != 0);
    for (i = 0; i < count; i++) {
        tinyfl_status st;
        memcpy(scratch, update, n * sizeof(float));
        st = tinyfl_protect_update(&cfg, drbg, scratch, n, &out[i * n]);
        if (st != TINYFL_OK) {
            return (int)st;
        }
    }
    return (int)TINYFL_OK;
}
