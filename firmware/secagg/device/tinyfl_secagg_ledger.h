/* The ledger of an image with secure aggregation keeps a second RDP sum, the central one, in
 * an extension stored right after the plain ledger record, in the same storage write (so both
 * sums are durable together). It does so by giving tinyfl_ledger a port whose storage hooks
 * add and check the extension; the plain record and tinyfl_ledger.c are unchanged.
 *
 * Extension (little-endian): magic "TFSA" u32 | version u16 | 0 u16 | rdp_central u32 x
 * TINYFL_RDP_ORDERS | CRC-32 of what precedes it u32.
 * A record without the extension (a plain image's, after a reflash) is adopted: its releases
 * were seen whole by the server, so their central loss is their local loss (rdp_central =
 * rdp). A damaged extension reads as a damaged record: the ledger locks. Raw-flash ledgers
 * (tinyfl_flashlog) do not carry the extension: this port always uses the record hooks. */
#ifndef TINYFL_SECAGG_LEDGER_H
#define TINYFL_SECAGG_LEDGER_H

#include <stdint.h>

#include "tinyfl_ledger.h"
#include "tinyfl_port.h"

#define TINYFL_SECAGG_LEDGER_EXT_SIZE (8 + 4 * TINYFL_RDP_ORDERS + 4)

typedef struct {
    const tinyfl_port *board;
    tinyfl_port port; /* the board's port with the extension-aware storage hooks */
    uint32_t rdp_central[TINYFL_RDP_ORDERS];
    uint8_t adopt_plain; /* the last read found a plain record: take rdp_central from it */
} tinyfl_secagg_ledger;

/* Sets up the wrapping port; pass &l->port to tinyfl_ledger_load/store. */
void tinyfl_secagg_ledger_init(tinyfl_secagg_ledger *l, const tinyfl_port *board);
/* After tinyfl_ledger_load: completes the central sum of an adopted plain record. */
void tinyfl_secagg_ledger_loaded(tinyfl_secagg_ledger *l, const tinyfl_ledger *ledger);

#endif /* TINYFL_SECAGG_LEDGER_H */
