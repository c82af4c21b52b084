#include "semihost.h"

#include <string.h>

#include "semihost_trap.h"

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE0 = 0x04,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_SEEK = 0x0A,
    SYS_FLEN = 0x0C,
    SYS_REMOVE = 0x0E,
    SYS_RENAME = 0x0F,
    SYS_ERRNO = 0x13,
    SYS_GET_CMDLINE = 0x15,
    SYS_EXIT = 0x18,
    SYS_EXIT_EXTENDED = 0x20,
};

#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

int tinyfl_semihost_open(const char *path, int mode)
{
    const uint32_t block[3] = {(uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path)};
    return (int)tinyfl_semihost_trap(SYS_OPEN, block);
}

int tinyfl_semihost_close(int handle)
{
    const uint32_t block[1] = {(uint32_t)handle};
    return (int)tinyfl_semihost_trap(SYS_CLOSE, block);
}

long tinyfl_semihost_read(int handle, void *buf, size_t len)
{
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    uint32_t not_read = tinyfl_semihost_trap(SYS_READ, block); /* bytes NOT read */
    if (not_read > len) {
        return -1;
    }
    return (long)(len - not_read);
}

long tinyfl_semihost_write(int handle, const void *buf, size_t len)
{
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    uint32_t not_written = tinyfl_semihost_trap(SYS_WRITE, block);
    if (not_written > len) {
        return -1;
    }
    return (long)(len - not_written);
}

int tinyfl_semihost_seek(int handle, uint32_t position)
{
    const uint32_t block[2] = {(uint32_t)handle, position};
    return (int)tinyfl_semihost_trap(SYS_SEEK, block);
}

long tinyfl_semihost_flen(int handle)
{
    const uint32_t block[1] = {(uint32_t)handle};
    return (long)(int32_t)tinyfl_semihost_trap(SYS_FLEN, block);
}

int tinyfl_semihost_rename(const char *from, const char *to)
{
    const uint32_t block[4] = {(uint32_t)(uintptr_t)from, (uint32_t)strlen(from),
                               (uint32_t)(uintptr_t)to, (uint32_t)strlen(to)};
    return (int)tinyfl_semihost_trap(SYS_RENAME, block);
}

int tinyfl_semihost_remove(const char *path)
{
    const uint32_t block[2] = {(uint32_t)(uintptr_t)path, (uint32_t)strlen(path)};
    return (int)tinyfl_semihost_trap(SYS_REMOVE, block);
}

int tinyfl_semihost_errno(void) { return (int)tinyfl_semihost_trap(SYS_ERRNO, NULL); }

int tinyfl_semihost_cmdline(char *buf, size_t cap)
{
    uint32_t block[2] = {(uint32_t)(uintptr_t)buf, (uint32_t)cap};
    if (cap == 0) {
        return -1;
    }
    buf[0] = '\0';
    if (tinyfl_semihost_trap(SYS_GET_CMDLINE, block) != 0) {
        return -1;
    }
    buf[block[1] < cap ? block[1] : cap - 1] = '\0';
    return 0;
}

void tinyfl_semihost_write0(const char *text) { (void)tinyfl_semihost_trap(SYS_WRITE0, text); }

void tinyfl_semihost_exit(int code)
{
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    (void)tinyfl_semihost_trap(SYS_EXIT_EXTENDED, block);
    /* A host without the extension: plain SYS_EXIT (exit code 0 or 1 only). */
    (void)tinyfl_semihost_trap(SYS_EXIT, (const void *)(uintptr_t)(code == 0 ? ADP_STOPPED_APPLICATION_EXIT : 0x20023u));
    for (;;) {
    }
}

size_t tinyfl_semihost_split_args(char *line, char **argv, size_t cap)
{
    size_t argc = 0;
    char *p = line;
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
    return argc;
}
