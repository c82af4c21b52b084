#include "tinyfl_ledger.h"

#include <string.h>

#include "tinyfl_config.h"
#include "tinyfl_crc32.h"

#define LEDGER_MAGIC 0x4C4C4654u /* "TFLL" */
#define RDP_OFFSET 24u
#define CRC_OFFSET (TINYFL_LEDGER_SIZE - 4u)

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    put_u16(p, (uint16_t)v);
    put_u16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p) { return (uint32_t)get_u16(p) | ((uint32_t)get_u16(p + 2) << 16); }

tinyfl_status tinyfl_ledger_load(tinyfl_ledger *ledger, const tinyfl_port *port)
{
    uint8_t rec[TINYFL_LEDGER_SIZE];
    memset(ledger, 0, sizeof(*ledger));
    if (port->flash_page_count != 0) {
        return tinyfl_flashlog_load(ledger, port);
    }
    tinyfl_status st = port->storage_read(port->user, rec, sizeof(rec));
    if (st == TINYFL_E_STORAGE) {
        return TINYFL_OK; /* never written: a fresh device */
    }
    if (st != TINYFL_OK) {
        ledger->locked = 1;
        return st;
    }
    if (get_u32(rec) != LEDGER_MAGIC || get_u16(rec + 4) != TINYFL_LEDGER_VERSION ||
        get_u32(rec + CRC_OFFSET) != tinyfl_crc32(rec, CRC_OFFSET)) {
        /* Corrupt or another format: resetting would refill the budget, so refuse every
         * release instead. */
        ledger->locked = 1;
        return TINYFL_E_STORAGE;
    }
    ledger->releases_done = get_u16(rec + 6);
    ledger->last_round = get_u32(rec + 8);
    ledger->boot_count = get_u32(rec + 12);
    ledger->last_run = get_u32(rec + 20);
    for (size_t i = 0; i < TINYFL_RDP_ORDERS; i++) {
        ledger->rdp[i] = get_u32(rec + RDP_OFFSET + 4u * i);
    }
    return TINYFL_OK;
}

tinyfl_status tinyfl_ledger_store(tinyfl_ledger *ledger, const tinyfl_port *port)
{
    uint8_t rec[TINYFL_LEDGER_SIZE];
    if (ledger->locked) {
        return TINYFL_E_STORAGE;
    }
    if (port->flash_page_count != 0) {
        return tinyfl_flashlog_store(ledger, port);
    }
    put_u32(rec, LEDGER_MAGIC);
    put_u16(rec + 4, TINYFL_LEDGER_VERSION);
    put_u16(rec + 6, ledger->releases_done);
    put_u32(rec + 8, ledger->last_round);
    put_u32(rec + 12, ledger->boot_count);
    put_u32(rec + 16, TINYFL_CONFIG_ID);
    put_u32(rec + 20, ledger->last_run);
    for (size_t i = 0; i < TINYFL_RDP_ORDERS; i++) {
        put_u32(rec + RDP_OFFSET + 4u * i, ledger->rdp[i]);
    }
    put_u32(rec + CRC_OFFSET, tinyfl_crc32(rec, CRC_OFFSET));
    return port->storage_write(port->user, rec, sizeof(rec));
}
