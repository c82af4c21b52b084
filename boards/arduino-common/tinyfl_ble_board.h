/* C++ (Arduino). The BLE link of the Arduino boards (built with TINYFL_LINK_BLE=1): frames
 * travel in the tinyfl GATT service of the wire spec instead of the USB serial port, which then
 * carries only the owner's capture commands.
 *
 * A board's BLE file (nano33ble_ble.cpp: ArduinoBLE; esp32_ble.cpp: NimBLE-Arduino) supplies
 * the tinyfl_ble_board_* functions; the shared tinyfl_ble_link.cpp supplies the rest and the
 * chunking rule (tinyfl_ble_stream.h). */
#ifndef TINYFL_BLE_BOARD_H
#define TINYFL_BLE_BOARD_H

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "tinyfl_status.h"
}

/* --- supplied by the board ------------------------------------------------------------- */
/* Declares the service (TINYFL_WIRE_BLE_SERVICE_UUID: RX written by the host, TX notified by
 * the board) and advertises it as `name`. Returns 0 on success. */
int tinyfl_ble_board_begin(const char *name);
/* The stack's work, from loop() (ArduinoBLE: BLE.poll(); NimBLE runs in its own task). */
void tinyfl_ble_board_poll(void);
/* ATT MTU of the connected host once it has subscribed to TX; 0 while nobody listens. */
uint16_t tinyfl_ble_board_mtu(void);
/* One notification on TX. Returns 0 when the stack took it. */
int tinyfl_ble_board_notify(const uint8_t *value, size_t len);
/* Around the receive buffer, for stacks that call back from another task (NimBLE). */
void tinyfl_ble_board_lock(void);
void tinyfl_ble_board_unlock(void);

/* --- supplied by the shared glue, called from the board's BLE callbacks ------------------ */
void tinyfl_ble_connected(void);
void tinyfl_ble_received(const uint8_t *value, size_t len);

/* --- the link the application hands the runtime ----------------------------------------- */
size_t tinyfl_ble_read(uint8_t *buf, size_t cap);
tinyfl_status tinyfl_ble_write(const uint8_t *buf, size_t len);
/* Bytes the host wrote that did not fit the receive buffer (lost frames, recovered by the
 * host's resend). */
uint32_t tinyfl_ble_dropped(void);

#endif /* TINYFL_BLE_BOARD_H */
