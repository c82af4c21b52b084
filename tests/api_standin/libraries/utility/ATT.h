// API STAND-IN, not the real header: the part of ArduinoBLE 2.0.1's src/utility/ATT.h (class
// ATTClass, global ATT) that tinyfl's Nano 33 BLE glue uses, with the real signatures.
// Compile-only. See tests/api_standin/README.md.
#pragma once

#include <Arduino.h>
#include <stdint.h>

class ATTClass {
  public:
    ATTClass();
    virtual ~ATTClass();
    virtual void setMaxMtu(uint16_t maxMtu);
    virtual uint16_t connectionHandle(uint8_t addressType, const uint8_t address[6]) const;
    virtual uint16_t mtu(uint16_t handle) const;
};

extern ATTClass &ATT;
