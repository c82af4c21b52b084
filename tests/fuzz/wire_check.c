#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 3 /* one case per message type of the spec */
#include "wire_check.h"

#include <string.h>

#include "fuzz_fail.h"

static uint8_t again[TINYFL_WIRE_MAX_MESSAGE];

/* Decoding writes through the caller's struct: poison it first, so a field the decoder forgets
 * to set shows up as a re-encoding mismatch (or an out-of-range value) instead of passing. */
#define POISON(m) memset(&(m), 0xA5, sizeof(m))

#define ROUNDTRIP(kind, m)                                                                    \
    do {                                                                                      \
        st = tinyfl_msg_##kind##_decode(&(m), payload, len);                                  \
        if (st == TINYFL_OK) {                                                                \
            TINYFL_FUZZ_CHECK(tinyfl_msg_##kind##_encode(&(m), again, sizeof again, &n) ==    \
                                  TINYFL_OK,                                                  \
                              "an accepted " #kind " does not encode");                       \
        }                                                                                     \
    } while (0)

/* Storage of the secure-aggregation arrays, ending where the storage ends (as below). */
static uint32_t words_storage[TINYFL_WIRE_MAX_PARAMS];
static uint16_t ids_storage[TINYFL_WIRE_MAX_PARAMS];
static uint8_t records_storage[TINYFL_WIRE_MAX_MESSAGE];
#define RECORDS_CAP(size) ((uint16_t)(cap < TINYFL_WIRE_MAX_MESSAGE / (size) ? cap : TINYFL_WIRE_MAX_MESSAGE / (size)))
#define RECORDS_AT(size) ((uint8_t(*)[size])(records_storage + TINYFL_WIRE_MAX_MESSAGE - (size) * RECORDS_CAP(size)))

static tinyfl_status roundtrip(uint8_t type, const uint8_t *payload, size_t len, uint16_t cap,
                               float *params, int32_t *values)
{
    tinyfl_status st = TINYFL_E_TYPE;
    size_t n = 0;
    switch (type) {
    case TINYFL_MSG_HELLO: {
        tinyfl_msg_hello m;
        POISON(m);
        m.refusals = values;
        m.refusals_cap = cap;
        ROUNDTRIP(hello, m);
        break;
    }
    case TINYFL_MSG_HELLO_REQUEST: {
        tinyfl_msg_hello_request m;
        POISON(m);
        ROUNDTRIP(hello_request, m);
        break;
    }
    case TINYFL_MSG_GLOBAL_MODEL: {
        tinyfl_msg_global_model m;
        POISON(m);
        m.params = params;
        m.params_cap = cap;
        ROUNDTRIP(global_model, m);
        break;
    }
    case TINYFL_MSG_UPDATE: {
        tinyfl_msg_update m;
        POISON(m);
        m.values = values;
        m.values_cap = cap;
        ROUNDTRIP(update, m);
        break;
    }
    case TINYFL_MSG_ERROR: {
        tinyfl_msg_error m;
        POISON(m);
        ROUNDTRIP(error, m);
        break;
    }
    case TINYFL_MSG_BUDGET_EXHAUSTED: {
        tinyfl_msg_budget_exhausted m;
        POISON(m);
        ROUNDTRIP(budget_exhausted, m);
        break;
    }
    case TINYFL_MSG_SET_DP_CONFIG: {
        tinyfl_msg_set_dp_config m;
        POISON(m);
        ROUNDTRIP(set_dp_config, m);
        break;
    }
    case TINYFL_MSG_SECAGG_POLICY: {
        tinyfl_msg_secagg_policy m;
        POISON(m);
        ROUNDTRIP(secagg_policy, m);
        break;
    }
    case TINYFL_MSG_SECAGG_KEYS: {
        tinyfl_msg_secagg_keys m;
        POISON(m);
        ROUNDTRIP(secagg_keys, m);
        break;
    }
    case TINYFL_MSG_SECAGG_NEIGHBOURS: {
        tinyfl_msg_secagg_neighbours m;
        POISON(m);
        m.neighbours = RECORDS_AT(66);
        m.neighbours_cap = RECORDS_CAP(66);
        ROUNDTRIP(secagg_neighbours, m);
        break;
    }
    case TINYFL_MSG_SECAGG_SHARES: {
        tinyfl_msg_secagg_shares m;
        POISON(m);
        m.ciphers = RECORDS_AT(85);
        m.ciphers_cap = RECORDS_CAP(85);
        ROUNDTRIP(secagg_shares, m);
        break;
    }
    case TINYFL_MSG_SECAGG_SHARE_FOR_YOU: {
        tinyfl_msg_secagg_share_for_you m;
        POISON(m);
        ROUNDTRIP(secagg_share_for_you, m);
        break;
    }
    case TINYFL_MSG_SECAGG_MASK_REQUEST: {
        tinyfl_msg_secagg_mask_request m;
        POISON(m);
        m.alive = ids_storage + (TINYFL_WIRE_MAX_PARAMS - cap);
        m.alive_cap = cap;
        ROUNDTRIP(secagg_mask_request, m);
        break;
    }
    case TINYFL_MSG_SECAGG_MASKED_UPDATE: {
        tinyfl_msg_secagg_masked_update m;
        POISON(m);
        m.values = words_storage + (TINYFL_WIRE_MAX_PARAMS - cap);
        m.values_cap = cap;
        ROUNDTRIP(secagg_masked_update, m);
        break;
    }
    case TINYFL_MSG_SECAGG_UNMASK_REQUEST: {
        tinyfl_msg_secagg_unmask_request m;
        POISON(m);
        m.survived = ids_storage + (TINYFL_WIRE_MAX_PARAMS - cap);
        m.survived_cap = cap;
        ROUNDTRIP(secagg_unmask_request, m);
        break;
    }
    case TINYFL_MSG_SECAGG_REVEAL: {
        tinyfl_msg_secagg_reveal m;
        POISON(m);
        m.records = RECORDS_AT(36);
        m.records_cap = RECORDS_CAP(36);
        ROUNDTRIP(secagg_reveal, m);
        break;
    }
    default:
        return TINYFL_E_TYPE;
    }
    if (st == TINYFL_OK) {
        TINYFL_FUZZ_CHECK(n == len && memcmp(again, payload, len) == 0,
                          "an accepted payload re-encodes to other bytes");
    }
    return st;
}

/* Arrays handed to the decoders end exactly where the storage ends, so that writing one element
 * past `cap` runs into ASan's red zone after the global. */
static float params_storage[TINYFL_WIRE_MAX_PARAMS];
static int32_t values_storage[TINYFL_WIRE_MAX_PARAMS];

tinyfl_status tinyfl_fuzz_wire_roundtrip(uint8_t type, const uint8_t *payload, size_t len, uint16_t cap)
{
    TINYFL_FUZZ_CHECK(cap <= TINYFL_WIRE_MAX_PARAMS, "harness capacity above the spec's maximum");
    return roundtrip(type, payload, len, cap, params_storage + (TINYFL_WIRE_MAX_PARAMS - cap),
                     values_storage + (TINYFL_WIRE_MAX_PARAMS - cap));
}
