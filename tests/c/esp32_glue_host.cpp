// The ESP32 board glue (boards/esp32 + boards/arduino-common) run on the host: the Arduino
// stand-in's declarations (tests/api_standin/esp32, libraries) get fake definitions here, so
// tests/test_platformio.py can drive setup()/loop() over stdin/stdout with the host's wire codec.
//
// Fakes: Serial and the clock as in glue_host_common.h; the IMU gives a reading every 10 ms whose values follow the clock; NVS
// (Preferences) is one in-memory record; esp_fill_random() reads /dev/urandom and aborts unless
// bootloader_random_enable() is in effect (the glue must seed inside that window).
#include <Arduino.h>
#include <Arduino_BMI270_BMM150.h>
#include <Preferences.h>
#include <bootloader_random.h>
#include <esp_system.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glue_host_common.h"

static bool entropy_source_on;

// --- Arduino core -----------------------------------------------------------------------
extern "C" {
void pinMode(uint8_t, uint8_t) {}
void digitalWrite(uint8_t, uint8_t) {}
int digitalRead(uint8_t) { return HIGH; } // button never pressed
unsigned long millis(void) { return fake_now_ms; }
unsigned long micros(void) { return fake_now_ms * 1000ul; }
void delay(uint32_t ms) { fake_now_ms += ms; }
}

size_t Print::write(const uint8_t *buffer, size_t size)
{
    size_t n = 0;
    while (n < size && write(buffer[n]) == 1) {
        n++;
    }
    return n;
}
void Print::flush() {}

void HardwareSerial::begin(unsigned long, uint32_t, int8_t, int8_t, bool, unsigned long, uint8_t) { fake_serial_begin(); }
void HardwareSerial::end(bool) {}
size_t HardwareSerial::setRxBufferSize(size_t n) { return n; }
int HardwareSerial::available(void) { return fake_serial_available(); }
int HardwareSerial::peek(void) { return fake_serial_peek(); }
int HardwareSerial::read(void) { return fake_serial_read(); }
void HardwareSerial::flush(void) { fflush(stdout); }
size_t HardwareSerial::write(uint8_t b) { return fake_serial_write(&b, 1); }
size_t HardwareSerial::write(const uint8_t *buffer, size_t size) { return fake_serial_write(buffer, size); }
HardwareSerial::operator bool() const { return true; }
HardwareSerial Serial;

uint64_t EspClass::getEfuseMac() { return 0xA1B2C3D4E5F6ull; }
uint32_t EspClass::getFreeHeap() { return 0; }
EspClass ESP;

// --- ESP-IDF ----------------------------------------------------------------------------
extern "C" {
void bootloader_random_enable(void) { entropy_source_on = true; }
void bootloader_random_disable(void) { entropy_source_on = false; }
void bootloader_fill_random(void *buffer, size_t length) { esp_fill_random(buffer, length); }
void esp_fill_random(void *buf, size_t len)
{
    if (!entropy_source_on) {
        fprintf(stderr, "fake esp32: esp_fill_random() without bootloader_random_enable()\n");
        abort();
    }
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(buf, 1, len, f) != len) {
        abort();
    }
    fclose(f);
}
uint32_t esp_random(void)
{
    uint32_t v;
    esp_fill_random(&v, sizeof(v));
    return v;
}
}

// --- Preferences (NVS): one namespace, one record ---------------------------------------
// Room for blobs of a few KB, as real NVS (the ledger record is 652 bytes).
static uint8_t nvs_value[4096];
static size_t nvs_len;
static bool nvs_has;

Preferences::Preferences() {}
Preferences::~Preferences() {}
bool Preferences::begin(const char *, bool, const char *) { return true; }
void Preferences::end() {}
bool Preferences::clear() { return nvs_has = false, true; }
bool Preferences::remove(const char *) { return nvs_has = false, true; }
bool Preferences::isKey(const char *key) { return nvs_has && strcmp(key, "ledger") == 0; }
size_t Preferences::putBytes(const char *, const void *value, size_t len)
{
    if (len > sizeof(nvs_value)) {
        return 0;
    }
    memcpy(nvs_value, value, len);
    nvs_len = len;
    nvs_has = true;
    return len;
}
size_t Preferences::getBytesLength(const char *) { return nvs_has ? nvs_len : 0; }
size_t Preferences::getBytes(const char *, void *buf, size_t maxLen)
{
    if (!nvs_has || maxLen < nvs_len) {
        return 0;
    }
    memcpy(buf, nvs_value, nvs_len);
    return nvs_len;
}

// --- the IMU: 100 Hz, values that follow the clock --------------------------------------
static unsigned long last_accel_ms = ~0ul, last_gyro_ms = ~0ul;

int BoschSensorClass::begin(CfgBoshSensor_t) { return 1; }
void BoschSensorClass::end() {}
int BoschSensorClass::accelerationAvailable() { return fake_now_ms / 10 != last_accel_ms / 10 ? 1 : 0; }
int BoschSensorClass::gyroscopeAvailable() { return fake_now_ms / 10 != last_gyro_ms / 10 ? 1 : 0; }
float BoschSensorClass::accelerationSampleRate() { return 100.0f; }
float BoschSensorClass::gyroscopeSampleRate() { return 100.0f; }
int BoschSensorClass::readAcceleration(float &x, float &y, float &z)
{
    last_accel_ms = fake_now_ms;
    float t = (float)(fake_now_ms % 1000u) / 1000.0f;
    x = t, y = -t, z = 1.0f;
    return 1;
}
int BoschSensorClass::readGyroscope(float &x, float &y, float &z)
{
    last_gyro_ms = fake_now_ms;
    x = 10.0f, y = 0.0f, z = -10.0f;
    return 1;
}
BoschSensorClass IMU_BMI270_BMM150;

int main(void) { return run_glue(); }
