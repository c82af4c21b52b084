/* Semihosting: the emulated boards' way to reach host files, their command line and their exit
 * code. QEMU serves it with `-semihosting-config enable=on,target=native`. The calls and their
 * argument blocks are the same on Arm and RISC-V (both 32-bit here); only the trap differs, and
 * each board folder brings its own in semihost_trap.h. On a real board without a debugger
 * attached the trap would fault: only the emulated boards link this. */
#ifndef TINYFL_SEMIHOST_H
#define TINYFL_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* fopen()-style modes of SYS_OPEN */
#define TINYFL_SEMIHOST_MODE_RB 1  /* "rb" */
#define TINYFL_SEMIHOST_MODE_RPB 3 /* "r+b" (update in place) */
#define TINYFL_SEMIHOST_MODE_WB 5  /* "wb" (create or truncate) */

/* Returns a handle >= 0, or -1. */
int tinyfl_semihost_open(const char *path, int mode);
int tinyfl_semihost_close(int handle);
/* Return the number of bytes transferred (<= len), or -1 on error. */
long tinyfl_semihost_read(int handle, void *buf, size_t len);
long tinyfl_semihost_write(int handle, const void *buf, size_t len);
/* Absolute position; 0 on success. */
int tinyfl_semihost_seek(int handle, uint32_t position);
/* File length in bytes, or -1. */
long tinyfl_semihost_flen(int handle);
int tinyfl_semihost_rename(const char *from, const char *to);
int tinyfl_semihost_remove(const char *path);
/* Host errno of the last failed call. */
int tinyfl_semihost_errno(void);
/* The command line (QEMU: the `arg=` values joined by spaces), NUL-terminated. 0 on success. */
int tinyfl_semihost_cmdline(char *buf, size_t cap);
/* Splits a command line in place at spaces into at most cap arguments; returns how many. */
size_t tinyfl_semihost_split_args(char *line, char **argv, size_t cap);
/* Text on the host's debug console (QEMU: its stderr). */
void tinyfl_semihost_write0(const char *text);
/* Ends the emulation; QEMU exits with `code` (SYS_EXIT_EXTENDED). */
void tinyfl_semihost_exit(int code) __attribute__((noreturn));

#endif /* TINYFL_SEMIHOST_H */
