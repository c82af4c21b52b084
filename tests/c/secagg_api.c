/* ctypes helpers for tests/secagg_clib.py: sizes of the caller-owned structs. */
#include <stddef.h>

#include "secagg/tinyfl_secagg.h"
#include "secagg/tinyfl_shamir.h"
#include "tinyfl_drbg.h"

size_t tinyfl_test_secagg_size(void) { return sizeof(tinyfl_secagg); }
size_t tinyfl_test_secagg_neighbour_size(void) { return sizeof(tinyfl_secagg_neighbour); }
size_t tinyfl_test_secagg_config_size(void) { return sizeof(tinyfl_secagg_config); }
size_t tinyfl_test_shamir_poly_size(void) { return sizeof(tinyfl_shamir_poly); }
size_t tinyfl_test_secagg_drbg_size(void) { return sizeof(tinyfl_drbg); }
