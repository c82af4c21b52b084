// ESP32, ESP32-S3, ESP32-C3 devkits (arduino-esp32): the chip-specific hooks.
//
// Entropy: esp_fill_random() is true random only while the radio runs or the SAR ADC noise
// source is on, so everything the runtime asks for at boot (the bytes its start-up health
// tests examine, then the seed: TINYFL_ENTROPY_BOOT_BYTES) is drawn inside
// bootloader_random_enable()/disable() before Wi-Fi, BT or the ADC start, handed out in order
// and wiped as it goes; afterwards the runtime uses its own DRBG.
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
#include "tinyfl_board_record.h"
#include "tinyfl_entropy_health.h"
#include "tinyfl_ledger.h"
}

#ifdef TINYFL_SECAGG
// The Arduino loop task runs the whole device, 8 KB of stack by default. A secure round's
// high-water mark is 2.8 KB on the Cortex-M4F (docs/boards.md); Xtensa's register windows
// make frames larger and are not measured here, so secure images double the task's stack
// (8 KB more of the ESP32's 320 KB of data RAM). Override with -DTINYFL_ESP32_LOOP_STACK=N.
#ifndef TINYFL_ESP32_LOOP_STACK
#define TINYFL_ESP32_LOOP_STACK (16u * 1024u)
#endif
SET_LOOP_TASK_STACK_SIZE(TINYFL_ESP32_LOOP_STACK);
#endif

#define POOL_BYTES TINYFL_ENTROPY_BOOT_BYTES
#define SERIAL_RX_BUFFER 1024u
#define NVS_NAMESPACE "tinyfl"
#define NVS_LEDGER_KEY "ledger"

static Preferences prefs;
static bool prefs_ok;
static uint8_t pool[POOL_BYTES];
static size_t pool_used = POOL_BYTES; // nothing to hand out until tinyfl_board_begin()

static tinyfl_status boot_entropy(void *user, uint8_t *out, size_t len)
{
    (void)user;
    // Hands out the bytes drawn at boot, each once; past them the entropy source may be off,
    // so a further request fails (the runtime never makes one).
    if (len > POOL_BYTES - pool_used) {
        return TINYFL_E_ENTROPY;
    }
    memcpy(out, pool + pool_used, len);
    memset(pool + pool_used, 0, len);
    pool_used += len;
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
    static uint8_t check[TINYFL_BOARD_RECORD_MAX]; // the read-back; static: off the loop task's stack
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
    esp_fill_random(pool, sizeof(pool));
    bootloader_random_disable();
    pool_used = 0; // the runtime's health tests judge these bytes
    prefs_ok = prefs.begin(NVS_NAMESPACE, false);
    return prefs_ok ? 0 : -1;
}

void tinyfl_board_hooks(tinyfl_port *port)
{
    port->entropy = boot_entropy;
    port->storage_read = ledger_read;
    port->storage_write = ledger_write;
}

uint32_t tinyfl_board_device_id(void) { return (uint32_t)ESP.getEfuseMac(); }
