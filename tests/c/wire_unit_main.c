/* Unit checks of the C wire runtime that the vectors cannot reach: argument checks, encoder
 * refusals, caller capacities, CRC-32 and COBS reference values, write failures. Prints one
 * line per failed check and "PASS <n>" when all n checks hold (tests/test_wire_c.py). */
#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 3
#include <stdio.h>
#include <string.h>

#include "tinyfl_cobs.h"
#include "tinyfl_crc32.h"
#include "tinyfl_frame.h"
#include "tinyfl_status.h"

static int checks;
static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        ++checks;                                                          \
        if (!(cond)) {                                                     \
            ++failures;                                                    \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
        }                                                                  \
    } while (0)

static uint8_t buf[TINYFL_WIRE_MAX_MESSAGE + 64];
static float params[TINYFL_WIRE_MAX_PARAMS + 1];
static int32_t values[TINYFL_WIRE_MAX_PARAMS];
static tinyfl_frame_rx rx;
static size_t writes;

static tinyfl_status failing_write(void *user, const uint8_t *data, size_t len)
{
    (void)user;
    (void)data;
    (void)len;
    ++writes;
    return writes == 2 ? TINYFL_E_IO : TINYFL_OK;
}

static tinyfl_status loopback_write(void *user, const uint8_t *data, size_t len)
{
    size_t i;
    tinyfl_status *last = (tinyfl_status *)user;
    for (i = 0; i < len; ++i) {
        tinyfl_status st = tinyfl_frame_rx_push(&rx, data[i]);
        if (st != TINYFL_AGAIN) {
            *last = st;
        }
    }
    return TINYFL_OK;
}

static float quiet_nan(void)
{
    union {
        uint32_t u;
        float f;
    } bits;
    bits.u = 0x7FC00000u;
    return bits.f;
}

static int32_t refusals[32];

/* A hello at its largest: every refusal counter needs 5 varint bytes. */
static tinyfl_msg_hello valid_hello(void)
{
    tinyfl_msg_hello h;
    size_t i;
    memset(&h, 0, sizeof h);
    for (i = 0; i < 32; ++i) {
        refusals[i] = INT32_MIN;
    }
    h.refusals = refusals;
    h.refusals_count = 32;
    h.refusals_cap = 32;
    h.n_classes = 2;
    h.n_features = 8;
    h.clip = 1.0f;
    h.noise_multiplier = 1.0f;
    h.grid_bits = 12;
    h.delta = 1e-5f;
    h.eps_limit = 4.0f;
    h.max_chunk = 240;
    return h;
}

static void test_status_and_crc(void)
{
    static const uint8_t check_string[] = "123456789";
    CHECK(strcmp(tinyfl_status_str(TINYFL_OK), "OK") == 0);
    CHECK(strcmp(tinyfl_status_str(TINYFL_E_CRC), "CRC") == 0);
    CHECK(strcmp(tinyfl_status_str(TINYFL_E_INTERNAL), "INTERNAL") == 0);
    CHECK(strcmp(tinyfl_status_str((tinyfl_status)TINYFL_STATUS_COUNT), "UNKNOWN") == 0);
    CHECK(tinyfl_crc32(check_string, 9) == 0xCBF43926u); /* the CRC-32 check value */
    CHECK(tinyfl_crc32(check_string, 0) == 0u);
    CHECK(tinyfl_crc32_update(tinyfl_crc32(check_string, 4), check_string + 4, 5) == 0xCBF43926u);
    CHECK(tinyfl_wire_type_known(TINYFL_MSG_UPDATE) == 1);
    CHECK(tinyfl_wire_type_known(0) == 0);
    CHECK(tinyfl_wire_type_known(200) == 0);
}

static void test_cobs(void)
{
    static const uint8_t in[] = {0x11, 0x22, 0x00, 0x33};
    static const uint8_t expected[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    uint8_t out[300];
    uint8_t long_run[254];
    size_t n = 0;
    size_t i;
    CHECK(tinyfl_cobs_encode(in, sizeof in, out, sizeof out, &n) == TINYFL_OK);
    CHECK(n == sizeof expected && memcmp(out, expected, n) == 0);
    CHECK(tinyfl_cobs_encode(in, sizeof in, out, 4, &n) == TINYFL_E_OVERSIZE);
    CHECK(tinyfl_cobs_encode(NULL, 0, out, sizeof out, &n) == TINYFL_OK && n == 1 && out[0] == 1);
    for (i = 0; i < sizeof long_run; ++i) {
        long_run[i] = (uint8_t)(i % 255u + 1u);
    }
    CHECK(tinyfl_cobs_encode(long_run, sizeof long_run, out, sizeof out, &n) == TINYFL_OK);
    CHECK(n == TINYFL_COBS_MAX_ENCODED(sizeof long_run) && out[0] == 0xFF && out[255] == 0x01);
    CHECK(tinyfl_cobs_decode(out, n, out, n, &n) == TINYFL_OK); /* in place */
    CHECK(n == sizeof long_run && memcmp(out, long_run, n) == 0);
    CHECK(tinyfl_cobs_decode(expected, sizeof expected, out, 3, &n) == TINYFL_E_OVERSIZE);
    CHECK(tinyfl_cobs_decode(expected, 4, out, sizeof out, &n) == TINYFL_E_COBS);
    CHECK(tinyfl_cobs_decode(in, sizeof in, out, sizeof out, &n) == TINYFL_E_COBS);
    CHECK(tinyfl_cobs_decode(expected, sizeof expected, NULL, 0, &n) == TINYFL_E_ARG);
}

static void test_encoders(void)
{
    tinyfl_msg_hello h = valid_hello();
    tinyfl_msg_hello back;
    tinyfl_msg_global_model g;
    tinyfl_msg_update u;
    tinyfl_msg_hello_request r;
    size_t len = 0;
    size_t i;
    CHECK(tinyfl_msg_hello_encode(&h, buf, sizeof buf, &len) == TINYFL_OK);
    CHECK(len == TINYFL_MSG_HELLO_MAX_SIZE);
    back.refusals = values;
    back.refusals_cap = 32;
    CHECK(tinyfl_msg_hello_decode(&back, buf, len) == TINYFL_OK && back.max_chunk == 240 &&
          back.refusals_count == 32 && back.refusals[31] == INT32_MIN);
    CHECK(tinyfl_msg_hello_encode(&h, buf, len - 1, &len) == TINYFL_E_OVERSIZE);
    CHECK(tinyfl_msg_hello_encode(NULL, buf, sizeof buf, &len) == TINYFL_E_ARG);
    CHECK(tinyfl_msg_hello_encode(&h, buf, sizeof buf, NULL) == TINYFL_E_ARG);
    CHECK(tinyfl_msg_hello_decode(NULL, buf, 4) == TINYFL_E_ARG);
    CHECK(tinyfl_msg_hello_decode(&back, NULL, 4) == TINYFL_E_ARG);
    CHECK(tinyfl_msg_hello_decode(&back, NULL, 0) == TINYFL_E_TRUNCATED);
    h.clip = -h.clip;
    CHECK(tinyfl_msg_hello_encode(&h, buf, sizeof buf, &len) == TINYFL_E_VALUE);
    h = valid_hello();
    h.delta = 2.0f;
    CHECK(tinyfl_msg_hello_encode(&h, buf, sizeof buf, &len) == TINYFL_E_VALUE);
    h = valid_hello();
    h.grid_bits = 25;
    CHECK(tinyfl_msg_hello_encode(&h, buf, sizeof buf, &len) == TINYFL_E_VALUE);
    CHECK(tinyfl_msg_hello_request_encode(&r, buf, 0, &len) == TINYFL_OK && len == 0);
    CHECK(tinyfl_msg_hello_request_decode(&r, NULL, 0) == TINYFL_OK);

    memset(&g, 0, sizeof g);
    g.run = 1;
    g.round = 1;
    g.lr = 0.1f;
    g.local_epochs = 1;
    g.batch_size = 4;
    g.n_classes = 2;
    g.n_features = 3;
    g.params = params;
    g.params_count = 8;
    for (i = 0; i < 8; ++i) {
        params[i] = (float)i - 3.5f;
    }
    CHECK(tinyfl_msg_global_model_encode(&g, buf, sizeof buf, &len) == TINYFL_OK);
    CHECK(len == 28u + 4u * 8u);
    g.params_cap = 7; /* the caller's storage is one short */
    CHECK(tinyfl_msg_global_model_decode(&g, buf, len) == TINYFL_E_OVERSIZE);
    g.params_cap = 8;
    CHECK(tinyfl_msg_global_model_decode(&g, buf, len) == TINYFL_OK && g.params_count == 8);
    g.params = NULL;
    CHECK(tinyfl_msg_global_model_decode(&g, buf, len) == TINYFL_E_ARG);
    CHECK(tinyfl_msg_global_model_encode(&g, buf, sizeof buf, &len) == TINYFL_E_ARG);
    g.params = params;
    g.params_count = TINYFL_WIRE_MAX_PARAMS + 1;
    CHECK(tinyfl_msg_global_model_encode(&g, buf, sizeof buf, &len) == TINYFL_E_OVERSIZE);
    g.params_count = 8;
    params[5] = 1e7f;
    CHECK(tinyfl_msg_global_model_encode(&g, buf, sizeof buf, &len) == TINYFL_E_VALUE);
    params[5] = quiet_nan();
    CHECK(tinyfl_msg_global_model_encode(&g, buf, sizeof buf, &len) == TINYFL_E_VALUE);
    params[5] = 0.0f;

    memset(&u, 0, sizeof u);
    u.run = 1;
    u.round = 1;
    u.n_classes = 2;
    u.n_features = 1;
    u.values = values;
    u.values_count = TINYFL_WIRE_MAX_PARAMS;
    for (i = 0; i < TINYFL_WIRE_MAX_PARAMS; ++i) {
        values[i] = (int32_t)(1 << 27); /* 5 varint bytes each: more than MAX_MESSAGE */
    }
    CHECK(tinyfl_msg_update_encode(&u, buf, sizeof buf, &len) == TINYFL_E_OVERSIZE);
    for (i = 0; i < TINYFL_WIRE_MAX_PARAMS; ++i) {
        values[i] = (int32_t)(1 << 26) - 1; /* 4 bytes each: fits */
    }
    CHECK(tinyfl_msg_update_encode(&u, buf, sizeof buf, &len) == TINYFL_OK);
    CHECK(len == 32u + 2u + 4u * TINYFL_WIRE_MAX_PARAMS);
    u.values_cap = TINYFL_WIRE_MAX_PARAMS;
    CHECK(tinyfl_msg_update_decode(&u, buf, len) == TINYFL_OK && u.values[7] == (1 << 26) - 1);
}

static void test_frames(void)
{
    tinyfl_msg_hello h = valid_hello();
    h.refusals_count = 0; /* the frame counts below are for the smallest hello */
    tinyfl_status last = TINYFL_AGAIN;
    size_t len = 0;
    CHECK(tinyfl_msg_hello_encode(&h, buf, sizeof buf, &len) == TINYFL_OK);
    CHECK(tinyfl_frame_send(TINYFL_MSG_HELLO, 1, buf, len, 19, loopback_write, &last) ==
          TINYFL_E_ARG);
    CHECK(tinyfl_frame_send(TINYFL_MSG_HELLO, 1, buf, len, 241, loopback_write, &last) ==
          TINYFL_E_ARG);
    CHECK(tinyfl_frame_send(TINYFL_MSG_HELLO, 1, NULL, len, 20, loopback_write, &last) ==
          TINYFL_E_ARG);
    CHECK(tinyfl_frame_send(TINYFL_MSG_HELLO, 1, buf, len, 20, NULL, &last) == TINYFL_E_ARG);
    CHECK(tinyfl_frame_send(99, 1, buf, len, 20, loopback_write, &last) == TINYFL_E_TYPE);
    CHECK(tinyfl_frame_send(TINYFL_MSG_UPDATE, 1, buf, TINYFL_WIRE_MAX_MESSAGE + 1, 20,
                            loopback_write, &last) == TINYFL_E_OVERSIZE);
    writes = 0;
    CHECK(tinyfl_frame_send(TINYFL_MSG_HELLO, 1, buf, len, 20, failing_write, NULL) ==
          TINYFL_E_IO);
    CHECK(writes == 2); /* stopped at the failed write */

    tinyfl_frame_rx_init(&rx);
    CHECK(tinyfl_frame_send(TINYFL_MSG_HELLO, 513, buf, len, 20, loopback_write, &last) ==
          TINYFL_OK);
    CHECK(last == TINYFL_OK && rx.msg_type == TINYFL_MSG_HELLO && rx.msg_seq == 513);
    CHECK(rx.msg_len == len && memcmp(rx.msg, buf, len) == 0 && rx.frames_ok == 3);
    last = TINYFL_AGAIN;
    CHECK(tinyfl_frame_send(TINYFL_MSG_HELLO_REQUEST, 2, NULL, 0, 20, loopback_write, &last) ==
          TINYFL_OK);
    CHECK(last == TINYFL_OK && rx.msg_len == 0 && rx.frames_ok == 4);
    CHECK(tinyfl_frame_rx_push(NULL, 0) == TINYFL_E_ARG);
}

/* The secure-aggregation field kinds: fixed-width integer arrays and fixed-size records. */
static void test_secagg_kinds(void)
{
    static uint16_t ids[40];
    static uint32_t words[TINYFL_WIRE_MAX_PARAMS + 1];
    static uint8_t records[40][66];
    tinyfl_msg_secagg_mask_request q;
    tinyfl_msg_secagg_masked_update u;
    tinyfl_msg_secagg_neighbours nb;
    size_t len = 0;
    size_t i;
    memset(&q, 0, sizeof q);
    q.run = 1;
    q.round = 2;
    q.cohort = 9;
    q.alive = ids;
    for (i = 0; i < 40; ++i) {
        ids[i] = (uint16_t)(0xFFFFu - i);
    }
    q.alive_count = 33; /* over max_count (32) */
    CHECK(tinyfl_msg_secagg_mask_request_encode(&q, buf, sizeof buf, &len) == TINYFL_E_OVERSIZE);
    q.alive_count = 3;
    CHECK(tinyfl_msg_secagg_mask_request_encode(&q, buf, sizeof buf, &len) == TINYFL_OK);
    CHECK(len == 4 + 4 + 2 + 2 + 3 * 2 && buf[12] == 0xFF && buf[13] == 0xFF && buf[14] == 0xFE);
    q.alive_cap = 2; /* the caller's storage is smaller than the count: refused before writing */
    CHECK(tinyfl_msg_secagg_mask_request_decode(&q, buf, len) == TINYFL_E_OVERSIZE);
    q.alive_cap = 3;
    CHECK(tinyfl_msg_secagg_mask_request_decode(&q, buf, len - 1) == TINYFL_E_TRUNCATED);
    CHECK(tinyfl_msg_secagg_mask_request_decode(&q, buf, len) == TINYFL_OK && q.alive[1] == 0xFFFEu);
    q.alive = NULL;
    CHECK(tinyfl_msg_secagg_mask_request_encode(&q, buf, sizeof buf, &len) == TINYFL_E_ARG);

    memset(&u, 0, sizeof u);
    u.run = 1;
    u.round = 1;
    u.n_classes = 16;
    u.n_features = 64;
    u.values = words;
    u.values_count = TINYFL_WIRE_MAX_PARAMS;
    for (i = 0; i < TINYFL_WIRE_MAX_PARAMS; ++i) {
        words[i] = 0xFFFFFFFFu - (uint32_t)i;
    }
    CHECK(tinyfl_msg_secagg_masked_update_encode(&u, buf, sizeof buf, &len) == TINYFL_OK);
    CHECK(len == TINYFL_MSG_SECAGG_MASKED_UPDATE_MAX_SIZE);
    CHECK(tinyfl_msg_secagg_masked_update_encode(&u, buf, len - 1, &len) == TINYFL_E_OVERSIZE);
    u.values_count = TINYFL_WIRE_MAX_PARAMS + 1;
    CHECK(tinyfl_msg_secagg_masked_update_encode(&u, buf, sizeof buf, &len) == TINYFL_E_OVERSIZE);

    memset(&nb, 0, sizeof nb);
    nb.run = 1;
    nb.round = 1;
    nb.t = 2;
    nb.neighbours = records;
    nb.neighbours_count = 2;
    memset(records, 0xA5, sizeof records);
    CHECK(tinyfl_msg_secagg_neighbours_encode(&nb, buf, sizeof buf, &len) == TINYFL_OK);
    CHECK(len == 4 + 4 + 1 + 2 + 2 * 66);
    memset(records, 0, sizeof records);
    nb.neighbours_cap = 1;
    CHECK(tinyfl_msg_secagg_neighbours_decode(&nb, buf, len) == TINYFL_E_OVERSIZE);
    nb.neighbours_cap = 2;
    CHECK(tinyfl_msg_secagg_neighbours_decode(&nb, buf, len) == TINYFL_OK);
    CHECK(nb.neighbours_count == 2 && records[1][65] == 0xA5 && records[2][0] == 0);
    CHECK(tinyfl_msg_secagg_neighbours_decode(&nb, buf, len - 66) == TINYFL_E_TRUNCATED);
}

int main(void)
{
    test_status_and_crc();
    test_cobs();
    test_encoders();
    test_secagg_kinds();
    test_frames();
    if (failures != 0) {
        printf("FAILED %d of %d\n", failures, checks);
        return 1;
    }
    printf("PASS %d\n", checks);
    return 0;
}
