/* Test driver for the wire: the C receiver and the generated codec, driven over stdin.
 *
 * One command per line, one JSON line out per command:
 *   V <name> <hex>                      feed the link bytes to a fresh tinyfl_frame_rx; print
 *                                       the messages (decoded fields, or the decode status),
 *                                       the rejection counters and frames_ok
 *   R <type> <payload hex>              decode with the generated decoder, re-encode; print both
 *   S <type> <seq> <chunk> <payload hex> tinyfl_frame_send; print the bytes written
 * While feeding, it checks the receiver's counting invariants byte by byte and that every
 * accepted payload re-encodes to the same bytes; a violation aborts (the test sees a crash).
 * Built for the host by tests/test_wire_c.py (also with sanitizers) and with
 * arm-none-eabi-gcc -c to prove it builds for Cortex-M4. */
#define TINYFL_WIRE_EXPECTED_SPEC_VERSION 3
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfl_frame.h"
#include "tinyfl_status.h"

#define LINE_MAX_CHARS (1u << 20)

static char line[LINE_MAX_CHARS];
static uint8_t bytes[LINE_MAX_CHARS / 2];
static uint8_t encoded[TINYFL_WIRE_MAX_MESSAGE];
static uint8_t sent[TINYFL_WIRE_MAX_MESSAGE * 2];
static size_t sent_len;
static float params[TINYFL_WIRE_MAX_PARAMS];
static int32_t values[TINYFL_WIRE_MAX_PARAMS];
static uint32_t words[TINYFL_WIRE_MAX_PARAMS];
static uint16_t ids[TINYFL_WIRE_MAX_PARAMS];
static uint8_t records[TINYFL_WIRE_MAX_MESSAGE];
static tinyfl_frame_rx rx;

static void fail(const char *what)
{
    fprintf(stderr, "wire_vectors_main: invariant violated: %s\n", what);
    abort();
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static size_t parse_hex(const char *text, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (text[0] != '\0' && text[1] != '\0') {
        int hi = hex_value(text[0]);
        int lo = hex_value(text[1]);
        if (hi < 0 || lo < 0 || n >= cap) {
            fail("bad hex input");
        }
        out[n++] = (uint8_t)(hi * 16 + lo);
        text += 2;
    }
    return n;
}

static void print_hex(const uint8_t *buf, size_t len)
{
    size_t i;
    putchar('"');
    for (i = 0; i < len; ++i) {
        printf("%02x", buf[i]);
    }
    putchar('"');
}

static void print_f32(float v)
{
    if (v != v) {
        printf("\"nan\"");
    } else if (v > 3.4028235e38f) {
        printf("\"inf\"");
    } else if (v < -3.4028235e38f) {
        printf("\"-inf\"");
    } else {
        printf("%.9g", (double)v);
    }
}

static void print_u(const char *name, uint64_t v, int last)
{
    char digits[21]; /* by hand: newlib's <inttypes.h> has no PRIu64 under -std=c99 */
    size_t n = sizeof digits - 1;
    digits[n] = '\0';
    do {
        digits[--n] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    printf("\"%s\": %s%s", name, digits + n, last ? "" : ", ");
}

static void print_f(const char *name, float v, int last)
{
    printf("\"%s\": ", name);
    print_f32(v);
    printf("%s", last ? "" : ", ");
}

static void print_floats(const char *name, const float *v, size_t n, int last)
{
    size_t i;
    printf("\"%s\": [", name);
    for (i = 0; i < n; ++i) {
        print_f32(v[i]);
        printf("%s", i + 1 < n ? ", " : "");
    }
    printf("]%s", last ? "" : ", ");
}

static void print_ints(const char *name, const int32_t *v, size_t n, int last)
{
    size_t i;
    printf("\"%s\": [", name);
    for (i = 0; i < n; ++i) {
        printf("%" PRId32 "%s", v[i], i + 1 < n ? ", " : "");
    }
    printf("]%s", last ? "" : ", ");
}

static void print_words(const char *name, const uint32_t *v, size_t n, int last)
{
    size_t i;
    printf("\"%s\": [", name);
    for (i = 0; i < n; ++i) {
        printf("%" PRIu32 "%s", v[i], i + 1 < n ? ", " : "");
    }
    printf("]%s", last ? "" : ", ");
}

static void print_ids(const char *name, const uint16_t *v, size_t n, int last)
{
    size_t i;
    printf("\"%s\": [", name);
    for (i = 0; i < n; ++i) {
        printf("%u%s", (unsigned)v[i], i + 1 < n ? ", " : "");
    }
    printf("]%s", last ? "" : ", ");
}

/* n records of `size` bytes, each a hex string */
static void print_records(const char *name, const uint8_t *v, size_t n, size_t size, int last)
{
    size_t i;
    printf("\"%s\": [", name);
    for (i = 0; i < n; ++i) {
        print_hex(v + i * size, size);
        printf("%s", i + 1 < n ? ", " : "");
    }
    printf("]%s", last ? "" : ", ");
}

static void print_key(const char *name, const uint8_t *v, size_t size, int last)
{
    printf("\"%s\": ", name);
    print_hex(v, size);
    printf("%s", last ? "" : ", ");
}

static const char *type_name(uint8_t type)
{
    switch (type) {
    case TINYFL_MSG_HELLO:
        return "hello";
    case TINYFL_MSG_HELLO_REQUEST:
        return "hello_request";
    case TINYFL_MSG_GLOBAL_MODEL:
        return "global_model";
    case TINYFL_MSG_UPDATE:
        return "update";
    case TINYFL_MSG_ERROR:
        return "error";
    case TINYFL_MSG_BUDGET_EXHAUSTED:
        return "budget_exhausted";
    case TINYFL_MSG_SET_DP_CONFIG:
        return "set_dp_config";
    case TINYFL_MSG_SECAGG_POLICY:
        return "secagg_policy";
    case TINYFL_MSG_SECAGG_KEYS:
        return "secagg_keys";
    case TINYFL_MSG_SECAGG_NEIGHBOURS:
        return "secagg_neighbours";
    case TINYFL_MSG_SECAGG_SHARES:
        return "secagg_shares";
    case TINYFL_MSG_SECAGG_SHARE_FOR_YOU:
        return "secagg_share_for_you";
    case TINYFL_MSG_SECAGG_MASK_REQUEST:
        return "secagg_mask_request";
    case TINYFL_MSG_SECAGG_MASKED_UPDATE:
        return "secagg_masked_update";
    case TINYFL_MSG_SECAGG_UNMASK_REQUEST:
        return "secagg_unmask_request";
    case TINYFL_MSG_SECAGG_REVEAL:
        return "secagg_reveal";
    default:
        return "unknown";
    }
}

/* Decodes `payload` as `type`; on OK prints "fields": {...} when `print` and re-encodes into
 * `encoded` (*encoded_len). Returns the decode (or encode) status. */
static tinyfl_status decode_one(uint8_t type, const uint8_t *payload, size_t len, int print,
                                size_t *encoded_len)
{
    tinyfl_status st = TINYFL_E_TYPE;
    *encoded_len = 0;
    switch (type) {
    case TINYFL_MSG_HELLO: {
        tinyfl_msg_hello m;
        m.refusals = values;
        m.refusals_cap = TINYFL_WIRE_MAX_PARAMS;
        st = tinyfl_msg_hello_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("device_id", m.device_id, 0);
            print_u("firmware_hash", m.firmware_hash, 0);
            print_u("model_hash", m.model_hash, 0);
            print_u("n_classes", m.n_classes, 0);
            print_u("n_features", m.n_features, 0);
            print_f("clip", m.clip, 0);
            print_f("noise_multiplier", m.noise_multiplier, 0);
            print_u("grid_bits", m.grid_bits, 0);
            print_f("delta", m.delta, 0);
            print_f("eps_limit", m.eps_limit, 0);
            print_f("eps_spent", m.eps_spent, 0);
            print_u("releases_done", m.releases_done, 0);
            print_u("releases_max", m.releases_max, 0);
            print_u("flags", m.flags, 0);
            print_u("max_chunk", m.max_chunk, 0);
            print_u("last_run", m.last_run, 0);
            print_u("last_round", m.last_round, 0);
            print_ints("refusals", m.refusals, m.refusals_count, 1);
            printf("}");
        }
        st = tinyfl_msg_hello_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_HELLO_REQUEST: {
        tinyfl_msg_hello_request m;
        st = tinyfl_msg_hello_request_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {}");
        }
        st = tinyfl_msg_hello_request_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_GLOBAL_MODEL: {
        tinyfl_msg_global_model m;
        m.params = params;
        m.params_cap = TINYFL_WIRE_MAX_PARAMS;
        st = tinyfl_msg_global_model_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("run", m.run, 0);
            print_u("round", m.round, 0);
            print_u("nonce", m.nonce, 0);
            print_f("lr", m.lr, 0);
            print_u("local_epochs", m.local_epochs, 0);
            print_u("batch_size", m.batch_size, 0);
            print_u("n_classes", m.n_classes, 0);
            print_u("n_features", m.n_features, 0);
            print_floats("params", m.params, m.params_count, 1);
            printf("}");
        }
        st = tinyfl_msg_global_model_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_UPDATE: {
        tinyfl_msg_update m;
        m.values = values;
        m.values_cap = TINYFL_WIRE_MAX_PARAMS;
        st = tinyfl_msg_update_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("run", m.run, 0);
            print_u("round", m.round, 0);
            print_u("nonce", m.nonce, 0);
            print_u("sample_count", m.sample_count, 0);
            print_f("grid_step", m.grid_step, 0);
            print_f("eps_spent", m.eps_spent, 0);
            print_u("releases_done", m.releases_done, 0);
            print_u("n_classes", m.n_classes, 0);
            print_u("n_features", m.n_features, 0);
            print_ints("values", m.values, m.values_count, 1);
            printf("}");
        }
        st = tinyfl_msg_update_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_ERROR: {
        tinyfl_msg_error m;
        st = tinyfl_msg_error_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("code", m.code, 0);
            print_u("round", m.round, 0);
            print_u("detail", m.detail, 1);
            printf("}");
        }
        st = tinyfl_msg_error_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_BUDGET_EXHAUSTED: {
        tinyfl_msg_budget_exhausted m;
        st = tinyfl_msg_budget_exhausted_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("round", m.round, 0);
            print_f("eps_spent", m.eps_spent, 0);
            print_f("eps_limit", m.eps_limit, 0);
            print_u("releases_done", m.releases_done, 1);
            printf("}");
        }
        st = tinyfl_msg_budget_exhausted_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_SET_DP_CONFIG: {
        tinyfl_msg_set_dp_config m;
        st = tinyfl_msg_set_dp_config_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_f("clip", m.clip, 0);
            print_f("noise_multiplier", m.noise_multiplier, 0);
            print_f("eps_limit", m.eps_limit, 0);
            printf("\"seed\": ");
            print_hex(m.seed, sizeof m.seed);
            printf("}");
        }
        st = tinyfl_msg_set_dp_config_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_SECAGG_POLICY: {
        tinyfl_msg_secagg_policy m;
        st = tinyfl_msg_secagg_policy_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("device_id", m.device_id, 0);
            print_u("n_min", m.n_min, 0);
            print_u("n_max", m.n_max, 0);
            print_u("k_max", m.k_max, 0);
            print_u("noise_num", m.noise_num, 0);
            print_u("noise_den", m.noise_den, 0);
            print_f("local_multiplier", m.local_multiplier, 0);
            print_f("central_eps_spent", m.central_eps_spent, 0);
            print_f("local_eps_spent", m.local_eps_spent, 1);
            printf("}");
        }
        st = tinyfl_msg_secagg_policy_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_SECAGG_KEYS: {
        tinyfl_msg_secagg_keys m;
        st = tinyfl_msg_secagg_keys_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("run", m.run, 0);
            print_u("round", m.round, 0);
            print_key("c_pk", m.c_pk, sizeof m.c_pk, 0);
            print_key("s_pk", m.s_pk, sizeof m.s_pk, 1);
            printf("}");
        }
        st = tinyfl_msg_secagg_keys_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_SECAGG_NEIGHBOURS: {
        tinyfl_msg_secagg_neighbours m;
        m.neighbours = (uint8_t(*)[66])records;
        m.neighbours_cap = (uint16_t)(sizeof records / 66u);
        st = tinyfl_msg_secagg_neighbours_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("run", m.run, 0);
            print_u("round", m.round, 0);
            print_u("t", m.t, 0);
            print_records("neighbours", records, m.neighbours_count, 66u, 1);
            printf("}");
        }
        st = tinyfl_msg_secagg_neighbours_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_SECAGG_SHARES: {
        tinyfl_msg_secagg_shares m;
        m.ciphers = (uint8_t(*)[85])records;
        m.ciphers_cap = (uint16_t)(sizeof records / 85u);
        st = tinyfl_msg_secagg_shares_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("run", m.run, 0);
            print_u("round", m.round, 0);
            print_records("ciphers", records, m.ciphers_count, 85u, 1);
            printf("}");
        }
        st = tinyfl_msg_secagg_shares_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_SECAGG_SHARE_FOR_YOU: {
        tinyfl_msg_secagg_share_for_you m;
        st = tinyfl_msg_secagg_share_for_you_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("run", m.run, 0);
            print_u("round", m.round, 0);
            print_u("sender", m.sender, 0);
            print_key("cipher", m.cipher, sizeof m.cipher, 1);
            printf("}");
        }
        st = tinyfl_msg_secagg_share_for_you_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_SECAGG_MASK_REQUEST: {
        tinyfl_msg_secagg_mask_request m;
        m.alive = ids;
        m.alive_cap = TINYFL_WIRE_MAX_PARAMS;
        st = tinyfl_msg_secagg_mask_request_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("run", m.run, 0);
            print_u("round", m.round, 0);
            print_u("cohort", m.cohort, 0);
            print_ids("alive", m.alive, m.alive_count, 1);
            printf("}");
        }
        st = tinyfl_msg_secagg_mask_request_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_SECAGG_MASKED_UPDATE: {
        tinyfl_msg_secagg_masked_update m;
        m.values = words;
        m.values_cap = TINYFL_WIRE_MAX_PARAMS;
        st = tinyfl_msg_secagg_masked_update_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("run", m.run, 0);
            print_u("round", m.round, 0);
            print_u("nonce", m.nonce, 0);
            print_u("sample_count", m.sample_count, 0);
            print_f("grid_step", m.grid_step, 0);
            print_f("central_eps_spent", m.central_eps_spent, 0);
            print_f("local_eps_spent", m.local_eps_spent, 0);
            print_u("releases_done", m.releases_done, 0);
            print_u("n_classes", m.n_classes, 0);
            print_u("n_features", m.n_features, 0);
            print_words("values", m.values, m.values_count, 1);
            printf("}");
        }
        st = tinyfl_msg_secagg_masked_update_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_SECAGG_UNMASK_REQUEST: {
        tinyfl_msg_secagg_unmask_request m;
        m.survived = ids;
        m.survived_cap = TINYFL_WIRE_MAX_PARAMS;
        st = tinyfl_msg_secagg_unmask_request_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("run", m.run, 0);
            print_u("round", m.round, 0);
            print_u("cohort", m.cohort, 0);
            print_ids("survived", m.survived, m.survived_count, 1);
            printf("}");
        }
        st = tinyfl_msg_secagg_unmask_request_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    case TINYFL_MSG_SECAGG_REVEAL: {
        tinyfl_msg_secagg_reveal m;
        m.records = (uint8_t(*)[36])records;
        m.records_cap = (uint16_t)(sizeof records / 36u);
        st = tinyfl_msg_secagg_reveal_decode(&m, payload, len);
        if (st != TINYFL_OK) {
            return st;
        }
        if (print) {
            printf("\"fields\": {");
            print_u("run", m.run, 0);
            print_u("round", m.round, 0);
            print_records("records", records, m.records_count, 36u, 1);
            printf("}");
        }
        st = tinyfl_msg_secagg_reveal_encode(&m, encoded, sizeof encoded, encoded_len);
        break;
    }
    default:
        break;
    }
    return st;
}

static uint32_t rejected_total(void)
{
    uint32_t total = 0;
    size_t i;
    for (i = 0; i < TINYFL_STATUS_COUNT; ++i) {
        total += rx.rejected[i];
    }
    return total;
}

static void feed(const char *name, const uint8_t *buf, size_t len)
{
    size_t i;
    size_t segment = 0; /* bytes since the last delimiter */
    int first = 1;
    tinyfl_frame_rx_init(&rx);
    printf("{\"name\": \"%s\", \"messages\": [", name);
    for (i = 0; i < len; ++i) {
        uint32_t ok_before = rx.frames_ok;
        uint32_t rej_before = rejected_total();
        uint32_t chunk_before = rx.rejected[TINYFL_E_CHUNK];
        uint32_t counted;
        tinyfl_status st = tinyfl_frame_rx_push(&rx, buf[i]);
        counted = (rx.frames_ok - ok_before) + (rejected_total() - rej_before);
        if (buf[i] != 0u) {
            ++segment;
            /* only the byte that makes a frame too long is counted before its delimiter */
            if (counted != (segment == TINYFL_FRAME_MAX_ENCODED ? 1u : 0u)) {
                fail("count while receiving a frame");
            }
            if (st != (segment == TINYFL_FRAME_MAX_ENCODED ? TINYFL_E_OVERSIZE : TINYFL_AGAIN)) {
                fail("status while receiving a frame");
            }
        } else {
            if (segment == 0 || segment >= TINYFL_FRAME_MAX_ENCODED) {
                if (counted != 0 || st != TINYFL_AGAIN) {
                    fail("idle or discarded delimiter counted");
                }
            } else if (counted < 1 || counted > 2) {
                fail("a frame not counted exactly once (plus one abandoned message)");
            } else if (counted == 2 && rx.rejected[TINYFL_E_CHUNK] == chunk_before) {
                fail("a second count that is not an abandoned message");
            } else if (st != TINYFL_OK && st != TINYFL_AGAIN && rx.rejected[st] == 0) {
                fail("a returned rejection not counted");
            }
            segment = 0;
        }
        if (st == TINYFL_OK) {
            size_t encoded_len;
            tinyfl_status dst;
            if (rx.msg_len > TINYFL_WIRE_MAX_MESSAGE) {
                fail("message longer than MAX_MESSAGE");
            }
            printf("%s{\"type\": \"%s\", \"seq\": %u, ", first ? "" : ", ", type_name(rx.msg_type),
                   (unsigned)rx.msg_seq);
            first = 0;
            dst = decode_one(rx.msg_type, rx.msg, rx.msg_len, 1, &encoded_len);
            if (dst == TINYFL_OK) {
                if (encoded_len != rx.msg_len || memcmp(encoded, rx.msg, encoded_len) != 0) {
                    fail("an accepted payload does not re-encode to the same bytes");
                }
            } else {
                printf("\"error\": \"%s\"", tinyfl_status_str(dst));
            }
            printf("}");
        }
    }
    printf("], \"rejected\": {");
    first = 1;
    for (i = 0; i < TINYFL_STATUS_COUNT; ++i) {
        if (rx.rejected[i] != 0) {
            printf("%s\"%s\": %" PRIu32, first ? "" : ", ", tinyfl_status_str((tinyfl_status)i),
                   rx.rejected[i]);
            first = 0;
        }
    }
    printf("}, \"frames_ok\": %" PRIu32 "}\n", rx.frames_ok);
}

static tinyfl_status collect(void *user, const uint8_t *buf, size_t len)
{
    (void)user;
    if (len > sizeof sent - sent_len) {
        return TINYFL_E_OVERSIZE;
    }
    memcpy(sent + sent_len, buf, len);
    sent_len += len;
    return TINYFL_OK;
}

int main(void)
{
    while (fgets(line, sizeof line, stdin) != NULL) {
        char *cmd = strtok(line, " \n");
        if (cmd == NULL) {
            continue;
        }
        if (strcmp(cmd, "V") == 0) {
            char *name = strtok(NULL, " \n");
            char *hex = strtok(NULL, " \n");
            size_t n = parse_hex(hex != NULL ? hex : "", bytes, sizeof bytes);
            feed(name != NULL ? name : "?", bytes, n);
        } else if (strcmp(cmd, "R") == 0) {
            unsigned type = (unsigned)strtoul(strtok(NULL, " \n"), NULL, 10);
            char *hex = strtok(NULL, " \n");
            size_t n = parse_hex(hex != NULL ? hex : "", bytes, sizeof bytes);
            size_t encoded_len;
            tinyfl_status st = decode_one((uint8_t)type, bytes, n, 0, &encoded_len);
            printf("{\"status\": \"%s\", \"hex\": ", tinyfl_status_str(st));
            print_hex(encoded, st == TINYFL_OK ? encoded_len : 0);
            printf("}\n");
        } else if (strcmp(cmd, "S") == 0) {
            unsigned type = (unsigned)strtoul(strtok(NULL, " \n"), NULL, 10);
            unsigned seq = (unsigned)strtoul(strtok(NULL, " \n"), NULL, 10);
            unsigned chunk = (unsigned)strtoul(strtok(NULL, " \n"), NULL, 10);
            char *hex = strtok(NULL, " \n");
            size_t n = parse_hex(hex != NULL ? hex : "", bytes, sizeof bytes);
            tinyfl_status st;
            sent_len = 0;
            st = tinyfl_frame_send((uint8_t)type, (uint16_t)seq, bytes, n, chunk, collect, NULL);
            printf("{\"status\": \"%s\", \"hex\": ", tinyfl_status_str(st));
            print_hex(sent, sent_len);
            printf("}\n");
        } else {
            fail("unknown command");
        }
        fflush(stdout);
    }
    return 0;
}
