// The Nano 33 BLE's BLE glue (boards/nano33ble/nano33ble_ble.cpp + boards/arduino-common's
// tinyfl_ble_link.cpp) run on the host against fakes of the ArduinoBLE stand-in: a scripted
// central connects, subscribes, receives the board's output as notifications, writes values,
// disconnects. Driven by tests/test_ble_glue.py:
//     nano33ble_ble_host MTU < stream     (stream: bytes the runtime writes)
// prints one line per event; notifications as "notify LEN".
#include <Arduino.h>
#include <ArduinoBLE.h>
#include <utility/ATT.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfl_ble_board.h"

// --- the fake stack's state ------------------------------------------------------------------
static const char *central_address = "";
static uint8_t central_bytes[6];  // least significant first, as ATT keeps them
static uint8_t central_type;
static uint16_t att_max_mtu = 23, negotiated_mtu = 23;
static bool central_connected, tx_subscribed;
static int advertise_calls;
static const uint8_t *written_value;
static int written_length;
static BLEDeviceEventHandler device_handlers[BLEDeviceLastEvent];
static BLECharacteristicEventHandler written_handler;
static char local_name[32];

// --- String, BLEDevice ---------------------------------------------------------------------
String::String(const char *) {}
String::String(const String &) {}
String::~String(void) {}
const char *String::c_str() const { return central_address; }
unsigned int String::length(void) const { return (unsigned int)strlen(central_address); }

BLEDevice::BLEDevice() {}
BLEDevice::~BLEDevice() {}
bool BLEDevice::connected() const { return central_connected; }
bool BLEDevice::disconnect() { return true; }
String BLEDevice::address() const { return String(central_address); }

// --- BLECharacteristic, BLEService ---------------------------------------------------------
// No members in the stand-in: the fake tells RX from TX by what the glue does with them.
BLECharacteristic::BLECharacteristic() {}
BLECharacteristic::BLECharacteristic(const char *, uint16_t, int, bool) {}
BLECharacteristic::BLECharacteristic(const char *, uint16_t, const char *) {}
BLECharacteristic::~BLECharacteristic() {}
int BLECharacteristic::valueSize() const { return 244; }
const uint8_t *BLECharacteristic::value() const { return written_value; }
int BLECharacteristic::valueLength() const { return written_length; }
int BLECharacteristic::writeValue(const uint8_t value[], int length, bool)
{
    // ATT would cut a notification at MTU - 3: report what it would send and flag any excess
    (void)value;
    if (!central_connected || !tx_subscribed) {
        return 0;
    }
    printf("notify %d%s\n", length, length > negotiated_mtu - 3 ? " OVERSIZE" : "");
    return 1;
}
bool BLECharacteristic::written() { return false; }
bool BLECharacteristic::subscribed() { return tx_subscribed; }
void BLECharacteristic::setEventHandler(int event, BLECharacteristicEventHandler handler)
{
    if (event == BLEWritten) {
        written_handler = handler;
    }
}
BLEService::BLEService() {}
BLEService::BLEService(const char *) {}
BLEService::~BLEService() {}
void BLEService::addCharacteristic(BLECharacteristic &) {}

// --- BLE, ATT ------------------------------------------------------------------------------
BLELocalDevice::BLELocalDevice() {}
BLELocalDevice::~BLELocalDevice() {}
int BLELocalDevice::begin() { return 1; }
void BLELocalDevice::end() {}
void BLELocalDevice::poll() {}
bool BLELocalDevice::connected() const { return central_connected; }
bool BLELocalDevice::setAdvertisedService(const BLEService &) { return true; }
bool BLELocalDevice::setLocalName(const char *name)
{
    snprintf(local_name, sizeof(local_name), "%s", name);
    return true;
}
void BLELocalDevice::setDeviceName(const char *) {}
void BLELocalDevice::addService(BLEService &) {}
int BLELocalDevice::advertise()
{
    advertise_calls++;
    return 1;
}
void BLELocalDevice::stopAdvertise() {}
BLEDevice BLELocalDevice::central() { return BLEDevice(); }
void BLELocalDevice::setEventHandler(BLEDeviceEvent event, BLEDeviceEventHandler handler)
{
    device_handlers[event] = handler;
}
static BLELocalDevice ble_instance;
BLELocalDevice &BLE = ble_instance;

ATTClass::ATTClass() {}
ATTClass::~ATTClass() {}
void ATTClass::setMaxMtu(uint16_t mtu) { att_max_mtu = mtu; }
uint16_t ATTClass::connectionHandle(uint8_t type, const uint8_t address[6]) const
{
    return central_connected && type == central_type && memcmp(address, central_bytes, 6) == 0 ? 0x0040 : 0xffff;
}
uint16_t ATTClass::mtu(uint16_t handle) const { return handle == 0x0040 ? negotiated_mtu : 23; }
static ATTClass att_instance;
ATTClass &ATT = att_instance;

// --- the script ----------------------------------------------------------------------------
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
    printf("begin %d name %s maxmtu %u advertising %d\n", begun, local_name, att_max_mtu, advertise_calls);
    printf("mtu before connect %u\n", tinyfl_ble_board_mtu());

    // a central with a random static address connects and asks for the MTU of argv[1]
    central_address = "c0:71:4e:f1:00:01";
    const uint8_t lsb_first[6] = {0x01, 0x00, 0xf1, 0x4e, 0x71, 0xc0};
    memcpy(central_bytes, lsb_first, 6);
    central_type = 1;
    central_connected = true;
    negotiated_mtu = (uint16_t)(argc > 1 ? atoi(argv[1]) : 23);
    if (negotiated_mtu > att_max_mtu) {
        negotiated_mtu = att_max_mtu;
    }
    device_handlers[BLEConnected](BLEDevice());
    printf("mtu before subscribe %u\n", tinyfl_ble_board_mtu());
    printf("dropped while nobody listens %d\n", (int)tinyfl_ble_write(stream, len));
    tx_subscribed = true;
    printf("mtu %u\n", tinyfl_ble_board_mtu());
    printf("write %d\n", (int)tinyfl_ble_write(stream, len));

    // the central writes two values; the runtime reads the connect's 0x00, then them
    static const uint8_t first[] = {0x05, 0x01, 0x02}, second[] = {0x00};
    written_value = first;
    written_length = 3;
    written_handler(BLEDevice(), BLECharacteristic());
    written_value = second;
    written_length = 1;
    written_handler(BLEDevice(), BLECharacteristic());
    read_back("read");

    // the central goes away: advertising again, nobody to notify
    central_connected = false;
    tx_subscribed = false;
    device_handlers[BLEDisconnected](BLEDevice());
    printf("after disconnect mtu %u advertising %d\n", tinyfl_ble_board_mtu(), advertise_calls);
    return 0;
}
