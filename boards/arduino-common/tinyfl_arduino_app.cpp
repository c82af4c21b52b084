// The Arduino application shared by the Nano 33 BLE and ESP32 boards: setup() and loop().
// The link is the USB serial port (Serial), or with TINYFL_LINK_BLE=1 the tinyfl GATT service
// (tinyfl_ble_board.h; Serial then carries only the owner's capture commands); samples are
// IMU windows recorded at the model's rate while the owner captures (tinyfl_capture.h); the
// chip-specific hooks (entropy, ledger storage, device id) come from the board's file
// (tinyfl_arduino_board.h).
#include <Arduino.h>

#include <stdio.h>
#include <string.h>

#include "tinyfl_arduino_board.h"
#include "tinyfl_capture.h"
#include "tinyfl_imu.h"
#if defined(TINYFL_LINK_BLE) && TINYFL_LINK_BLE
#include "tinyfl_ble_board.h"
#define LINK_IS_BLE 1
#else
#define LINK_IS_BLE 0
#endif
extern "C" { // the runtime is C99 without C++ guards
#include "tinyfl_device.h"
#include "tinyfl_model.h"
}

#if TINYFL_INPUT_CHANNELS != TINYFL_IMU_CHANNELS
#error "the model's window has another channel count than the IMU gives (ax ay az gx gy gz)"
#endif
#ifndef TINYFL_SAMPLE_RATE_HZ
#error "TINYFL_SAMPLE_RATE_HZ (the model's sample rate) comes from platformio.ini"
#endif
#ifndef TINYFL_SERIAL_BAUD
#define TINYFL_SERIAL_BAUD 115200
#endif
/* A button to GND on this pin starts a capture of TINYFL_CAPTURE_BUTTON_WINDOWS windows with
 * the label last chosen over the link (0 until then). -1: no button. */
#ifndef TINYFL_CAPTURE_BUTTON_PIN
#define TINYFL_CAPTURE_BUTTON_PIN 2
#endif
#ifndef TINYFL_CAPTURE_BUTTON_WINDOWS
#define TINYFL_CAPTURE_BUTTON_WINDOWS 1
#endif
#define BUTTON_DEBOUNCE_MS 50u

static const uint32_t sample_period_ms = (uint32_t)(1000.0f / (TINYFL_SAMPLE_RATE_HZ) + 0.5f);

static struct {
    tinyfl_capture capture;
    tinyfl_device dev;
    tinyfl_backbone backbone;
    tinyfl_port port;
    float latest[TINYFL_IMU_CHANNELS];
    bool have_reading;
    bool imu_ok;
    uint32_t next_sample_ms;
    int button_last;
    uint32_t button_changed_ms;
} app;

// The id in hello. A secure-aggregation image's id is its SecAgg id, which the protocol holds
// in 16 bits (1..65535; the device refuses a secure round otherwise): the owner gives each
// board its own with -DTINYFL_SECAGG_DEVICE_ID=N, else the chip's 32-bit id is folded to 16
// bits, which two boards of a large fleet may share (docs/boards.md).
static uint32_t app_device_id(void)
{
#if defined(TINYFL_SECAGG) && defined(TINYFL_SECAGG_DEVICE_ID)
#if TINYFL_SECAGG_DEVICE_ID < 1 || TINYFL_SECAGG_DEVICE_ID > 65535
#error "TINYFL_SECAGG_DEVICE_ID must be 1..65535"
#endif
    return (uint32_t)(TINYFL_SECAGG_DEVICE_ID);
#elif defined(TINYFL_SECAGG)
    uint32_t id = tinyfl_board_device_id();
    uint32_t folded = (id ^ (id >> 16)) & 0xFFFFu;
    return folded != 0u ? folded : 1u;
#else
    return tinyfl_board_device_id();
#endif
}

static void reply(void *user, const uint8_t *text, size_t len)
{
    (void)user;
    Serial.write(text, len);
}

// Drains what the USB serial holds; command lines of the owner are taken out here.
static size_t usb_serial_read(uint8_t *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap && Serial.available() > 0) {
        int c = Serial.read();
        if (c < 0) {
            break;
        }
        buf[n++] = (uint8_t)c;
    }
    return tinyfl_capture_filter(&app.capture, buf, n, reply, NULL);
}

static size_t link_read(void *user, uint8_t *buf, size_t cap)
{
    (void)user;
#if LINK_IS_BLE
    // The USB serial ends at the owner's machine: commands only; anything else is dropped,
    // never mixed into the frame stream that arrives over BLE.
    uint8_t owner[64];
    (void)usb_serial_read(owner, sizeof(owner));
    return tinyfl_ble_read(buf, cap);
#else
    return usb_serial_read(buf, cap);
#endif
}

static tinyfl_status link_write(void *user, const uint8_t *buf, size_t len)
{
    (void)user;
#if LINK_IS_BLE
    return tinyfl_ble_write(buf, len);
#else
    return Serial.write(buf, len) == len ? TINYFL_OK : TINYFL_E_IO;
#endif
}

static uint32_t clock_ms(void *user)
{
    (void)user;
    return (uint32_t)millis();
}

static tinyfl_status next_sample(void *user, float *window, size_t len, uint8_t *label)
{
    (void)user;
    return tinyfl_capture_take(&app.capture, window, len, label);
}

// Sample-and-hold at the model's rate: the IMU runs faster (~100-119 Hz); every period the
// newest reading becomes one time step. A late tick (the board was training) restarts the
// window instead of leaving a hole in it.
static void sample_imu(uint32_t now)
{
    float r[TINYFL_IMU_CHANNELS];
    if (app.imu_ok && tinyfl_imu_read(r)) {
        memcpy(app.latest, r, sizeof(r));
        app.have_reading = true;
    }
    if ((int32_t)(now - app.next_sample_ms) < 0) {
        return;
    }
    if (now - app.next_sample_ms >= sample_period_ms) {
        tinyfl_capture_gap(&app.capture);
        app.next_sample_ms = now + sample_period_ms;
        return;
    }
    app.next_sample_ms += sample_period_ms;
    if (app.have_reading) {
        tinyfl_capture_reading(&app.capture, app.latest);
    } else {
        tinyfl_capture_gap(&app.capture); // no reading yet: no step rather than a made-up one
    }
}

static void poll_button(uint32_t now)
{
#if TINYFL_CAPTURE_BUTTON_PIN >= 0
    int level = digitalRead(TINYFL_CAPTURE_BUTTON_PIN) == LOW ? 1 : 0;
    if (level != app.button_last && now - app.button_changed_ms >= BUTTON_DEBOUNCE_MS) {
        app.button_last = level;
        app.button_changed_ms = now;
        if (level == 1) {
            (void)tinyfl_capture_start(&app.capture, app.capture.label, TINYFL_CAPTURE_BUTTON_WINDOWS);
        }
    }
#else
    (void)now;
#endif
}

void setup()
{
    // Entropy first: on the ESP32 the true entropy source must be on before radio or ADC.
    int board_ok = tinyfl_board_begin();
    Serial.begin(TINYFL_SERIAL_BAUD);
#if TINYFL_CAPTURE_BUTTON_PIN >= 0
    pinMode(TINYFL_CAPTURE_BUTTON_PIN, INPUT_PULLUP);
#endif
    app.imu_ok = tinyfl_imu_begin();
    tinyfl_capture_init(&app.capture);

    memset(&app.port, 0, sizeof(app.port));
    tinyfl_board_hooks(&app.port);
    app.port.serial_read = link_read;
    app.port.serial_write = link_write;
    app.port.millis = clock_ms;
    app.port.sample = next_sample;
    app.port.log = NULL; // the serial port carries frames only
    tinyfl_model_backbone(&app.backbone);
    // A failed board start (no entropy, no flash) still boots: the runtime then refuses every
    // release and says why in its hello.
    (void)board_ok;
    (void)tinyfl_device_init(&app.dev, &app.port, &app.backbone, app_device_id());
#if LINK_IS_BLE
    // After the entropy was taken (tinyfl_board_begin): the radio starts only now. A radio
    // that fails to start leaves a board that trains but is never heard from.
    char name[24];
    snprintf(name, sizeof(name), "tinyfl-%08lx", (unsigned long)app_device_id());
    (void)tinyfl_ble_board_begin(name);
#endif
    app.next_sample_ms = (uint32_t)millis() + sample_period_ms;
}

void loop()
{
#if LINK_IS_BLE
    tinyfl_ble_board_poll();
#endif
    (void)tinyfl_device_poll(&app.dev);
    uint32_t now = (uint32_t)millis();
    sample_imu(now);
    poll_button(now);
}
