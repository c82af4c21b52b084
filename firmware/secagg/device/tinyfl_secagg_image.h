/* The secure-aggregation policy an image compiles in (TINYFL_SECAGG). The values are generated
 * by tinyfl.secagg.image into the build folder (tinyfl_secagg_image_gen.c), never taken from
 * the link: cohort bounds, the per-device noise variance and the two per-release RDP curves
 * (central: DDGauss over n_min honest devices; local: the device's own noise). */
#ifndef TINYFL_SECAGG_IMAGE_H
#define TINYFL_SECAGG_IMAGE_H

#include <stdint.h>

#include "tinyfl_rdp.h"

typedef struct {
    uint16_t n_min;
    uint16_t n_max;
    uint64_t noise_num; /* per-device variance, grid steps^2: max(sigma^2 / n_min, local^2) */
    uint64_t noise_den;
    float local_multiplier; /* sigma_local / C, as the image was configured */
} tinyfl_secagg_image;

extern const tinyfl_secagg_image tinyfl_secagg_image_policy;
extern const uint32_t tinyfl_secagg_rdp_central[TINYFL_RDP_ORDERS];
extern const uint32_t tinyfl_secagg_rdp_local[TINYFL_RDP_ORDERS];

#endif /* TINYFL_SECAGG_IMAGE_H */
