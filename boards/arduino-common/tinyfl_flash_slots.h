/* The storage hook on raw flash: one small record kept in two erase units ("slots") that are
 * written in turn. Each copy carries a sequence number and a CRC-32, so a write torn by a power
 * cut leaves the previous copy readable. (The ledger's own record format is the runtime's; this
 * only stores its bytes.)
 *
 * Slot layout: magic u32 | seq u32 | len u16 | 0xFFFF | crc32(seq, len, record) u32 | record.
 * Portable C99 (host-tested with a RAM flash); the board supplies read/erase/program. */
#ifndef TINYFL_FLASH_SLOTS_H
#define TINYFL_FLASH_SLOTS_H

#ifdef __cplusplus
extern "C" { /* C99, also included from the C++ glue */
#endif

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_board_record.h"
#include "tinyfl_status.h"

#define TINYFL_FLASH_SLOT_HEADER 16u
/* header + record, rounded up to 4 bytes; the record it exists for is the ledger's (with its
 * secure-aggregation extension in such images: tinyfl_board_record.h) */
#define TINYFL_FLASH_SLOT_IMAGE_MAX ((TINYFL_FLASH_SLOT_HEADER + TINYFL_BOARD_RECORD_MAX + 3u) & ~3u)

typedef struct {
    void *user;
    /* Offsets are relative to the first slot; slot 1 starts at slot_size. */
    tinyfl_status (*read)(void *user, uint32_t offset, void *buf, size_t len);
    tinyfl_status (*erase)(void *user, uint32_t offset, size_t len);
    /* len is a multiple of 4 and offset 4-aligned (nRF52840 NVMC and ESP flash both accept). */
    tinyfl_status (*program)(void *user, uint32_t offset, const void *buf, size_t len);
    uint32_t slot_size; /* one erase unit, e.g. a 4 KB nRF52840 page */
    uint8_t image[TINYFL_FLASH_SLOT_IMAGE_MAX]; /* scratch for one slot's bytes */
} tinyfl_flash_slots;

/* The storage hooks' contract (firmware/tinyfl_port.h): STORAGE when both slots are erased
 * (never written); TRUNCATED when something was written but no copy of `len` bytes is valid
 * (the ledger then locks the device: a damaged record is never read as a fresh one). */
tinyfl_status tinyfl_flash_slots_read(tinyfl_flash_slots *fs, uint8_t *buf, size_t len);
/* Writes the slot not holding the newest copy, then reads it back; OK only when it verifies. */
tinyfl_status tinyfl_flash_slots_write(tinyfl_flash_slots *fs, const uint8_t *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TINYFL_FLASH_SLOTS_H */
