#include "an386_port.h"

#include <string.h>

#include "an386.h"
#include "semihost.h"

#define SHARD_MAGIC "TFLS"
#define SHARD_VERSION 1u
#define SHARD_HEADER_SIZE 10u
#define SHARD_SAMPLE_HEAD 4u /* label u8 + 3 pad bytes */

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void console(const char *a, const char *b)
{
    tinyfl_semihost_write0("tinyfl an386: ");
    tinyfl_semihost_write0(a);
    tinyfl_semihost_write0(b);
    tinyfl_semihost_write0("\n");
}

int tinyfl_an386_board_open(tinyfl_an386_board *b, const char *shard_path, const char *storage_path,
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

/* Drains what UART0 holds. When nothing is waiting the core sleeps until the next byte or clock
 * tick (at most 10 ms): the poll interval of this board. */
static size_t an386_serial_read(void *user, uint8_t *buf, size_t cap)
{
    (void)user;
    size_t n = 0;
    int c = tinyfl_an386_uart_getc();
    if (c < 0) {
        tinyfl_an386_idle();
        c = tinyfl_an386_uart_getc();
    }
    while (c >= 0 && n < cap) {
        buf[n++] = (uint8_t)c;
        if (n < cap) {
            c = tinyfl_an386_uart_getc();
        }
    }
    return n;
}

static tinyfl_status an386_serial_write(void *user, const uint8_t *buf, size_t len)
{
    (void)user;
    tinyfl_an386_uart_write(buf, len);
    return TINYFL_OK;
}

/* The emulated board has no TRNG, so it reads the host's /dev/urandom through semihosting.
 * A real board reads its hardware RNG here (nRF52840: the RNG peripheral with bias correction;
 * ESP32: esp_random() while the radio or bootloader_random_enable() is on). */
static tinyfl_status an386_entropy(void *user, uint8_t *out, size_t len)
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

static tinyfl_status an386_storage_read(void *user, uint8_t *buf, size_t len)
{
    const tinyfl_an386_board *b = user;
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
static tinyfl_status an386_storage_write(void *user, const uint8_t *buf, size_t len)
{
    const tinyfl_an386_board *b = user;
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

#ifdef TINYFL_AN386_FLASH_LEDGER
/* The ledger's raw flash: RAM with NOR rules, each change written through to the storage file
 * (the region's image) before the hook returns, so it persists between boots. */
static void flash_restore(tinyfl_an386_board *b)
{
    memset(b->flash, 0xFF, sizeof(b->flash));
    int h = tinyfl_semihost_open(b->storage_path, TINYFL_SEMIHOST_MODE_RB);
    if (h < 0) {
        return; /* never written: erased */
    }
    long size = tinyfl_semihost_flen(h);
    long got = size == (long)sizeof(b->flash) ? tinyfl_semihost_read(h, b->flash, sizeof(b->flash)) : -1;
    tinyfl_semihost_close(h);
    if (got != (long)sizeof(b->flash)) {
        memset(b->flash, 0, sizeof(b->flash)); /* damaged: no checkpoint anywhere, the ledger locks */
    }
}

static tinyfl_status flash_persist(const tinyfl_an386_board *b, uint32_t addr, uint32_t len)
{
    int h = tinyfl_semihost_open(b->storage_path, TINYFL_SEMIHOST_MODE_RPB);
    if (h < 0) { /* the first write: the file gets the whole region */
        h = tinyfl_semihost_open(b->storage_path, TINYFL_SEMIHOST_MODE_WB);
        addr = 0;
        len = sizeof(b->flash);
    }
    if (h < 0) {
        return TINYFL_E_STORAGE;
    }
    long put = tinyfl_semihost_seek(h, addr) == 0 ? tinyfl_semihost_write(h, b->flash + addr, len) : -1;
    int closed = tinyfl_semihost_close(h);
    return put == (long)len && closed == 0 ? TINYFL_OK : TINYFL_E_STORAGE;
}

static tinyfl_status an386_flash_erase(void *user, uint32_t page)
{
    tinyfl_an386_board *b = user;
    if (page >= TINYFL_AN386_FLASH_PAGES) {
        return TINYFL_E_STORAGE;
    }
    memset(b->flash + page * TINYFL_AN386_FLASH_PAGE_SIZE, 0xFF, TINYFL_AN386_FLASH_PAGE_SIZE);
    return flash_persist(b, page * TINYFL_AN386_FLASH_PAGE_SIZE, TINYFL_AN386_FLASH_PAGE_SIZE);
}

static tinyfl_status an386_flash_write(void *user, uint32_t addr, uint32_t word)
{
    tinyfl_an386_board *b = user;
    if (addr % 4u != 0 || addr > sizeof(b->flash) - 4u) {
        return TINYFL_E_STORAGE;
    }
    for (uint32_t i = 0; i < 4u; i++) {
        b->flash[addr + i] &= (uint8_t)(word >> (8u * i)); /* NOR: bits only clear */
    }
    return flash_persist(b, addr, 4u);
}

static tinyfl_status an386_flash_read(void *user, uint32_t addr, uint8_t *buf, size_t len)
{
    const tinyfl_an386_board *b = user;
    if (addr > sizeof(b->flash) || len > sizeof(b->flash) - addr) {
        return TINYFL_E_STORAGE;
    }
    memcpy(buf, b->flash + addr, len);
    return TINYFL_OK;
}
#endif

static uint32_t an386_millis(void *user)
{
    (void)user;
    return tinyfl_an386_millis();
}

/* Replays the shard in order and wraps around, so every round finds samples. A real sensor
 * returns NO_SAMPLES when nothing new was collected since the last call. */
static tinyfl_status an386_sample(void *user, float *window, size_t len, uint8_t *label)
{
    tinyfl_an386_board *b = user;
    uint8_t head[SHARD_SAMPLE_HEAD];
    if (b->shard_samples == 0) {
        return TINYFL_E_NO_SAMPLES;
    }
    if (len != b->shard_input_len) {
        return TINYFL_E_SHAPE;
    }
    uint32_t sample_size = SHARD_SAMPLE_HEAD + (uint32_t)len * 4u;
    uint32_t offset = SHARD_HEADER_SIZE + (uint32_t)b->next_sample * sample_size;
    /* float32 little-endian in the file and in the Cortex-M4's memory: read straight in. */
    if (tinyfl_semihost_seek(b->shard, offset) != 0 ||
        tinyfl_semihost_read(b->shard, head, sizeof(head)) != (long)sizeof(head) ||
        tinyfl_semihost_read(b->shard, window, len * sizeof(float)) != (long)(len * sizeof(float))) {
        return TINYFL_E_IO;
    }
    *label = head[0];
    b->next_sample = (uint16_t)((b->next_sample + 1u) % b->shard_samples);
    return TINYFL_OK;
}

static void an386_log(void *user, const char *line)
{
    (void)user;
    tinyfl_semihost_write0(line);
    tinyfl_semihost_write0("\n");
}

void tinyfl_an386_board_port(tinyfl_an386_board *b, tinyfl_port *port)
{
    memset(port, 0, sizeof(*port));
    port->user = b;
    port->serial_read = an386_serial_read;
    port->serial_write = an386_serial_write;
    port->entropy = an386_entropy;
    port->storage_read = an386_storage_read;
    port->storage_write = an386_storage_write;
    port->millis = an386_millis;
    port->sample = an386_sample;
    port->log = an386_log;
#ifdef TINYFL_AN386_FLASH_LEDGER
    flash_restore(b);
    port->flash_page_size = TINYFL_AN386_FLASH_PAGE_SIZE;
    port->flash_page_count = TINYFL_AN386_FLASH_PAGES;
    port->flash_erase = an386_flash_erase;
    port->flash_write = an386_flash_write;
    port->flash_read = an386_flash_read;
#endif
}
