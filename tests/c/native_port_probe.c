/* Runs board_port_probe.h against the native board's hooks.
 * usage: native_port_probe SHARD STORAGE SAMPLES INPUT_LEN */
#include <stdio.h>
#include <stdlib.h>

#include "board_native.h"
#include "board_port_probe.h"

static void out_stdout(const char *text) { fputs(text, stdout); }

int main(int argc, char **argv)
{
    static volatile sig_atomic_t never;
    static tinyfl_native_board board;
    tinyfl_port port;
    if (argc != 5) {
        return 2;
    }
    if (tinyfl_native_board_open(&board, 0, argv[1], argv[2], 7, &never) != 0) {
        return 1;
    }
    tinyfl_native_board_port(&board, &port);
    int rc = tinyfl_probe_port(&port, (uint32_t)atoi(argv[3]), (size_t)atoi(argv[4]), out_stdout);
    tinyfl_native_board_close(&board);
    return rc;
}
