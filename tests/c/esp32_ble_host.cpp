// The ESP32's BLE glue (boards/esp32/esp32_ble.cpp + boards/arduino-common's
// tinyfl_ble_link.cpp) run on the host against fakes of the NimBLE-Arduino stand-in: a scripted
// central connects, subscribes, receives the board's output as notifications (the stack is
// out of buffers for the first BUSY tries), writes values, disconnects. Driven by
// tests/test_ble_glue.py:   esp32_ble_host MTU BUSY < stream
#include <Arduino.h>
#include <NimBLEDevice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "tinyfl_ble_board.h"
extern "C" {
#include "generated/tinyfl_wire_gen.h"
}

static std::string device_name, advertised_name, advertised_uuid;
static uint16_t preferred_mtu = 23, peer_mtu = 23, conn_handle = BLE_HS_CONN_HANDLE_NONE;
static int busy_tries, delays;
static const uint8_t *written_value;
static uint16_t written_length;
static NimBLEServerCallbacks *server_events;
static NimBLECharacteristicCallbacks *rx_events, *tx_events;
static NimBLECharacteristic rx_fake, tx_fake;
static NimBLEService service_fake;
static NimBLEServer server_fake;
static NimBLEAdvertising advertising_fake;
static NimBLEConnInfo info_fake;

extern "C" void delay(uint32_t) { delays++; }

uint16_t NimBLEConnInfo::getConnHandle() const { return 0x0001; }
uint16_t NimBLEConnInfo::getMTU() const { return peer_mtu; }
uint16_t NimBLEAttValue::size() const { return written_length; }
const uint8_t *NimBLEAttValue::data() const { return written_value; }

void NimBLECharacteristic::setCallbacks(NimBLECharacteristicCallbacks *callbacks)
{
    (this == &rx_fake ? rx_events : tx_events) = callbacks;
}
bool NimBLECharacteristic::notify(const uint8_t *, size_t length, uint16_t handle) const
{
    if (this != &tx_fake || handle != conn_handle) {
        printf("notify on the wrong characteristic or connection\n");
        return false;
    }
    if (busy_tries > 0) {
        busy_tries--;
        return false;  // BLE_HS_ENOMEM: no mbuf for the moment
    }
    printf("notify %zu%s\n", length, length > (size_t)peer_mtu - 3 ? " OVERSIZE" : "");
    return true;
}
NimBLEAttValue NimBLECharacteristic::getValue() const { return NimBLEAttValue(); }
size_t NimBLECharacteristic::getLength() const { return written_length; }

NimBLECharacteristicCallbacks::~NimBLECharacteristicCallbacks() {}
void NimBLECharacteristicCallbacks::onWrite(NimBLECharacteristic *, NimBLEConnInfo &) {}
void NimBLECharacteristicCallbacks::onSubscribe(NimBLECharacteristic *, NimBLEConnInfo &, uint16_t) {}
NimBLEServerCallbacks::~NimBLEServerCallbacks() {}
void NimBLEServerCallbacks::onConnect(NimBLEServer *, NimBLEConnInfo &) {}
void NimBLEServerCallbacks::onDisconnect(NimBLEServer *, NimBLEConnInfo &, int) {}
void NimBLEServerCallbacks::onMTUChange(uint16_t, NimBLEConnInfo &) {}

NimBLECharacteristic *NimBLEService::createCharacteristic(const char *uuid, uint32_t properties, uint16_t max_len)
{
    bool rx = strcmp(uuid, TINYFL_WIRE_BLE_RX_UUID) == 0;
    bool tx = strcmp(uuid, TINYFL_WIRE_BLE_TX_UUID) == 0;
    printf("characteristic %s properties 0x%02x max %u\n", rx ? "rx" : tx ? "tx" : "?", (unsigned)properties,
           max_len);
    return rx ? &rx_fake : &tx_fake;
}
bool NimBLEService::start() { return true; }

void NimBLEServer::setCallbacks(NimBLEServerCallbacks *callbacks, bool) { server_events = callbacks; }
NimBLEService *NimBLEServer::createService(const char *uuid)
{
    printf("service %s\n", strcmp(uuid, TINYFL_WIRE_BLE_SERVICE_UUID) == 0 ? "tinyfl" : "?");
    return &service_fake;
}
uint16_t NimBLEServer::getPeerMTU(uint16_t handle) const { return handle == 0x0001 ? peer_mtu : 0; }
void NimBLEServer::advertiseOnDisconnect(bool) {}

bool NimBLEAdvertising::start(uint32_t, const NimBLEAddress *) { return true; }
void NimBLEAdvertising::enableScanResponse(bool) {}
bool NimBLEAdvertising::addServiceUUID(const char *uuid)
{
    advertised_uuid = uuid;
    return true;
}
bool NimBLEAdvertising::setName(const std::string &name)
{
    advertised_name = name;
    return true;
}

bool NimBLEDevice::init(const std::string &name)
{
    device_name = name;
    return true;
}
bool NimBLEDevice::setMTU(uint16_t mtu)
{
    preferred_mtu = mtu;
    return true;
}
NimBLEServer *NimBLEDevice::createServer() { return &server_fake; }
NimBLEAdvertising *NimBLEDevice::getAdvertising() { return &advertising_fake; }

static void read_back(const char *what)
{
    uint8_t buf[64];
    size_t n = tinyfl_ble_read(buf, sizeof(buf));
    printf("%s", what);
    for (size_t i = 0; i < n; i++) {
        printf(" %02x", buf[i]);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    static uint8_t stream[1 << 16];
    size_t len = fread(stream, 1, sizeof(stream), stdin);
    int begun = tinyfl_ble_board_begin("tinyfl-0000002a");
    printf("begin %d name %s advertised %s %s mtu %u\n", begun, device_name.c_str(), advertised_name.c_str(),
           advertised_uuid == TINYFL_WIRE_BLE_SERVICE_UUID ? "tinyfl" : "?", preferred_mtu);
    printf("mtu before connect %u\n", tinyfl_ble_board_mtu());

    peer_mtu = (uint16_t)(argc > 1 ? atoi(argv[1]) : 23);
    conn_handle = 0x0001;
    server_events->onConnect(&server_fake, info_fake);
    printf("mtu before subscribe %u\n", tinyfl_ble_board_mtu());
    tx_events->onSubscribe(&tx_fake, info_fake, 0x0001);
    printf("mtu %u\n", tinyfl_ble_board_mtu());
    busy_tries = argc > 2 ? atoi(argv[2]) : 0;
    printf("write %d\n", (int)tinyfl_ble_write(stream, len));
    printf("delays %d\n", delays);

    static const uint8_t first[] = {0x05, 0x01, 0x02}, second[] = {0x00};
    written_value = first;
    written_length = 3;
    rx_events->onWrite(&rx_fake, info_fake);
    written_value = second;
    written_length = 1;
    rx_events->onWrite(&rx_fake, info_fake);
    read_back("read");

    server_events->onDisconnect(&server_fake, info_fake, 0x13);
    conn_handle = BLE_HS_CONN_HANDLE_NONE;
    printf("after disconnect mtu %u write %d\n", tinyfl_ble_board_mtu(), (int)tinyfl_ble_write(stream, len));
    return 0;
}
