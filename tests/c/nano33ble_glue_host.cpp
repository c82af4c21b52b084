// The Nano 33 BLE board glue (boards/nano33ble + boards/arduino-common) run on the host: the
// stand-in's declarations (tests/api_standin/mbed-nano33ble, libraries) get fake definitions
// here, built with -DTINYFL_STANDIN_HOST_REGISTERS so NRF_RNG and NRF_FICR are ours.
//
// Fakes: Serial and the clock as in glue_host_common.h; the LSM9DS1 gives a reading every
// 10 ms; FlashIAP is 1 MB of RAM with NOR semantics (erase to 0xFF in 4 KB sectors, program only
// clears bits, both checked for alignment); the RNG peripheral produces a byte every 120 us
// of micros() between TASKS_START and TASKS_STOP, and only while CONFIG.DERCEN (bias correction) is on.
// The image end (__etext etc.) comes from the link (--defsym), so a test can make the program
// image overlap the ledger pages.
#include <Arduino.h>
#include <Arduino_LSM9DS1.h>
#include <drivers/FlashIAP.h>

#include <stdlib.h>
#include <string.h>

#include "glue_host_common.h"

// --- registers ---------------------------------------------------------------------------
NRF_FICR_Type tinyfl_standin_ficr = {{0, 0, 0, 0}, 4096, 256, {0}, {0x5EED0042u, 0x00C0FFEEu}};
NRF_RNG_Type tinyfl_standin_rng = {};

// The peripheral advances with the fake microsecond clock (the glue times its wait with
// micros()): a byte every 120 us while started, and only with bias correction on. Its tasks act
// when written (tinyfl_standin_task), so a STOP at the end of one read and the START of the next
// are seen in order. No thread, so a loaded machine cannot make it late.
static unsigned long fake_us;
static unsigned long rng_last_us;
static bool rng_running;
static FILE *rng_noise;

void tinyfl_standin_task::operator=(uint32_t value)
{
    written = value;
    if (value != 1u) {
        return; // only writing 1 triggers a task
    }
    if (this == &tinyfl_standin_rng.TASKS_START) {
        rng_running = true;
        rng_last_us = fake_us; // the first value comes 120 us after the start
    } else if (this == &tinyfl_standin_rng.TASKS_STOP) {
        rng_running = false;
    }
}

static void rng_tick(void)
{
    NRF_RNG_Type *r = &tinyfl_standin_rng;
    if (rng_running && (r->CONFIG & RNG_CONFIG_DERCEN_Msk) && r->EVENTS_VALRDY == 0 &&
        fake_us - rng_last_us >= 120u) {
        *(volatile uint32_t *)&r->VALUE = (uint32_t)fgetc(rng_noise) & 0xFFu;
        r->EVENTS_VALRDY = 1;
        rng_last_us = fake_us;
    }
}

// --- Arduino core (ArduinoCore-API + mbed USB serial) -----------------------------------
extern "C" {
void pinMode(pin_size_t, PinMode) {}
PinStatus digitalRead(pin_size_t) { return HIGH; } // no capture button pressed
void digitalWrite(pin_size_t, PinStatus) {}
unsigned long millis(void) { return fake_now_ms; }
// Each look at the clock lets 1 us pass (and the RNG peripheral run).
unsigned long micros(void)
{
    fake_us++;
    rng_tick();
    return fake_us;
}
void delay(unsigned long ms) { fake_now_ms += ms; }
}

namespace arduino {
size_t Print::write(const char *str) { return write((const uint8_t *)str, strlen(str)); }
size_t Print::write(const uint8_t *buffer, size_t size) { return fake_serial_write(buffer, size); }
int Print::availableForWrite() { return 0; }
void Print::flush() {}
void USBSerial::begin(unsigned long) { fake_serial_begin(); }
void USBSerial::begin(unsigned long baud, uint16_t) { begin(baud); }
void USBSerial::end() {}
int USBSerial::available(void) { return fake_serial_available(); }
int USBSerial::peek(void) { return fake_serial_peek(); }
int USBSerial::read(void) { return fake_serial_read(); }
void USBSerial::flush(void) { fflush(stdout); }
size_t USBSerial::write(uint8_t c) { return fake_serial_write(&c, 1); }
size_t USBSerial::write(const uint8_t *buf, size_t size) { return fake_serial_write(buf, size); }
USBSerial::operator bool() { return true; }
bool USBSerial::connected() { return true; }
} // namespace arduino
arduino::USBSerial _SerialUSB;

// --- mbed FlashIAP -------------------------------------------------------------------------
#define FLASH_SIZE (1u << 20)
#define SECTOR 4096u
static uint8_t flash_mem[FLASH_SIZE];

int mbed::FlashIAP::init() { return memset(flash_mem, 0xFF, sizeof(flash_mem)), 0; }
int mbed::FlashIAP::deinit() { return 0; }
int mbed::FlashIAP::read(void *buffer, uint32_t addr, uint32_t size)
{
    if (addr > FLASH_SIZE || size > FLASH_SIZE - addr) {
        return -1;
    }
    memcpy(buffer, flash_mem + addr, size);
    return 0;
}
int mbed::FlashIAP::program(const void *buffer, uint32_t addr, uint32_t size)
{
    if (addr % 4u != 0u || size % 4u != 0u || addr > FLASH_SIZE || size > FLASH_SIZE - addr) {
        return -1;
    }
    const uint8_t *src = (const uint8_t *)buffer;
    for (uint32_t i = 0; i < size; i++) {
        flash_mem[addr + i] &= src[i];
    }
    return 0;
}
int mbed::FlashIAP::erase(uint32_t addr, uint32_t size)
{
    if (addr % SECTOR != 0u || size % SECTOR != 0u || addr > FLASH_SIZE || size > FLASH_SIZE - addr) {
        return -1;
    }
    memset(flash_mem + addr, 0xFF, size);
    return 0;
}
uint32_t mbed::FlashIAP::get_sector_size(uint32_t) const { return SECTOR; }
uint32_t mbed::FlashIAP::get_flash_start() const { return 0; }
uint32_t mbed::FlashIAP::get_flash_size() const { return FLASH_SIZE; }
uint32_t mbed::FlashIAP::get_page_size() const { return 4; }
uint8_t mbed::FlashIAP::get_erase_value() const { return 0xFF; }

// --- the LSM9DS1: 119 Hz in the real part, 100 Hz here -----------------------------------
static unsigned long last_accel_ms = ~0ul, last_gyro_ms = ~0ul;

LSM9DS1Class::~LSM9DS1Class() {}
int LSM9DS1Class::begin() { return 1; }
void LSM9DS1Class::end() {}
int LSM9DS1Class::accelerationAvailable() { return fake_now_ms / 10 != last_accel_ms / 10 ? 1 : 0; }
int LSM9DS1Class::gyroscopeAvailable() { return fake_now_ms / 10 != last_gyro_ms / 10 ? 1 : 0; }
float LSM9DS1Class::accelerationSampleRate() { return 119.0f; }
float LSM9DS1Class::gyroscopeSampleRate() { return 119.0f; }
int LSM9DS1Class::readAcceleration(float &x, float &y, float &z)
{
    last_accel_ms = fake_now_ms;
    float t = (float)(fake_now_ms % 1000u) / 1000.0f;
    x = t, y = -t, z = 1.0f;
    return 1;
}
int LSM9DS1Class::readGyroscope(float &x, float &y, float &z)
{
    last_gyro_ms = fake_now_ms;
    x = -5.0f, y = 5.0f, z = 0.0f;
    return 1;
}
LSM9DS1Class IMU_LSM9DS1;

int main(void)
{
    rng_noise = fopen("/dev/urandom", "rb");
    if (rng_noise == NULL) {
        return 1;
    }
    return run_glue();
}
