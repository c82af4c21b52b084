/* tinyfl firmware as a Linux process (see board_native.h).
 *
 *   tinyfl-native --port N --shard FILE --storage FILE --device-id N
 *
 * --port 0 lets the kernel pick a free port; the board then prints `TINYFL_LISTENING <port>`
 * on stdout. Like the QEMU board (which starts its CPU only when a host connects), the device
 * boots when the first host connects, so that host receives the boot hello; later hosts ask
 * for it with hello_request. SIGTERM or SIGINT ends the process with exit code 0. */
#define _DEFAULT_SOURCE

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board_native.h"
#include "tinyfl_device.h"
#include "tinyfl_model.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s --port N --shard FILE --storage FILE --device-id N\n", prog);
    return 2;
}

static int parse_u32(const char *text, unsigned long max, uint32_t *out)
{
    char *end = NULL;
    unsigned long v = strtoul(text, &end, 10);
    if (end == text || *end != '\0' || v > max) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    static tinyfl_native_board board;
    static tinyfl_device dev;
    uint32_t tcp_port = 0, device_id = 0;
    const char *shard = NULL, *storage = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        int bad = 0;
        if (strcmp(argv[i], "--port") == 0) {
            bad = parse_u32(argv[i + 1], 65535ul, &tcp_port);
        } else if (strcmp(argv[i], "--device-id") == 0) {
            bad = parse_u32(argv[i + 1], 0xFFFFFFFFul, &device_id);
        } else if (strcmp(argv[i], "--shard") == 0) {
            shard = argv[i + 1];
        } else if (strcmp(argv[i], "--storage") == 0) {
            storage = argv[i + 1];
        } else {
            bad = 1;
        }
        if (bad) {
            return usage(argv[0]);
        }
    }
    if (argc % 2 != 1 || shard == NULL || storage == NULL) {
        return usage(argv[0]);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: a blocked select returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (tinyfl_native_board_open(&board, (uint16_t)tcp_port, shard, storage, device_id, &stop_requested) != 0) {
        tinyfl_native_board_close(&board);
        return 1;
    }
    printf("TINYFL_LISTENING %u\n", (unsigned)board.tcp_port);
    fflush(stdout);

    tinyfl_port port;
    tinyfl_backbone backbone;
    tinyfl_native_board_port(&board, &port);
    tinyfl_model_backbone(&backbone);
    if (tinyfl_native_board_wait_client(&board) != 0) {
        tinyfl_native_board_close(&board);
        return 0;
    }
    tinyfl_status st = tinyfl_device_init(&dev, &port, &backbone, device_id);
    if (st != TINYFL_OK) {
        /* The device still answers (hello, refusals); a locked ledger is not a crash. */
        fprintf(stderr, "[tinyfl native %u] init: %s\n", (unsigned)device_id, tinyfl_status_str(st));
        if (st == TINYFL_E_ARG) {
            tinyfl_native_board_close(&board);
            return 1; /* the image and its model disagree: nothing to serve */
        }
    }
    while (!stop_requested) {
        tinyfl_device_poll(&dev);
    }
    tinyfl_native_board_close(&board);
    return 0;
}
