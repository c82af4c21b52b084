// API STAND-IN, not the real header: the part of NimBLE-Arduino 2.5.1 that tinyfl's ESP32 glue
// uses (src/NimBLEDevice.h -> NimBLEServer.h, NimBLEService.h, NimBLECharacteristic.h,
// NimBLELocalValueAttribute.h, NimBLEValueAttribute.h, NimBLEAttValue.h, NimBLEConnInfo.h,
// NimBLEAdvertising.h), with the real signatures; the property values are NimBLE's
// BLE_GATT_CHR_F_* flags. Compile-only. See tests/api_standin/README.md.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>

#define BLE_HS_CONN_HANDLE_NONE 0xffff
#define BLE_ATT_ATTR_MAX_LEN 512

typedef enum {
    READ = 0x0002,
    WRITE_NR = 0x0004,
    WRITE = 0x0008,
    NOTIFY = 0x0010,
    INDICATE = 0x0020,
} NIMBLE_PROPERTY;

class NimBLEAddress;

class NimBLEConnInfo {
  public:
    uint16_t getConnHandle() const;
    uint16_t getMTU() const;
};

class NimBLEAttValue {
  public:
    uint16_t size() const;
    const uint8_t *data() const;
};

class NimBLECharacteristicCallbacks;

class NimBLECharacteristic {
  public:
    void setCallbacks(NimBLECharacteristicCallbacks *pCallbacks);
    bool notify(const uint8_t *value, size_t length, uint16_t connHandle = BLE_HS_CONN_HANDLE_NONE) const;
    NimBLEAttValue getValue() const;
    size_t getLength() const;
};

class NimBLECharacteristicCallbacks {
  public:
    virtual ~NimBLECharacteristicCallbacks();
    virtual void onWrite(NimBLECharacteristic *pCharacteristic, NimBLEConnInfo &connInfo);
    virtual void onSubscribe(NimBLECharacteristic *pCharacteristic, NimBLEConnInfo &connInfo, uint16_t subValue);
};

class NimBLEService {
  public:
    NimBLECharacteristic *createCharacteristic(const char *uuid,
                                               uint32_t properties = NIMBLE_PROPERTY::READ | NIMBLE_PROPERTY::WRITE,
                                               uint16_t max_len = BLE_ATT_ATTR_MAX_LEN);
    bool start();
};

class NimBLEServer;

class NimBLEServerCallbacks {
  public:
    virtual ~NimBLEServerCallbacks();
    virtual void onConnect(NimBLEServer *pServer, NimBLEConnInfo &connInfo);
    virtual void onDisconnect(NimBLEServer *pServer, NimBLEConnInfo &connInfo, int reason);
    virtual void onMTUChange(uint16_t MTU, NimBLEConnInfo &connInfo);
};

class NimBLEServer {
  public:
    void setCallbacks(NimBLEServerCallbacks *pCallbacks, bool deleteCallbacks = true);
    NimBLEService *createService(const char *uuid);
    uint16_t getPeerMTU(uint16_t connHandle) const;
    void advertiseOnDisconnect(bool enable);
};

class NimBLEAdvertising {
  public:
    bool start(uint32_t duration = 0, const NimBLEAddress *dirAddr = nullptr);
    void enableScanResponse(bool enable);
    bool addServiceUUID(const char *serviceUUID);
    bool setName(const std::string &name);
};

class NimBLEDevice {
  public:
    static bool init(const std::string &deviceName);
    static bool setMTU(uint16_t mtu);
    static NimBLEServer *createServer();
    static NimBLEAdvertising *getAdvertising();
};
