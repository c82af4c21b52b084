/* The BLE chunking rule and receive buffer (see tinyfl_ble_stream.h). */
#include "tinyfl_ble_stream.h"

#include <string.h>

void tinyfl_ble_rx_init(tinyfl_ble_rx *rx)
{
    memset(rx, 0, sizeof(*rx));
}

size_t tinyfl_ble_rx_push(tinyfl_ble_rx *rx, const uint8_t *data, size_t len)
{
    size_t room = (size_t)TINYFL_BLE_RX_CAP - rx->count;
    size_t take = len < room ? len : room;
    size_t i;
    for (i = 0; i < take; i++) {
        rx->buf[(rx->head + rx->count + i) % TINYFL_BLE_RX_CAP] = data[i];
    }
    rx->count = (uint16_t)(rx->count + take);
    rx->dropped += (uint32_t)(len - take);
    return take;
}

void tinyfl_ble_rx_connected(tinyfl_ble_rx *rx)
{
    static const uint8_t delimiter = 0;
    (void)tinyfl_ble_rx_push(rx, &delimiter, 1);
}

size_t tinyfl_ble_rx_pop(tinyfl_ble_rx *rx, uint8_t *out, size_t cap)
{
    size_t n = cap < rx->count ? cap : rx->count;
    size_t i;
    for (i = 0; i < n; i++) {
        out[i] = rx->buf[(rx->head + i) % TINYFL_BLE_RX_CAP];
    }
    rx->head = (uint16_t)((rx->head + n) % TINYFL_BLE_RX_CAP);
    rx->count = (uint16_t)(rx->count - n);
    return n;
}

size_t tinyfl_ble_value_len(const uint8_t *data, size_t len, uint16_t mtu)
{
    size_t limit, i;
    if (mtu < TINYFL_WIRE_BLE_MTU_MIN) {
        mtu = TINYFL_WIRE_BLE_MTU_MIN;
    } else if (mtu > TINYFL_WIRE_BLE_MTU_MAX) {
        mtu = TINYFL_WIRE_BLE_MTU_MAX;
    }
    limit = (size_t)TINYFL_WIRE_BLE_VALUE_MAX(mtu);
    if (len < limit) {
        limit = len;
    }
    for (i = 0; i < limit; i++) {
        if (data[i] == 0) {
            return i + 1; /* a value ends with its frame */
        }
    }
    return limit;
}

tinyfl_status tinyfl_ble_send(const uint8_t *data, size_t len, uint16_t mtu,
                              tinyfl_ble_notify_fn notify, void *user)
{
    while (len > 0) {
        size_t n = tinyfl_ble_value_len(data, len, mtu);
        if (notify(user, data, n) != 0) {
            return TINYFL_E_IO;
        }
        data += n;
        len -= n;
    }
    return TINYFL_OK;
}
