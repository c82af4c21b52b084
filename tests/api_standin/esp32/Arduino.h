// API STAND-IN, not the real header: the part of arduino-esp32 2.0.x's Arduino.h that tinyfl's
// glue uses, with the real signatures (cores/esp32/esp32-hal-gpio.h, esp32-hal.h, Stream.h,
// HardwareSerial.h, Esp.h). Compile-only. See tests/api_standin/README.md.
#pragma once

#include <stddef.h>
#include <stdint.h>

#define LOW 0x0
#define HIGH 0x1
#define INPUT 0x01
#define OUTPUT 0x03
#define PULLUP 0x04
#define INPUT_PULLUP 0x05

extern "C" {
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t val);
int digitalRead(uint8_t pin);
unsigned long millis(void);
unsigned long micros(void);
void delay(uint32_t);
}

void setup(void);
void loop(void);

// Arduino.h: the loop task's stack size is this function's value; the macro defines it (the
// core's own definition is weak, returning ARDUINO_LOOP_STACK_SIZE, 8192).
size_t getArduinoLoopTaskStackSize(void);
#define SET_LOOP_TASK_STACK_SIZE(sz) size_t getArduinoLoopTaskStackSize() { return sz; }

class Print {
  public:
    virtual size_t write(uint8_t) = 0;
    size_t write(const char *str);
    virtual size_t write(const uint8_t *buffer, size_t size);
    virtual void flush();
};

class Stream : public Print {
  public:
    virtual int available() = 0;
    virtual int read() = 0;
    virtual int peek() = 0;
};

#define SERIAL_8N1 0x800001c

class HardwareSerial : public Stream {
  public:
    void begin(unsigned long baud, uint32_t config = SERIAL_8N1, int8_t rxPin = -1, int8_t txPin = -1,
               bool invert = false, unsigned long timeout_ms = 20000UL, uint8_t rxfifo_full_thrhd = 112);
    void end(bool fullyTerminate = true);
    size_t setRxBufferSize(size_t new_size);
    int available(void);
    int peek(void);
    int read(void);
    void flush(void);
    size_t write(uint8_t);
    size_t write(const uint8_t *buffer, size_t size);
    using Print::write;
    operator bool() const;
};

extern HardwareSerial Serial;

class EspClass {
  public:
    uint64_t getEfuseMac();
    uint32_t getFreeHeap();
};

extern EspClass ESP;
