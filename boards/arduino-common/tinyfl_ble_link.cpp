// The board-independent half of the BLE link: the receive buffer between the stack's write
// callback and the runtime, and notifications cut by the wire spec's chunking rule.
#if defined(TINYFL_LINK_BLE) && TINYFL_LINK_BLE

#include "tinyfl_ble_board.h"

extern "C" {
#include "tinyfl_ble_stream.h"
}

static tinyfl_ble_rx rx_buffer;  // zero-initialised: an empty buffer

void tinyfl_ble_connected(void)
{
    tinyfl_ble_board_lock();
    tinyfl_ble_rx_connected(&rx_buffer);
    tinyfl_ble_board_unlock();
}

void tinyfl_ble_received(const uint8_t *value, size_t len)
{
    tinyfl_ble_board_lock();
    (void)tinyfl_ble_rx_push(&rx_buffer, value, len);
    tinyfl_ble_board_unlock();
}

size_t tinyfl_ble_read(uint8_t *buf, size_t cap)
{
    tinyfl_ble_board_lock();
    size_t n = tinyfl_ble_rx_pop(&rx_buffer, buf, cap);
    tinyfl_ble_board_unlock();
    return n;
}

uint32_t tinyfl_ble_dropped(void)
{
    tinyfl_ble_board_lock();
    uint32_t n = rx_buffer.dropped;
    tinyfl_ble_board_unlock();
    return n;
}

static int notify_one(void *user, const uint8_t *value, size_t len)
{
    (void)user;
    return tinyfl_ble_board_notify(value, len);
}

tinyfl_status tinyfl_ble_write(const uint8_t *buf, size_t len)
{
    uint16_t mtu = tinyfl_ble_board_mtu();
    if (mtu == 0) {
        return TINYFL_OK;  // nobody listens: the bytes go nowhere, as on a serial port
    }
    return tinyfl_ble_send(buf, len, mtu, notify_one, nullptr);
}

#endif  // TINYFL_LINK_BLE
