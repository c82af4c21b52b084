/* Host probe of boards/arduino-common/tinyfl_ble_stream.c for tests/test_ble_glue.py.
 *
 * stdin: "values MTU LEN" + LEN raw bytes  -> stdout: one line per ATT value: its length
 *        "fifo PUSH... "                    -> see below
 * Kept tiny: the test drives it with a command word as argv[1]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfl_ble_stream.h"

static uint8_t input[1 << 16];

static int print_value(void *user, const uint8_t *value, size_t len)
{
    int *fail_at = (int *)user;
    (void)value;
    if (*fail_at == 0) {
        return -1;
    }
    (*fail_at)--;
    printf("%zu\n", len);
    return 0;
}

int main(int argc, char **argv)
{
    size_t len;
    if (argc < 2) {
        return 2;
    }
    len = fread(input, 1, sizeof(input), stdin);
    if (strcmp(argv[1], "values") == 0 && argc == 4) {
        /* values MTU FAIL_AT: prints value lengths; the FAIL_AT-th notification fails */
        int fail_at = atoi(argv[3]);
        tinyfl_status st = tinyfl_ble_send(input, len, (uint16_t)atoi(argv[2]), print_value, &fail_at);
        printf("status %d\n", (int)st);
        return 0;
    }
    if (strcmp(argv[1], "fifo") == 0 && argc == 3) {
        /* fifo STEP: pushes the input STEP bytes at a time after a connect, popping 7 bytes
         * after every push; prints what came out, then the counters */
        static tinyfl_ble_rx rx;
        uint8_t out[64];
        size_t step = (size_t)atoi(argv[2]), i, n;
        tinyfl_ble_rx_init(&rx);
        tinyfl_ble_rx_connected(&rx);
        for (i = 0; i < len; i += step) {
            size_t chunk = len - i < step ? len - i : step;
            (void)tinyfl_ble_rx_push(&rx, input + i, chunk);
            n = tinyfl_ble_rx_pop(&rx, out, 7);
            fwrite(out, 1, n, stdout);
        }
        while ((n = tinyfl_ble_rx_pop(&rx, out, sizeof(out))) > 0) {
            fwrite(out, 1, n, stdout);
        }
        fprintf(stderr, "held %u dropped %lu cap %d\n", (unsigned)rx.count, (unsigned long)rx.dropped,
                TINYFL_BLE_RX_CAP);
        return 0;
    }
    return 2;
}
