/* C++ (Arduino). What an Arduino board's glue supplies to the shared Arduino application
 * (tinyfl_arduino_app.cpp): the hooks that differ per chip. Everything else (USB serial, the
 * IMU, capture, the clock) uses Arduino APIs common to the cores. */
#ifndef TINYFL_ARDUINO_BOARD_H
#define TINYFL_ARDUINO_BOARD_H

#include <stdint.h>

extern "C" {
#include "tinyfl_port.h"
}

/* Once at boot, before anything else touches the radio or the ADC. Returns 0 on success. */
int tinyfl_board_begin(void);
/* Fills port->entropy, port->storage_read and port->storage_write (their user is NULL). */
void tinyfl_board_hooks(tinyfl_port *port);
/* A stable identifier of this chip (factory-programmed). */
uint32_t tinyfl_board_device_id(void);

#endif /* TINYFL_ARDUINO_BOARD_H */
