// Arduino Nano 33 BLE / BLE Sense (nRF52840, ArduinoCore-mbed): the chip-specific hooks.
//
// Entropy: the RNG peripheral with digital bias correction (CONFIG.DERCEN) on, read one byte per
// VALRDY event; read only at boot, for the runtime's start-up health tests and then the seed of
// its ChaCha20 generator (TINYFL_ENTROPY_BOOT_BYTES in 64-byte reads, about 130 ms in all).
// Ledger: two 4 KB pages at the top of the internal flash, written in turn through mbed's
// FlashIAP (tinyfl_flash_slots.h); refused when the program image reaches those pages.
// Device id: the factory-programmed FICR DEVICEID.
#include <Arduino.h>
#include <drivers/FlashIAP.h> // mbed OS; ArduinoCore-mbed has mbed/ and the drivers on its include path

#include "nrf.h"
#include "tinyfl_arduino_board.h"
#include "tinyfl_flash_slots.h"

#define LEDGER_PAGES 2u
#define RNG_TIMEOUT_US 10000u /* per byte; one takes about 120 us with DERCEN on */

// End of the program image in flash, from the core's linker script (variants/ARDUINO_NANO33BLE).
extern "C" uint32_t __etext, __data_start__, __data_end__;

static mbed::FlashIAP flash;
static tinyfl_flash_slots slots;
static uint32_t ledger_base;
static bool flash_ok;

static tinyfl_status rng_bytes(void *user, uint8_t *out, size_t len)
{
    (void)user;
    NRF_RNG->CONFIG = RNG_CONFIG_DERCEN_Msk;
    NRF_RNG->EVENTS_VALRDY = 0;
    NRF_RNG->TASKS_START = 1;
    tinyfl_status st = TINYFL_OK;
    for (size_t i = 0; i < len && st == TINYFL_OK; i++) {
        uint32_t start = (uint32_t)micros();
        while (NRF_RNG->EVENTS_VALRDY == 0) {
            if ((uint32_t)micros() - start > RNG_TIMEOUT_US) {
                st = TINYFL_E_ENTROPY;
                break;
            }
        }
        out[i] = (uint8_t)(NRF_RNG->VALUE & RNG_VALUE_VALUE_Msk);
        NRF_RNG->EVENTS_VALRDY = 0;
    }
    NRF_RNG->TASKS_STOP = 1;
    // A stuck source (every byte the same) is not entropy.
    size_t same = 1;
    while (same < len && out[same] == out[0]) {
        same++;
    }
    if (len >= 16u && same == len) {
        st = TINYFL_E_ENTROPY;
    }
    return st;
}

static tinyfl_status flash_read(void *user, uint32_t offset, void *buf, size_t len)
{
    (void)user;
    return flash.read(buf, ledger_base + offset, (uint32_t)len) == 0 ? TINYFL_OK : TINYFL_E_STORAGE;
}

static tinyfl_status flash_erase(void *user, uint32_t offset, size_t len)
{
    (void)user;
    return flash.erase(ledger_base + offset, (uint32_t)len) == 0 ? TINYFL_OK : TINYFL_E_STORAGE;
}

static tinyfl_status flash_program(void *user, uint32_t offset, const void *buf, size_t len)
{
    (void)user;
    return flash.program(buf, ledger_base + offset, (uint32_t)len) == 0 ? TINYFL_OK : TINYFL_E_STORAGE;
}

static tinyfl_status ledger_read(void *user, uint8_t *buf, size_t len)
{
    (void)user;
    return flash_ok ? tinyfl_flash_slots_read(&slots, buf, len) : TINYFL_E_TRUNCATED;
}

static tinyfl_status ledger_write(void *user, const uint8_t *buf, size_t len)
{
    (void)user;
    return flash_ok ? tinyfl_flash_slots_write(&slots, buf, len) : TINYFL_E_STORAGE;
}

int tinyfl_board_begin(void)
{
    if (flash.init() != 0) {
        return -1;
    }
    uint32_t page = flash.get_sector_size(flash.get_flash_start() + flash.get_flash_size() - 1u);
    ledger_base = flash.get_flash_start() + flash.get_flash_size() - LEDGER_PAGES * page;
    uint32_t image_end = (uint32_t)(uintptr_t)&__etext +
                         (uint32_t)((uintptr_t)&__data_end__ - (uintptr_t)&__data_start__);
    flash_ok = image_end <= ledger_base && page >= TINYFL_FLASH_SLOT_IMAGE_MAX;
    slots.user = NULL;
    slots.read = flash_read;
    slots.erase = flash_erase;
    slots.program = flash_program;
    slots.slot_size = page;
    return flash_ok ? 0 : -1;
}

void tinyfl_board_hooks(tinyfl_port *port)
{
    port->entropy = rng_bytes;
    // Without usable flash the ledger reads as damaged, so the runtime locks: no release is
    // ever sent that could not be recorded.
    port->storage_read = ledger_read;
    port->storage_write = ledger_write;
}

uint32_t tinyfl_board_device_id(void) { return NRF_FICR->DEVICEID[0]; }
