/* tinyfl firmware on the emulated rv32 virt board; its command line: ../qemu-common/qemu_main.h. */
#include "qemu_main.h"
#include "rv32_port.h"
#include "tinyfl_device.h"
#include "tinyfl_model.h"
#include "virt_rv32.h"

int main(void)
{
    static char cmdline[TINYFL_QEMU_CMDLINE_SIZE];
    static tinyfl_rv32_board board;
    static tinyfl_device dev;
    tinyfl_qemu_args args;

    tinyfl_virt_uart_init();
    tinyfl_virt_clock_init();
    if (tinyfl_qemu_args_read(cmdline, sizeof(cmdline), &args) != 0) {
        return TINYFL_QEMU_EXIT_USAGE;
    }
    if (tinyfl_rv32_board_open(&board, args.shard, args.storage, args.device_id) != 0) {
        return TINYFL_QEMU_EXIT_BOARD;
    }

    tinyfl_port port;
    tinyfl_backbone backbone;
    tinyfl_rv32_board_port(&board, &port);
    tinyfl_model_backbone(&backbone);
    tinyfl_status st = tinyfl_device_init(&dev, &port, &backbone, args.device_id);
    if (st == TINYFL_E_ARG) {
        TINYFL_QEMU_SAY("the image and its model disagree (init: ARG)");
        return TINYFL_QEMU_EXIT_BOARD;
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
            tinyfl_qemu_report_stack(used);
        }
#endif
    }
}
