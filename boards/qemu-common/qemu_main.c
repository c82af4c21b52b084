#include "qemu_main.h"

#include <stdlib.h>
#include <string.h>

#include "qemu_text.h"

#define MAX_ARGS 8

int tinyfl_qemu_args_read(char *buf, size_t size, tinyfl_qemu_args *args)
{
    char *argv[MAX_ARGS];
    size_t argc = 0;
    args->shard = NULL;
    args->storage = NULL;
    args->device_id = 0;
    if (tinyfl_semihost_cmdline(buf, size) != 0) {
        TINYFL_QEMU_SAY("no semihosting command line (or too long)");
        return -1;
    }
    argc = tinyfl_semihost_split_args(buf, argv, MAX_ARGS);
    for (size_t i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--shard") == 0) {
            args->shard = argv[i + 1];
        } else if (strcmp(argv[i], "--storage") == 0) {
            args->storage = argv[i + 1];
        } else if (strcmp(argv[i], "--device-id") == 0) {
            args->device_id = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        }
    }
    if (args->shard == NULL || args->storage == NULL || argc % 2 != 1) {
        TINYFL_QEMU_SAY("usage: <program> --shard FILE --storage FILE --device-id N");
        return -1;
    }
    return 0;
}

void tinyfl_qemu_report_stack(size_t used)
{
    char digits[TINYFL_QEMU_U32_TEXT];
    tinyfl_semihost_write0(TINYFL_QEMU_CONSOLE_PREFIX "stack used ");
    tinyfl_semihost_write0(tinyfl_qemu_u32_text(digits, (uint32_t)used));
    tinyfl_semihost_write0("\n");
}
