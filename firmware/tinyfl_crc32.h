/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), the value of Python's zlib.crc32. */
#ifndef TINYFL_CRC32_H
#define TINYFL_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: pass 0 to start, then the previous result (like zlib.crc32(data, crc)). */
uint32_t tinyfl_crc32_update(uint32_t crc, const uint8_t *buf, size_t len);

/* tinyfl_crc32_update(0, buf, len). */
uint32_t tinyfl_crc32(const uint8_t *buf, size_t len);

#endif /* TINYFL_CRC32_H */
