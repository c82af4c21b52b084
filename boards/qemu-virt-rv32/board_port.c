/* The port hooks of the rv32 virt board over UART0, the CLINT clock and picolibc's semihosting
 * calls (libsemihost). */
#include "rv32_port.h"

#include <semihost.h>
#include <string.h>

#include "virt_rv32.h"

#define SHARD_MAGIC "TFLS"
#define SHARD_VERSION 1u
#define SHARD_HEADER_SIZE 10u
#define SHARD_SAMPLE_HEAD 4u /* label u8 + 3 pad bytes */

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void console(const char *a, const char *b)
{
    sys_semihost_write0("tinyfl rv32: ");
    sys_semihost_write0(a);
    sys_semihost_write0(b);
    sys_semihost_write0("\n");
}

/* SYS_READ answers with the number of bytes NOT read: all of them read or it failed. */
static int read_all(int handle, void *buf, size_t len)
{
    return sys_semihost_read(handle, buf, len) == 0u ? 0 : -1;
}

int tinyfl_rv32_board_open(tinyfl_rv32_board *b, const char *shard_path, const char *storage_path,
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
    b->shard = sys_semihost_open(shard_path, SH_OPEN_R_B);
    if (b->shard < 0) {
        console("cannot open shard ", shard_path);
        return -1;
    }
    if (read_all(b->shard, header, sizeof(header)) != 0 || memcmp(header, SHARD_MAGIC, 4) != 0 ||
        get_u16(header + 4) != SHARD_VERSION) {
        console("not a version 1 sample shard: ", shard_path);
        return -1;
    }
    b->shard_samples = get_u16(header + 6);
    b->shard_input_len = get_u16(header + 8);
    return 0;
}

/* Drains what UART0 holds. When nothing is waiting the core sleeps until the next byte or at
 * most 10 ms: the poll interval of this board. */
static size_t rv32_serial_read(void *user, uint8_t *buf, size_t cap)
{
    (void)user;
    size_t n = 0;
    int c = tinyfl_virt_uart_getc();
    if (c < 0) {
        tinyfl_virt_idle();
        c = tinyfl_virt_uart_getc();
    }
    while (c >= 0 && n < cap) {
        buf[n++] = (uint8_t)c;
        if (n < cap) {
            c = tinyfl_virt_uart_getc();
        }
    }
    return n;
}

static tinyfl_status rv32_serial_write(void *user, const uint8_t *buf, size_t len)
{
    (void)user;
    tinyfl_virt_uart_write(buf, len);
    return TINYFL_OK;
}

/* The emulated board has no TRNG, so it reads the host's /dev/urandom through semihosting.
 * The ESP32-C3 this board stands for reads its RNG register here, which is truly random only
 * while the radio or bootloader_random_enable() is on. */
static tinyfl_status rv32_entropy(void *user, uint8_t *out, size_t len)
{
    (void)user;
    int h = sys_semihost_open("/dev/urandom", SH_OPEN_R_B);
    if (h < 0) {
        return TINYFL_E_ENTROPY;
    }
    int got = read_all(h, out, len);
    sys_semihost_close(h);
    return got == 0 ? TINYFL_OK : TINYFL_E_ENTROPY;
}

static tinyfl_status rv32_storage_read(void *user, uint8_t *buf, size_t len)
{
    const tinyfl_rv32_board *b = user;
    int h = sys_semihost_open(b->storage_path, SH_OPEN_R_B);
    if (h < 0) {
        return TINYFL_E_STORAGE; /* never written */
    }
    int got = sys_semihost_flen(h) == (uintptr_t)len ? read_all(h, buf, len) : -1;
    sys_semihost_close(h);
    /* A record of the wrong size is damaged, not absent: the ledger then locks the device. */
    return got == 0 ? TINYFL_OK : TINYFL_E_TRUNCATED;
}

/* Written to a temporary host file and renamed over the record, so a kill of the emulator
 * leaves the old record or the new one. Semihosting has no fsync: durability is the host's. */
static tinyfl_status rv32_storage_write(void *user, const uint8_t *buf, size_t len)
{
    const tinyfl_rv32_board *b = user;
    int h = sys_semihost_open(b->storage_tmp_path, SH_OPEN_W_B);
    if (h < 0) {
        return TINYFL_E_STORAGE;
    }
    uintptr_t not_written = sys_semihost_write(h, buf, len);
    int closed = sys_semihost_close(h);
    if (not_written != 0u || closed != 0 || sys_semihost_rename(b->storage_tmp_path, b->storage_path) != 0) {
        return TINYFL_E_STORAGE;
    }
    return TINYFL_OK;
}

static uint32_t rv32_millis(void *user)
{
    (void)user;
    return tinyfl_virt_millis();
}

/* Replays the shard in order and wraps around, so every round finds samples. A real sensor
 * returns NO_SAMPLES when nothing new was collected since the last call. */
static tinyfl_status rv32_sample(void *user, float *window, size_t len, uint8_t *label)
{
    tinyfl_rv32_board *b = user;
    uint8_t head[SHARD_SAMPLE_HEAD];
    if (b->shard_samples == 0) {
        return TINYFL_E_NO_SAMPLES;
    }
    if (len != b->shard_input_len) {
        return TINYFL_E_SHAPE;
    }
    uint32_t sample_size = SHARD_SAMPLE_HEAD + (uint32_t)len * 4u;
    uint32_t offset = SHARD_HEADER_SIZE + (uint32_t)b->next_sample * sample_size;
    /* float32 little-endian in the file and in RV32's memory: read straight in. */
    if (sys_semihost_seek(b->shard, offset) != 0 || read_all(b->shard, head, sizeof(head)) != 0 ||
        read_all(b->shard, window, len * sizeof(float)) != 0) {
        return TINYFL_E_IO;
    }
    *label = head[0];
    b->next_sample = (uint16_t)((b->next_sample + 1u) % b->shard_samples);
    return TINYFL_OK;
}

static void rv32_log(void *user, const char *line)
{
    (void)user;
    sys_semihost_write0(line);
    sys_semihost_write0("\n");
}

void tinyfl_rv32_board_port(tinyfl_rv32_board *b, tinyfl_port *port)
{
    memset(port, 0, sizeof(*port));
    port->user = b;
    port->serial_read = rv32_serial_read;
    port->serial_write = rv32_serial_write;
    port->entropy = rv32_entropy;
    port->storage_read = rv32_storage_read;
    port->storage_write = rv32_storage_write;
    port->millis = rv32_millis;
    port->sample = rv32_sample;
    port->log = rv32_log;
}
