// API STAND-IN, not the real header: the part of ArduinoBLE 2.0.1 that tinyfl's Nano 33 BLE
// glue uses (src/ArduinoBLE.h -> BLEProperty.h, BLEDevice.h, BLECharacteristic.h,
// BLEService.h, local/BLELocalDevice.h), with the real signatures. Compile-only. See
// tests/api_standin/README.md.
#pragma once

#include <Arduino.h>
#include <stdint.h>

enum BLEProperty {
    BLEBroadcast = 0x01,
    BLERead = 0x02,
    BLEWriteWithoutResponse = 0x04,
    BLEWrite = 0x08,
    BLENotify = 0x10,
    BLEIndicate = 0x20,
};

enum BLEDeviceEvent {
    BLEConnected = 0,
    BLEDisconnected = 1,
    BLEDiscovered = 2,
    BLEDeviceLastEvent
};

enum BLECharacteristicEvent {
    BLESubscribed = 0,
    BLEUnsubscribed = 1,
    BLEWritten = 3,
    BLEUpdated = BLEWritten,
    BLECharacteristicEventLast
};

class BLEDevice {
  public:
    BLEDevice();
    virtual ~BLEDevice();
    virtual bool connected() const;
    virtual bool disconnect();
    virtual String address() const;
};

typedef void (*BLEDeviceEventHandler)(BLEDevice device);

class BLECharacteristic;
typedef void (*BLECharacteristicEventHandler)(BLEDevice device, BLECharacteristic characteristic);

class BLECharacteristic {
  public:
    BLECharacteristic();
    BLECharacteristic(const char *uuid, uint16_t permissions, int valueSize, bool fixedLength = false);
    BLECharacteristic(const char *uuid, uint16_t permissions, const char *value);
    virtual ~BLECharacteristic();
    int valueSize() const;
    const uint8_t *value() const;
    int valueLength() const;
    int writeValue(const uint8_t value[], int length, bool withResponse = true);
    bool written();
    bool subscribed();
    void setEventHandler(int event, BLECharacteristicEventHandler eventHandler);
};

class BLEService {
  public:
    BLEService();
    BLEService(const char *uuid);
    virtual ~BLEService();
    void addCharacteristic(BLECharacteristic &characteristic);
};

class BLELocalDevice {
  public:
    BLELocalDevice();
    virtual ~BLELocalDevice();
    virtual int begin();
    virtual void end();
    virtual void poll();
    virtual bool connected() const;
    virtual bool setAdvertisedService(const BLEService &service);
    virtual bool setLocalName(const char *localName);
    virtual void setDeviceName(const char *deviceName);
    virtual void addService(BLEService &service);
    virtual int advertise();
    virtual void stopAdvertise();
    virtual BLEDevice central();
    virtual void setEventHandler(BLEDeviceEvent event, BLEDeviceEventHandler eventHandler);
};

extern BLELocalDevice &BLE;
