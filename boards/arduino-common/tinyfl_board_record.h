/* The one record a board's storage hooks keep: the privacy ledger's, followed in an image with
 * secure aggregation by the extension holding the central RDP sum, written in the same storage
 * write (firmware/secagg/device/tinyfl_secagg_ledger.h). Buffers of the hooks are sized by it. */
#ifndef TINYFL_BOARD_RECORD_H
#define TINYFL_BOARD_RECORD_H

#include "tinyfl_ledger.h"

#ifdef TINYFL_SECAGG
#include "tinyfl_secagg_ledger.h"
#define TINYFL_BOARD_RECORD_MAX (TINYFL_LEDGER_SIZE + TINYFL_SECAGG_LEDGER_EXT_SIZE)
#else
#define TINYFL_BOARD_RECORD_MAX TINYFL_LEDGER_SIZE
#endif

#endif /* TINYFL_BOARD_RECORD_H */
