// API STAND-IN, not the real header: the part of mbed OS drivers/FlashIAP.h (as shipped in
// ArduinoCore-mbed) that tinyfl's Nano 33 BLE glue uses, with the real signatures.
// Compile-only. See tests/api_standin/README.md.
#pragma once

#include <stdint.h>

namespace mbed {

class FlashIAP {
  public:
    constexpr FlashIAP() : _opaque(0) {}
    ~FlashIAP() {}
    int init();
    int deinit();
    int read(void *buffer, uint32_t addr, uint32_t size);
    int program(const void *buffer, uint32_t addr, uint32_t size);
    int erase(uint32_t addr, uint32_t size);
    uint32_t get_sector_size(uint32_t addr) const;
    uint32_t get_flash_start() const;
    uint32_t get_flash_size() const;
    uint32_t get_page_size() const;
    uint8_t get_erase_value() const;

  private:
    uint32_t _opaque;
};

} // namespace mbed
