#include "cmdline.h"

#include <semihost.h>

int tinyfl_rv32_cmdline(char *buf, size_t size, char **argv, size_t cap)
{
    if (size < 2 || size > 0x7FFFFFFFu) {
        return -1;
    }
    buf[size - 1] = '\0';
    /* one byte kept back: the host's string always ends inside buf */
    if (sys_semihost_get_cmdline(buf, (int)(size - 1)) != 0) {
        return -1;
    }
    size_t argc = 0;
    char *p = buf;
    while (*p != '\0' && argc < cap) {
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (*p == '\0') {
            break;
        }
        argv[argc++] = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
    }
    return (int)argc;
}
