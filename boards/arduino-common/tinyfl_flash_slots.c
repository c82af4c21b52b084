#include "tinyfl_flash_slots.h"

#include <string.h>

#include "tinyfl_crc32.h"

#define SLOT_MAGIC 0x314C4654u /* "TFL1" little-endian */
#define RECORD_MAX (TINYFL_FLASH_SLOT_IMAGE_MAX - TINYFL_FLASH_SLOT_HEADER)

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t slot_crc(const uint8_t *image, size_t len)
{
    uint32_t crc = tinyfl_crc32(image + 4, 6); /* seq and len */
    return tinyfl_crc32_update(crc, image + TINYFL_FLASH_SLOT_HEADER, len);
}

/* What one slot holds: 1 a valid copy (seq and length out), 0 erased, -1 anything else. */
static int inspect(tinyfl_flash_slots *fs, unsigned slot, uint32_t *seq, size_t *len)
{
    uint8_t *img = fs->image;
    if (fs->read(fs->user, slot * fs->slot_size, img, TINYFL_FLASH_SLOT_HEADER) != TINYFL_OK) {
        return -1;
    }
    size_t n = (size_t)img[8] | ((size_t)img[9] << 8);
    if (get_u32(img) != SLOT_MAGIC || n > RECORD_MAX) {
        for (size_t i = 0; i < TINYFL_FLASH_SLOT_HEADER; i++) {
            if (img[i] != 0xFFu) {
                return -1;
            }
        }
        return 0;
    }
    if (fs->read(fs->user, slot * fs->slot_size + TINYFL_FLASH_SLOT_HEADER, img + TINYFL_FLASH_SLOT_HEADER, n) !=
            TINYFL_OK ||
        slot_crc(img, n) != get_u32(img + 12)) {
        return -1;
    }
    *seq = get_u32(img + 4);
    *len = n;
    return 1;
}

/* The slot with the newest valid copy, or -1; *state: 0 both erased, 1 some copy, -1 damage only. */
static int newest(tinyfl_flash_slots *fs, uint32_t *seq_out, int *state)
{
    uint32_t seq[2] = {0, 0};
    size_t len[2];
    int st[2];
    for (unsigned s = 0; s < 2u; s++) {
        st[s] = inspect(fs, s, &seq[s], &len[s]);
    }
    int best = -1;
    if (st[0] == 1 && st[1] == 1) {
        best = (int32_t)(seq[1] - seq[0]) > 0 ? 1 : 0; /* wrap-safe */
    } else if (st[0] == 1 || st[1] == 1) {
        best = st[0] == 1 ? 0 : 1;
    }
    *state = best >= 0 ? 1 : (st[0] == 0 && st[1] == 0 ? 0 : -1);
    if (best >= 0) {
        *seq_out = seq[best];
    }
    return best;
}

tinyfl_status tinyfl_flash_slots_read(tinyfl_flash_slots *fs, uint8_t *buf, size_t len)
{
    uint32_t seq;
    int state;
    int slot = newest(fs, &seq, &state);
    if (slot < 0) {
        return state == 0 ? TINYFL_E_STORAGE : TINYFL_E_TRUNCATED;
    }
    size_t n;
    if (inspect(fs, (unsigned)slot, &seq, &n) != 1 || n != len) {
        return TINYFL_E_TRUNCATED;
    }
    memcpy(buf, fs->image + TINYFL_FLASH_SLOT_HEADER, len);
    return TINYFL_OK;
}

tinyfl_status tinyfl_flash_slots_write(tinyfl_flash_slots *fs, const uint8_t *buf, size_t len)
{
    if (len > RECORD_MAX || fs->slot_size < TINYFL_FLASH_SLOT_IMAGE_MAX) {
        return TINYFL_E_ARG;
    }
    uint32_t seq = 0;
    int state;
    int slot = newest(fs, &seq, &state);
    unsigned target = slot == 0 ? 1u : 0u;
    uint32_t next = slot < 0 ? 1u : seq + 1u;

    uint8_t *img = fs->image;
    size_t total = (TINYFL_FLASH_SLOT_HEADER + len + 3u) & ~(size_t)3u;
    memset(img, 0xFF, total);
    put_u32(img, SLOT_MAGIC);
    put_u32(img + 4, next);
    img[8] = (uint8_t)len;
    img[9] = (uint8_t)(len >> 8);
    memcpy(img + TINYFL_FLASH_SLOT_HEADER, buf, len);
    put_u32(img + 12, slot_crc(img, len));
    if (fs->erase(fs->user, target * fs->slot_size, fs->slot_size) != TINYFL_OK ||
        fs->program(fs->user, target * fs->slot_size, img, total) != TINYFL_OK) {
        return TINYFL_E_STORAGE;
    }
    uint32_t got_seq;
    size_t got_len;
    if (inspect(fs, target, &got_seq, &got_len) != 1 || got_seq != next || got_len != len ||
        memcmp(fs->image + TINYFL_FLASH_SLOT_HEADER, buf, len) != 0) {
        return TINYFL_E_STORAGE;
    }
    return TINYFL_OK;
}
