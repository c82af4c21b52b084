// ESP32: the tinyfl GATT service on NimBLE-Arduino (TINYFL_LINK_BLE=1; see
// ../arduino-common/tinyfl_ble_board.h). NimBLE calls back from its own FreeRTOS task, so the
// receive buffer is locked, and the connection state is read atomically.
#if defined(TINYFL_LINK_BLE) && TINYFL_LINK_BLE

#include <Arduino.h>
#include <NimBLEDevice.h>

#include <atomic>
#include <mutex>

#include "tinyfl_ble_board.h"

extern "C" {
#include "generated/tinyfl_wire_gen.h"
}

#define VALUE_MAX TINYFL_WIRE_BLE_VALUE_MAX(TINYFL_WIRE_BLE_MTU_MAX)
#define NO_CONNECTION 0xffffu
#define NOTIFY_TRIES 20  // the stack is out of buffers for a moment while it sends

static std::mutex rx_lock;
static std::atomic<uint16_t> connection{NO_CONNECTION};
static std::atomic<bool> subscribed{false};
static NimBLEServer *server;
static NimBLECharacteristic *tx_char;

class ServerEvents : public NimBLEServerCallbacks {
    void onConnect(NimBLEServer *srv, NimBLEConnInfo &info) override
    {
        (void)srv;
        connection = info.getConnHandle();
        tinyfl_ble_connected();
    }
    void onDisconnect(NimBLEServer *srv, NimBLEConnInfo &info, int reason) override
    {
        (void)srv;
        (void)info;
        (void)reason;
        subscribed = false;
        connection = NO_CONNECTION;  // advertising restarts by itself (advertiseOnDisconnect)
    }
};

class RxEvents : public NimBLECharacteristicCallbacks {
    void onWrite(NimBLECharacteristic *characteristic, NimBLEConnInfo &info) override
    {
        (void)info;
        NimBLEAttValue value = characteristic->getValue();
        tinyfl_ble_received(value.data(), value.size());
    }
};

class TxEvents : public NimBLECharacteristicCallbacks {
    void onSubscribe(NimBLECharacteristic *characteristic, NimBLEConnInfo &info, uint16_t sub_value) override
    {
        (void)characteristic;
        (void)info;
        subscribed = (sub_value & 0x0001u) != 0;  // bit 0: notifications
    }
};

static ServerEvents server_events;
static RxEvents rx_events;
static TxEvents tx_events;

int tinyfl_ble_board_begin(const char *name)
{
    if (!NimBLEDevice::init(name)) {
        return -1;
    }
    (void)NimBLEDevice::setMTU(TINYFL_WIRE_BLE_MTU_MAX);
    server = NimBLEDevice::createServer();
    server->setCallbacks(&server_events, false);
    NimBLEService *service = server->createService(TINYFL_WIRE_BLE_SERVICE_UUID);
    NimBLECharacteristic *rx_char = service->createCharacteristic(
        TINYFL_WIRE_BLE_RX_UUID, NIMBLE_PROPERTY::WRITE | NIMBLE_PROPERTY::WRITE_NR, VALUE_MAX);
    rx_char->setCallbacks(&rx_events);
    tx_char = service->createCharacteristic(TINYFL_WIRE_BLE_TX_UUID, NIMBLE_PROPERTY::NOTIFY, VALUE_MAX);
    tx_char->setCallbacks(&tx_events);
    if (!service->start()) {
        return -1;
    }
    NimBLEAdvertising *advertising = NimBLEDevice::getAdvertising();
    (void)advertising->addServiceUUID(TINYFL_WIRE_BLE_SERVICE_UUID);
    advertising->enableScanResponse(true);
    (void)advertising->setName(name);
    return advertising->start() ? 0 : -1;
}

void tinyfl_ble_board_poll(void) {}

uint16_t tinyfl_ble_board_mtu(void)
{
    uint16_t handle = connection;
    if (handle == NO_CONNECTION || !subscribed) {
        return 0;
    }
    return server->getPeerMTU(handle);
}

int tinyfl_ble_board_notify(const uint8_t *value, size_t len)
{
    for (int i = 0; i < NOTIFY_TRIES; i++) {
        uint16_t handle = connection;
        if (handle == NO_CONNECTION) {
            return -1;
        }
        if (tx_char->notify(value, len, handle)) {
            return 0;
        }
        delay(2);
    }
    return -1;
}

void tinyfl_ble_board_lock(void)
{
    rx_lock.lock();
}

void tinyfl_ble_board_unlock(void)
{
    rx_lock.unlock();
}

#endif  // TINYFL_LINK_BLE
