/* tinyfl firmware on the emulated MPS2 AN386. The semihosting command line carries what a real
 * board would have built in or provisioned:
 *
 *   <program> --shard FILE --storage FILE --device-id N
 *
 * (QEMU: -semihosting-config enable=on,target=native,arg=tinyfl,arg=--shard,arg=FILE,...; the
 * arguments are joined with spaces, so paths must not contain any.) */
#include <stdlib.h>
#include <string.h>

#include "an386.h"
#include "an386_port.h"
#include "semihost.h"
#include "tinyfl_device.h"
#include "tinyfl_model.h"

#define MAX_ARGS 8
#define EXIT_USAGE 2
#define EXIT_BOARD 1

#ifdef TINYFL_AN386_REPORT_STACK
static void report_stack(size_t used)
{
    char text[48] = "tinyfl an386: stack used ";
    char digits[12];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + used % 10u);
        used /= 10u;
    } while (used != 0u);
    size_t len = strlen(text);
    while (n > 0) {
        text[len++] = digits[--n];
    }
    text[len++] = '\n';
    text[len] = '\0';
    tinyfl_semihost_write0(text);
}
#endif

int main(void)
{
    static char cmdline[3 * TINYFL_AN386_PATH_MAX];
    static tinyfl_an386_board board;
    static tinyfl_device dev;
    char *argv[MAX_ARGS];
    const char *shard = NULL, *storage = NULL;
    uint32_t device_id = 0;

    tinyfl_an386_uart_init();
    tinyfl_an386_clock_init();
    if (tinyfl_semihost_cmdline(cmdline, sizeof(cmdline)) != 0) {
        tinyfl_semihost_write0("tinyfl an386: no semihosting command line\n");
        return EXIT_USAGE;
    }
    size_t argc = tinyfl_semihost_split_args(cmdline, argv, MAX_ARGS);
    for (size_t i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--shard") == 0) {
            shard = argv[i + 1];
        } else if (strcmp(argv[i], "--storage") == 0) {
            storage = argv[i + 1];
        } else if (strcmp(argv[i], "--device-id") == 0) {
            device_id = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        }
    }
    if (shard == NULL || storage == NULL || argc % 2 != 1) {
        tinyfl_semihost_write0("tinyfl an386: usage: <program> --shard FILE --storage FILE --device-id N\n");
        return EXIT_USAGE;
    }
    if (tinyfl_an386_board_open(&board, shard, storage, device_id) != 0) {
        return EXIT_BOARD;
    }

    tinyfl_port port;
    tinyfl_backbone backbone;
    tinyfl_an386_board_port(&board, &port);
    tinyfl_model_backbone(&backbone);
    tinyfl_status st = tinyfl_device_init(&dev, &port, &backbone, device_id);
    if (st == TINYFL_E_ARG) {
        tinyfl_semihost_write0("tinyfl an386: the image and its model disagree (init: ARG)\n");
        return EXIT_BOARD;
    }
    /* Other init errors (a locked ledger, no entropy) leave a device that still answers and
     * refuses every release: keep serving. */
#ifdef TINYFL_AN386_REPORT_STACK
    size_t stack_reported = 0;
#endif
    for (;;) {
        tinyfl_device_poll(&dev);
#ifdef TINYFL_AN386_REPORT_STACK
        /* Measurement builds only: the stack's high-water mark on the semihosting console. */
        size_t used = tinyfl_an386_stack_used();
        if (used > stack_reported) {
            stack_reported = used;
            report_stack(used);
        }
#endif
    }
}
