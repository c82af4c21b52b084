#include "tinyfl_secagg_ledger.h"

#include <string.h>

#include "tinyfl_crc32.h"

#define EXT_MAGIC 0x41534654u /* "TFSA" */
#define EXT_VERSION 1u
#define FULL_SIZE (TINYFL_LEDGER_SIZE + TINYFL_SECAGG_LEDGER_EXT_SIZE)
#define EXT_CRC_OFFSET (TINYFL_SECAGG_LEDGER_EXT_SIZE - 4u)

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static tinyfl_status read_record(void *user, uint8_t *buf, size_t len)
{
    tinyfl_secagg_ledger *l = (tinyfl_secagg_ledger *)user;
    uint8_t rec[FULL_SIZE];
    if (len != TINYFL_LEDGER_SIZE) {
        return TINYFL_E_ARG;
    }
    l->adopt_plain = 0;
    if (l->board->storage_read == NULL) {
        return TINYFL_E_IO; /* a port with only a raw-flash ledger: the ledger locks */
    }
    tinyfl_status st = l->board->storage_read(l->board->user, rec, sizeof(rec));
    if (st == TINYFL_E_TRUNCATED) {
        /* another size: a plain image's record is adopted, anything else stays damaged */
        st = l->board->storage_read(l->board->user, buf, len);
        l->adopt_plain = st == TINYFL_OK;
        return st;
    }
    if (st != TINYFL_OK) {
        return st; /* STORAGE: never written, a fresh device */
    }
    const uint8_t *ext = rec + TINYFL_LEDGER_SIZE;
    if (get_u32(ext) != EXT_MAGIC || get_u32(ext + 4) != EXT_VERSION ||
        get_u32(ext + EXT_CRC_OFFSET) != tinyfl_crc32(ext, EXT_CRC_OFFSET)) {
        return TINYFL_E_TRUNCATED; /* damaged: the ledger locks */
    }
    for (size_t i = 0; i < TINYFL_RDP_ORDERS; i++) {
        l->rdp_central[i] = get_u32(ext + 8 + 4 * i);
    }
    memcpy(buf, rec, len);
    return TINYFL_OK;
}

static tinyfl_status write_record(void *user, const uint8_t *buf, size_t len)
{
    tinyfl_secagg_ledger *l = (tinyfl_secagg_ledger *)user;
    uint8_t rec[FULL_SIZE];
    if (len != TINYFL_LEDGER_SIZE) {
        return TINYFL_E_ARG;
    }
    if (l->board->storage_write == NULL) {
        return TINYFL_E_STORAGE;
    }
    memcpy(rec, buf, len);
    uint8_t *ext = rec + TINYFL_LEDGER_SIZE;
    put_u32(ext, EXT_MAGIC);
    put_u32(ext + 4, EXT_VERSION);
    for (size_t i = 0; i < TINYFL_RDP_ORDERS; i++) {
        put_u32(ext + 8 + 4 * i, l->rdp_central[i]);
    }
    put_u32(ext + EXT_CRC_OFFSET, tinyfl_crc32(ext, EXT_CRC_OFFSET));
    return l->board->storage_write(l->board->user, rec, sizeof(rec));
}

void tinyfl_secagg_ledger_init(tinyfl_secagg_ledger *l, const tinyfl_port *board)
{
    memset(l, 0, sizeof(*l));
    l->board = board;
    /* only the storage hooks: the ledger uses nothing else, and any other use would crash
     * visibly rather than reach a board hook with the wrong user pointer */
    l->port.user = l;
    l->port.storage_read = read_record;
    l->port.storage_write = write_record;
}

void tinyfl_secagg_ledger_loaded(tinyfl_secagg_ledger *l, const tinyfl_ledger *ledger)
{
    if (l->adopt_plain && !ledger->locked) {
        memcpy(l->rdp_central, ledger->rdp, sizeof(l->rdp_central));
    }
    l->adopt_plain = 0;
}
