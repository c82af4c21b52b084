/* Runs board_port_probe.h against the emulated rv32 virt board's hooks (under QEMU).
 * semihosting args: SHARD STORAGE SAMPLES INPUT_LEN */
#include <stdlib.h>

#include "board_port_probe.h"
#include "rv32_port.h"
#include "semihost.h"
#include "virt_rv32.h"

static void out_uart(const char *text) { tinyfl_virt_uart_puts(text); }

int main(void)
{
    static char line[512];
    static tinyfl_rv32_board board;
    char *argv[5];
    tinyfl_port port;
    tinyfl_virt_uart_init();
    tinyfl_virt_clock_init();
    size_t argc = tinyfl_semihost_cmdline(line, sizeof(line)) == 0 ? tinyfl_semihost_split_args(line, argv, 5) : 0;
    if (argc != 5 || tinyfl_rv32_board_open(&board, argv[1], argv[2], 7) != 0) {
        return 2;
    }
    tinyfl_rv32_board_port(&board, &port);
    return tinyfl_probe_port(&port, (uint32_t)atoi(argv[3]), (size_t)atoi(argv[4]), out_uart);
}
