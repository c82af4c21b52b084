/* On-target checks of the runtime as the PlatformIO project builds it (lib/tinyfl), run under
 * QEMU by `pio test`. They check what the project generator could get wrong: the configuration
 * header and the model that were copied in, and a device that boots over the port seam. */
#include <string.h>

#include "semihost.h"
#include "tinyfl_config.h"
#include "tinyfl_crc32.h"
#include "tinyfl_device.h"
#include "tinyfl_entropy_health.h"
#include "tinyfl_ledger.h"
#include "tinyfl_model.h"

static int passed, failed;

static void report(const char *name, int ok, const char *why)
{
    tinyfl_semihost_write0("TINYFL_TEST ");
    tinyfl_semihost_write0(name);
    tinyfl_semihost_write0(ok ? " PASS\n" : " FAIL ");
    if (!ok) {
        tinyfl_semihost_write0(why);
        tinyfl_semihost_write0("\n");
    }
    if (ok) {
        passed++;
    } else {
        failed++;
    }
}

/* A port whose link and storage are RAM: what the device wrote, and its ledger record. */
typedef struct {
    uint8_t out[512];
    size_t out_len;
    uint8_t record[TINYFL_LEDGER_SIZE];
    size_t record_len;
    size_t entropy_bytes;
} fake_board;

static size_t fake_read(void *user, uint8_t *buf, size_t cap)
{
    (void)user, (void)buf, (void)cap;
    return 0;
}

static tinyfl_status fake_write(void *user, const uint8_t *buf, size_t len)
{
    fake_board *b = user;
    size_t room = sizeof(b->out) - b->out_len;
    size_t n = len < room ? len : room;
    memcpy(b->out + b->out_len, buf, n);
    b->out_len += n;
    return TINYFL_OK;
}

static tinyfl_status fake_entropy(void *user, uint8_t *out, size_t len)
{
    fake_board *b = user;
    for (size_t i = 0; i < len; i++) {
        out[i] = (uint8_t)(0x5Au ^ ((b->entropy_bytes + i) * 31u)); /* passes the health tests */
    }
    b->entropy_bytes += len;
    return TINYFL_OK;
}

static tinyfl_status fake_storage_read(void *user, uint8_t *buf, size_t len)
{
    fake_board *b = user;
    if (b->record_len == 0) {
        return TINYFL_E_STORAGE;
    }
    if (b->record_len != len) {
        return TINYFL_E_TRUNCATED;
    }
    memcpy(buf, b->record, len);
    return TINYFL_OK;
}

static tinyfl_status fake_storage_write(void *user, const uint8_t *buf, size_t len)
{
    fake_board *b = user;
    if (len > sizeof(b->record)) {
        return TINYFL_E_STORAGE;
    }
    memcpy(b->record, buf, len);
    b->record_len = len;
    return TINYFL_OK;
}

static uint32_t fake_millis(void *user)
{
    (void)user;
    return 0;
}

static tinyfl_status fake_sample(void *user, float *window, size_t len, uint8_t *label)
{
    (void)user, (void)window, (void)len, (void)label;
    return TINYFL_E_NO_SAMPLES;
}

int main(void)
{
    static tinyfl_device dev;
    static fake_board board;
    static const uint8_t check[] = "123456789";

    /* CRC-32's standard check value: the runtime was compiled for this CPU and links. */
    report("crc32_check_value", tinyfl_crc32(check, 9) == 0xCBF43926u, "crc32(\"123456789\") != 0xCBF43926");

    tinyfl_backbone bb;
    tinyfl_model_backbone(&bb);
    report("model_matches_config", bb.input_len == TINYFL_INPUT_LEN && bb.feature_len == TINYFL_HEAD_FEATURES,
           "the model's input/feature length differs from tinyfl_config_gen.h");
    report("config_is_generated", TINYFL_CONFIG_GEN_VERSION == TINYFL_CONFIG_EXPECTED_VERSION,
           "tinyfl_config_gen.h version");

    tinyfl_port port;
    memset(&port, 0, sizeof(port));
    port.user = &board;
    port.serial_read = fake_read;
    port.serial_write = fake_write;
    port.entropy = fake_entropy;
    port.storage_read = fake_storage_read;
    port.storage_write = fake_storage_write;
    port.millis = fake_millis;
    port.sample = fake_sample;
    tinyfl_status st = tinyfl_device_init(&dev, &port, &bb, 7u);
    report("device_init_ok", st == TINYFL_OK, tinyfl_status_str(st));
    report("device_draws_boot_entropy", board.entropy_bytes == TINYFL_ENTROPY_BOOT_BYTES,
           "entropy drawn at boot is not TINYFL_ENTROPY_BOOT_BYTES");
    report("device_writes_ledger", board.record_len == TINYFL_LEDGER_SIZE, "no ledger record of TINYFL_LEDGER_SIZE");
    /* The boot hello: one COBS frame, so it ends with the 0x00 delimiter and holds no other. */
    int one_frame = board.out_len > TINYFL_WIRE_HEADER_SIZE && board.out[board.out_len - 1] == 0u &&
                    memchr(board.out, 0, board.out_len - 1) == NULL;
    report("device_sends_hello_frame", one_frame, "no single delimited frame on the link");
    report("device_poll_idle", tinyfl_device_poll(&dev) == TINYFL_OK, "poll with an idle link");

    char summary[40] = "TINYFL_TESTS ";
    size_t n = strlen(summary);
    summary[n++] = (char)('0' + passed / 10);
    summary[n++] = (char)('0' + passed % 10);
    summary[n++] = ' ';
    summary[n++] = (char)('0' + failed / 10);
    summary[n++] = (char)('0' + failed % 10);
    summary[n++] = '\n';
    summary[n] = '\0';
    tinyfl_semihost_write0(summary);
    return failed == 0 ? 0 : 1;
}
