/* The porting seam: everything board-specific that the tinyfl runtime needs.
 *
 * A board fills one tinyfl_port with its functions and passes it to tinyfl_device_init().
 * Nothing else in firmware/ touches hardware. Every function gets the board's `user` pointer.
 */
#ifndef TINYFL_PORT_H
#define TINYFL_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_status.h"

typedef struct tinyfl_port {
    void *user;

    /* Serial link. read returns at most `cap` bytes already received (0 when none, never
     * blocks longer than the board's poll interval); write sends all `len` bytes or fails. */
    size_t (*serial_read)(void *user, uint8_t *buf, size_t cap);
    tinyfl_status (*serial_write)(void *user, const uint8_t *buf, size_t len);

    /* Fills `out` with `len` bytes from the board's true entropy source (TRNG). Used only to
     * seed the noise generator; nothing from the link ever reaches the generator. */
    tinyfl_status (*entropy)(void *user, uint8_t *out, size_t len);

    /* Persistent storage of one small record (the privacy ledger). read returns STORAGE
     * when nothing was ever written; write must be durable when it returns OK. */
    tinyfl_status (*storage_read)(void *user, uint8_t *buf, size_t len);
    tinyfl_status (*storage_write)(void *user, const uint8_t *buf, size_t len);

    /* Milliseconds since boot (wraps). */
    uint32_t (*millis)(void *user);

    /* Next labelled sample collected since the last call: a raw window of `len` floats and
     * its label. Returns NO_SAMPLES when the sensor has nothing new. */
    tinyfl_status (*sample)(void *user, float *window, size_t len, uint8_t *label);

    /* Optional: a line of diagnostics (may be NULL). Never carries sample data. */
    void (*log)(void *user, const char *line);

    /* Optional raw NOR flash for the ledger (tinyfl_flashlog.h). When flash_page_count is not 0
     * the ledger is an append-only log here and the storage hooks above are not used for it.
     * Addresses are byte offsets into the ledger's region (pages of flash_page_size bytes, a
     * multiple of 4). erase sets a whole page to 0xFF bytes; write programs one aligned 32-bit
     * word (little-endian), which can only clear bits, and is called at most once per word
     * between erases; read copies `len` bytes. Each is durable when it returns OK. */
    uint32_t flash_page_size;
    uint32_t flash_page_count;
    tinyfl_status (*flash_erase)(void *user, uint32_t page);
    tinyfl_status (*flash_write)(void *user, uint32_t addr, uint32_t word);
    tinyfl_status (*flash_read)(void *user, uint32_t addr, uint8_t *buf, size_t len);
} tinyfl_port;

#endif /* TINYFL_PORT_H */
