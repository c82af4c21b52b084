/* tinyfl firmware on the emulated rv32 virt board. The semihosting command line carries what a
 * real board would have built in or provisioned:
 *
 *   <program> --shard FILE --storage FILE --device-id N
 *
 * (QEMU: -semihosting-config enable=on,target=native,arg=tinyfl,arg=--shard,arg=FILE,...; the
 * arguments are joined with spaces, so paths must not contain any.) */
#include <semihost.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "rv32_port.h"
#include "tinyfl_device.h"
#include "tinyfl_model.h"
#include "virt_rv32.h"

#define MAX_ARGS 8
#define EXIT_USAGE 2
#define EXIT_BOARD 1

#ifdef TINYFL_RV32_REPORT_STACK
static void report_stack(size_t used)
{
    char text[48] = "tinyfl rv32: stack used ";
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
    sys_semihost_write0(text);
}
#endif

int main(void)
{
    static char cmdline[3 * TINYFL_RV32_PATH_MAX]; /* 600: the message below says 599 */
    static tinyfl_rv32_board board;
    static tinyfl_device dev;
    char *argv[MAX_ARGS];
    const char *shard = NULL, *storage = NULL;
    uint32_t device_id = 0;

    tinyfl_virt_uart_init();
    tinyfl_virt_clock_init();
    int argc = tinyfl_rv32_cmdline(cmdline, sizeof(cmdline), argv, MAX_ARGS);
    if (argc < 0) {
        sys_semihost_write0("tinyfl rv32: no semihosting command line (or longer than 599 bytes)\n");
        return EXIT_USAGE;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--shard") == 0) {
            shard = argv[i + 1];
        } else if (strcmp(argv[i], "--storage") == 0) {
            storage = argv[i + 1];
        } else if (strcmp(argv[i], "--device-id") == 0) {
            device_id = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        }
    }
    if (shard == NULL || storage == NULL || argc % 2 != 1) {
        sys_semihost_write0("tinyfl rv32: usage: <program> --shard FILE --storage FILE --device-id N\n");
        return EXIT_USAGE;
    }
    if (tinyfl_rv32_board_open(&board, shard, storage, device_id) != 0) {
        return EXIT_BOARD;
    }

    tinyfl_port port;
    tinyfl_backbone backbone;
    tinyfl_rv32_board_port(&board, &port);
    tinyfl_model_backbone(&backbone);
    tinyfl_status st = tinyfl_device_init(&dev, &port, &backbone, device_id);
    if (st == TINYFL_E_ARG) {
        sys_semihost_write0("tinyfl rv32: the image and its model disagree (init: ARG)\n");
        return EXIT_BOARD;
    }
    /* Other init errors (a locked ledger, no entropy) leave a device that still answers and
     * refuses every release: keep serving. */
#ifdef TINYFL_RV32_REPORT_STACK
    size_t stack_reported = 0;
#endif
    for (;;) {
        tinyfl_device_poll(&dev);
#ifdef TINYFL_RV32_REPORT_STACK
        /* Measurement builds only: the stack's high-water mark on the semihosting console. */
        size_t used = tinyfl_virt_stack_used();
        if (used > stack_reported) {
            stack_reported = used;
            report_stack(used);
        }
#endif
    }
}
