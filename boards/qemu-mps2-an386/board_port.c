/* The AN386's own hooks: the ledger's raw flash (-DTINYFL_AN386_FLASH_LEDGER) over the shared
 * emulated-board port (../qemu-common/qemu_port.c). */
#include "an386_port.h"

#include <string.h>

#include "an386.h"
#include "semihost.h"

#ifdef TINYFL_AN386_FLASH_LEDGER
/* The ledger's raw flash: RAM with NOR rules, each change written through to the storage file
 * (the region's image) before the hook returns, so it persists between boots. */
static void flash_restore(tinyfl_an386_board *b)
{
    memset(b->flash, 0xFF, sizeof(b->flash));
    int h = tinyfl_semihost_open(b->host.storage_path, TINYFL_SEMIHOST_MODE_RB);
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
    int h = tinyfl_semihost_open(b->host.storage_path, TINYFL_SEMIHOST_MODE_RPB);
    if (h < 0) { /* the first write: the file gets the whole region */
        h = tinyfl_semihost_open(b->host.storage_path, TINYFL_SEMIHOST_MODE_WB);
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

void tinyfl_an386_board_port(tinyfl_an386_board *b, tinyfl_port *port)
{
    tinyfl_qemu_board_port(&b->host, port); /* port->user == b: host is b's first member */
#ifdef TINYFL_AN386_FLASH_LEDGER
    flash_restore(b);
    port->flash_page_size = TINYFL_AN386_FLASH_PAGE_SIZE;
    port->flash_page_count = TINYFL_AN386_FLASH_PAGES;
    port->flash_erase = an386_flash_erase;
    port->flash_write = an386_flash_write;
    port->flash_read = an386_flash_read;
#endif
}
