/* API STAND-IN, not the real header: ESP-IDF bootloader_support/include/bootloader_random.h,
 * the functions that turn the SAR ADC noise source of the hardware RNG on and off.
 * Compile-only. See tests/api_standin/README.md. */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif
void bootloader_random_enable(void);
void bootloader_random_disable(void);
void bootloader_fill_random(void *buffer, size_t length);
#ifdef __cplusplus
}
#endif
