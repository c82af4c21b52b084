/* API STAND-IN, not the real header: ESP-IDF's random-number functions as esp_system.h (which
 * includes esp_random.h) declares them. Compile-only. See tests/api_standin/README.md. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
uint32_t esp_random(void);
void esp_fill_random(void *buf, size_t len);
#ifdef __cplusplus
}
#endif
