// ESP32, ESP32-S3, ESP32-C3 devkits (arduino-esp32): the chip-specific hooks.
//
// Entropy: esp_fill_random() is true random only while the radio runs or the SAR ADC noise
// source is on, so the seed is drawn inside bootloader_random_enable()/disable() at boot,
// before Wi-Fi, BT or the ADC start; the runtime asks for it once, then uses its own DRBG.
// Ledger: one NVS key through Preferences (NVS writes an entry atomically: a power cut leaves
// the old value or the new one).
// Device id: the low 32 bits of the factory MAC in eFuse.
#include <Arduino.h>
#include <Preferences.h>
#include <bootloader_random.h>
#include <esp_system.h>

#include <string.h>

#include "tinyfl_arduino_board.h"
extern "C" {
#include "tinyfl_drbg.h"
}

#define SEED_BYTES TINYFL_DRBG_SEED_SIZE
#define SERIAL_RX_BUFFER 1024u
#define NVS_NAMESPACE "tinyfl"
#define NVS_LEDGER_KEY "ledger"

static Preferences prefs;
static bool prefs_ok;
static uint8_t seed[SEED_BYTES];
static bool seed_ready;

static tinyfl_status seed_bytes(void *user, uint8_t *out, size_t len)
{
    (void)user;
    // Hands out the boot-time seed once; a second request (which the runtime never makes) would
    // need the entropy source again, which may no longer be on.
    if (!seed_ready || len > sizeof(seed)) {
        return TINYFL_E_ENTROPY;
    }
    memcpy(out, seed, len);
    memset(seed, 0, sizeof(seed));
    seed_ready = false;
    return TINYFL_OK;
}

static tinyfl_status ledger_read(void *user, uint8_t *buf, size_t len)
{
    (void)user;
    if (!prefs_ok) {
        return TINYFL_E_TRUNCATED; // cannot tell fresh from lost: the ledger locks
    }
    if (!prefs.isKey(NVS_LEDGER_KEY)) {
        return TINYFL_E_STORAGE; // never written
    }
    if (prefs.getBytesLength(NVS_LEDGER_KEY) != len) {
        return TINYFL_E_TRUNCATED;
    }
    return prefs.getBytes(NVS_LEDGER_KEY, buf, len) == len ? TINYFL_OK : TINYFL_E_TRUNCATED;
}

static tinyfl_status ledger_write(void *user, const uint8_t *buf, size_t len)
{
    (void)user;
    if (!prefs_ok || prefs.putBytes(NVS_LEDGER_KEY, buf, len) != len) {
        return TINYFL_E_STORAGE;
    }
    uint8_t check[256];
    if (len > sizeof(check) || prefs.getBytes(NVS_LEDGER_KEY, check, len) != len || memcmp(check, buf, len) != 0) {
        return TINYFL_E_STORAGE;
    }
    return TINYFL_OK;
}

int tinyfl_board_begin(void)
{
    // Room for a few whole frames (<= 256 bytes each once COBS-encoded) while the board trains;
    // must be set before Serial.begin().
    Serial.setRxBufferSize(SERIAL_RX_BUFFER);
    bootloader_random_enable();
    esp_fill_random(seed, sizeof(seed));
    bootloader_random_disable();
    size_t same = 1;
    while (same < sizeof(seed) && seed[same] == seed[0]) {
        same++;
    }
    seed_ready = same < sizeof(seed);
    prefs_ok = prefs.begin(NVS_NAMESPACE, false);
    return seed_ready && prefs_ok ? 0 : -1;
}

void tinyfl_board_hooks(tinyfl_port *port)
{
    port->entropy = seed_bytes;
    port->storage_read = ledger_read;
    port->storage_write = ledger_write;
}

uint32_t tinyfl_board_device_id(void) { return (uint32_t)ESP.getEfuseMac(); }
