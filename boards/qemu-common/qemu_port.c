#include "qemu_port.h"

#include <string.h>

#include "qemu_board.h"
#include "semihost.h"

#define SHARD_MAGIC "TFLS"
#define SHARD_VERSION 1u
#define SHARD_HEADER_SIZE 10u
#define SHARD_SAMPLE_HEAD 4u /* label u8 + 3 pad bytes */

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void console(const char *a, const char *b)
{
    tinyfl_semihost_write0(TINYFL_QEMU_CONSOLE_PREFIX);
    tinyfl_semihost_write0(a);
    tinyfl_semihost_write0(b);
    tinyfl_semihost_write0("\n");
}

int tinyfl_qemu_board_open(tinyfl_qemu_board *b, const char *shard_path, const char *storage_path,
                           uint32_t device_id)
{
    uint8_t header[SHARD_HEADER_SIZE];
    memset(b, 0, sizeof(*b));
    b->device_id = device_id;
    if (strlen(storage_path) >= sizeof(b->storage_path)) {
        console("storage path too long: ", storage_path);
        return -1;
    }
    strcpy(b->storage_path, storage_path);
    strcpy(b->storage_tmp_path, storage_path);
    strcat(b->storage_tmp_path, ".tmp");
    b->shard = tinyfl_semihost_open(shard_path, TINYFL_SEMIHOST_MODE_RB);
    if (b->shard < 0) {
        console("cannot open shard ", shard_path);
        return -1;
    }
    if (tinyfl_semihost_read(b->shard, header, sizeof(header)) != (long)sizeof(header) ||
        memcmp(header, SHARD_MAGIC, 4) != 0 || get_u16(header + 4) != SHARD_VERSION) {
        console("not a version 1 sample shard: ", shard_path);
        return -1;
    }
    b->shard_samples = get_u16(header + 6);
    b->shard_input_len = get_u16(header + 8);
    return 0;
}

/* Drains what the UART holds. When nothing is waiting the core sleeps until the next byte or
 * clock tick (at most 10 ms): the poll interval of the emulated boards. */
static size_t qemu_serial_read(void *user, uint8_t *buf, size_t cap)
{
    (void)user;
    size_t n = 0;
    int c = tinyfl_qemu_uart_getc();
    if (c < 0) {
        tinyfl_qemu_idle();
        c = tinyfl_qemu_uart_getc();
    }
    while (c >= 0 && n < cap) {
        buf[n++] = (uint8_t)c;
        if (n < cap) {
            c = tinyfl_qemu_uart_getc();
        }
    }
    return n;
}

static tinyfl_status qemu_serial_write(void *user, const uint8_t *buf, size_t len)
{
    (void)user;
    tinyfl_qemu_uart_write(buf, len);
    return TINYFL_OK;
}

/* The emulated boards have no TRNG, so they read the host's /dev/urandom through semihosting.
 * A real board reads its hardware RNG here (nRF52840: the RNG peripheral with bias correction;
 * ESP32 and ESP32-C3: esp_random() while the radio or bootloader_random_enable() is on). */
static tinyfl_status qemu_entropy(void *user, uint8_t *out, size_t len)
{
    (void)user;
    int h = tinyfl_semihost_open("/dev/urandom", TINYFL_SEMIHOST_MODE_RB);
    if (h < 0) {
        return TINYFL_E_ENTROPY;
    }
    long got = tinyfl_semihost_read(h, out, len);
    tinyfl_semihost_close(h);
    return got == (long)len ? TINYFL_OK : TINYFL_E_ENTROPY;
}

static tinyfl_status qemu_storage_read(void *user, uint8_t *buf, size_t len)
{
    const tinyfl_qemu_board *b = user;
    int h = tinyfl_semihost_open(b->storage_path, TINYFL_SEMIHOST_MODE_RB);
    if (h < 0) {
        return TINYFL_E_STORAGE; /* never written */
    }
    long size = tinyfl_semihost_flen(h);
    long got = size == (long)len ? tinyfl_semihost_read(h, buf, len) : -1;
    tinyfl_semihost_close(h);
    /* A record of the wrong size is damaged, not absent: the ledger then locks the device. */
    return got == (long)len ? TINYFL_OK : TINYFL_E_TRUNCATED;
}

/* Written to a temporary host file and renamed over the record, so a kill of the emulator
 * leaves the old record or the new one. Semihosting has no fsync: durability is the host's. */
static tinyfl_status qemu_storage_write(void *user, const uint8_t *buf, size_t len)
{
    const tinyfl_qemu_board *b = user;
    int h = tinyfl_semihost_open(b->storage_tmp_path, TINYFL_SEMIHOST_MODE_WB);
    if (h < 0) {
        return TINYFL_E_STORAGE;
    }
    long put = tinyfl_semihost_write(h, buf, len);
    int closed = tinyfl_semihost_close(h);
    if (put != (long)len || closed != 0 || tinyfl_semihost_rename(b->storage_tmp_path, b->storage_path) != 0) {
        return TINYFL_E_STORAGE;
    }
    return TINYFL_OK;
}

static uint32_t qemu_millis(void *user)
{
    (void)user;
    return tinyfl_qemu_millis();
}

/* Replays the shard in order and wraps around, so every round finds samples. A real sensor
 * returns NO_SAMPLES when nothing new was collected since the last call. */
static tinyfl_status qemu_sample(void *user, float *window, size_t len, uint8_t *label)
{
    tinyfl_qemu_board *b = user;
    uint8_t head[SHARD_SAMPLE_HEAD];
    if (b->shard_samples == 0) {
        return TINYFL_E_NO_SAMPLES;
    }
    if (len != b->shard_input_len) {
        return TINYFL_E_SHAPE;
    }
    uint32_t sample_size = SHARD_SAMPLE_HEAD + (uint32_t)len * 4u;
    uint32_t offset = SHARD_HEADER_SIZE + (uint32_t)b->next_sample * sample_size;
    /* float32 little-endian in the file and in both cores' memory: read straight in. */
    if (tinyfl_semihost_seek(b->shard, offset) != 0 ||
        tinyfl_semihost_read(b->shard, head, sizeof(head)) != (long)sizeof(head) ||
        tinyfl_semihost_read(b->shard, window, len * sizeof(float)) != (long)(len * sizeof(float))) {
        return TINYFL_E_IO;
    }
    *label = head[0];
    b->next_sample = (uint16_t)((b->next_sample + 1u) % b->shard_samples);
    return TINYFL_OK;
}

static void qemu_log(void *user, const char *line)
{
    (void)user;
    tinyfl_semihost_write0(line);
    tinyfl_semihost_write0("\n");
}

void tinyfl_qemu_board_port(tinyfl_qemu_board *b, tinyfl_port *port)
{
    memset(port, 0, sizeof(*port));
    port->user = b;
    port->serial_read = qemu_serial_read;
    port->serial_write = qemu_serial_write;
    port->entropy = qemu_entropy;
    port->storage_read = qemu_storage_read;
    port->storage_write = qemu_storage_write;
    port->millis = qemu_millis;
    port->sample = qemu_sample;
    port->log = qemu_log;
}
