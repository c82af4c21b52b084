// API STAND-IN, not the real header: the part of ArduinoCore-mbed's Arduino.h (Nano 33 BLE)
// that tinyfl's glue uses, with the real signatures (ArduinoCore-API api/Common.h, Print.h,
// Stream.h, HardwareSerial.h, String.h; ArduinoCore-mbed cores/arduino/USB/PluggableUSBSerial.h).
// Compile-only: nothing is defined here. See tests/api_standin/README.md.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "nrf.h"

extern "C" {
typedef enum { LOW = 0, HIGH = 1, CHANGE = 2, FALLING = 3, RISING = 4 } PinStatus;
typedef enum { INPUT = 0x0, OUTPUT = 0x1, INPUT_PULLUP = 0x2, INPUT_PULLDOWN = 0x3, OUTPUT_OPENDRAIN = 0x4 } PinMode;
typedef uint8_t pin_size_t;

void pinMode(pin_size_t pinNumber, PinMode pinMode);
PinStatus digitalRead(pin_size_t pinNumber);
void digitalWrite(pin_size_t pinNumber, PinStatus status);
unsigned long millis(void);
unsigned long micros(void);
void delay(unsigned long);
void setup(void);
void loop(void);
}

namespace arduino {

// ArduinoCore-API api/String.h: only what the BLE glue reads of BLEDevice::address().
class String {
  public:
    String(const char *cstr = "");
    String(const String &value);
    ~String(void);
    const char *c_str() const;
    unsigned int length(void) const;
};

class Print {
  public:
    virtual size_t write(uint8_t) = 0;
    size_t write(const char *str);
    virtual size_t write(const uint8_t *buffer, size_t size);
    virtual int availableForWrite();
    virtual void flush();
};

class Stream : public Print {
  public:
    virtual int available() = 0;
    virtual int read() = 0;
    virtual int peek() = 0;
};

class HardwareSerial : public Stream {
  public:
    virtual void begin(unsigned long) = 0;
    virtual void begin(unsigned long baudrate, uint16_t config) = 0;
    virtual void end() = 0;
    virtual int available(void) = 0;
    virtual int peek(void) = 0;
    virtual int read(void) = 0;
    virtual void flush(void) = 0;
    virtual size_t write(uint8_t) = 0;
    using Print::write;
    virtual operator bool() = 0;
};

// cores/arduino/USB/PluggableUSBSerial.h (the CDC-ACM port the Nano's USB connector gives)
class USBSerial : public HardwareSerial {
  public:
    void begin(unsigned long);
    void begin(unsigned long baudrate, uint16_t config);
    void end();
    int available(void);
    int peek(void);
    int read(void);
    void flush(void);
    size_t write(uint8_t c);
    size_t write(const uint8_t *buf, size_t size);
    using Print::write;
    operator bool();
    bool connected();
};

} // namespace arduino

extern arduino::USBSerial _SerialUSB;
#define SerialUSB _SerialUSB
#define Serial SerialUSB

using namespace arduino;
