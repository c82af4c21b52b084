// Nano 33 BLE: the tinyfl GATT service on ArduinoBLE (TINYFL_LINK_BLE=1; see
// ../arduino-common/tinyfl_ble_board.h). ArduinoBLE calls back from BLE.poll(), i.e. from
// loop(), so the receive buffer needs no lock.
#if defined(TINYFL_LINK_BLE) && TINYFL_LINK_BLE

#include <Arduino.h>
#include <ArduinoBLE.h>
#include <utility/ATT.h>  // ATT.setMaxMtu(), ATT.mtu(): ArduinoBLE has no public MTU API

#include <stdlib.h>

#include "tinyfl_ble_board.h"

extern "C" {
#include "generated/tinyfl_wire_gen.h"
}

#define VALUE_MAX TINYFL_WIRE_BLE_VALUE_MAX(TINYFL_WIRE_BLE_MTU_MAX)
#define NO_CONNECTION 0xffffu

static BLEService service(TINYFL_WIRE_BLE_SERVICE_UUID);
static BLECharacteristic rx_char(TINYFL_WIRE_BLE_RX_UUID, BLEWrite | BLEWriteWithoutResponse, VALUE_MAX);
static BLECharacteristic tx_char(TINYFL_WIRE_BLE_TX_UUID, BLENotify, VALUE_MAX);
static uint16_t connection = NO_CONNECTION;

// ArduinoBLE keeps a central's connection handle private; ATT finds it by address. address()
// prints the six bytes most significant first; ATT stores them least significant first.
static uint16_t handle_of(BLEDevice central)
{
    String text = central.address();
    const char *p = text.c_str();
    uint8_t address[6];
    for (int i = 5; i >= 0; i--) {
        char *end = NULL;
        unsigned long byte = strtoul(p, &end, 16);
        if (end == p || byte > 0xff || (i > 0 && *end != ':')) {
            return NO_CONNECTION;
        }
        address[i] = (uint8_t)byte;
        p = end + (i > 0 ? 1 : 0);
    }
    for (uint8_t type = 0; type <= 1; type++) {  // public, then random address
        uint16_t handle = ATT.connectionHandle(type, address);
        if (handle != NO_CONNECTION) {
            return handle;
        }
    }
    return NO_CONNECTION;
}

static void on_connected(BLEDevice central)
{
    connection = handle_of(central);
    tinyfl_ble_connected();
}

static void on_disconnected(BLEDevice central)
{
    (void)central;
    connection = NO_CONNECTION;
    (void)BLE.advertise();  // let the host reconnect
}

static void on_written(BLEDevice central, BLECharacteristic characteristic)
{
    (void)central;
    tinyfl_ble_received(characteristic.value(), (size_t)characteristic.valueLength());
}

int tinyfl_ble_board_begin(const char *name)
{
    if (!BLE.begin()) {
        return -1;
    }
    ATT.setMaxMtu(TINYFL_WIRE_BLE_MTU_MAX);  // ArduinoBLE answers an MTU request with 23 otherwise
    BLE.setLocalName(name);
    BLE.setDeviceName(name);
    service.addCharacteristic(rx_char);
    service.addCharacteristic(tx_char);
    BLE.addService(service);
    BLE.setAdvertisedService(service);
    rx_char.setEventHandler(BLEWritten, on_written);
    BLE.setEventHandler(BLEConnected, on_connected);
    BLE.setEventHandler(BLEDisconnected, on_disconnected);
    return BLE.advertise() ? 0 : -1;
}

void tinyfl_ble_board_poll(void)
{
    BLE.poll();
}

uint16_t tinyfl_ble_board_mtu(void)
{
    if (connection == NO_CONNECTION || !tx_char.subscribed()) {
        return 0;
    }
    return ATT.mtu(connection);
}

int tinyfl_ble_board_notify(const uint8_t *value, size_t len)
{
    // a local characteristic's writeValue() notifies its subscriber (ATT cuts at MTU - 3:
    // tinyfl_ble_send never gives it more)
    return tx_char.writeValue(value, (int)len) ? 0 : -1;
}

void tinyfl_ble_board_lock(void) {}
void tinyfl_ble_board_unlock(void) {}

#endif  // TINYFL_LINK_BLE
