/* The semihosting command line (QEMU: the `arg=` values joined by spaces), split into words. */
#ifndef TINYFL_RV32_CMDLINE_H
#define TINYFL_RV32_CMDLINE_H

#include <stddef.h>

/* Reads the command line into buf (NUL-terminated) and splits it in place at spaces into at
 * most cap words; returns how many, or -1 when there is no command line. */
int tinyfl_rv32_cmdline(char *buf, size_t size, char **argv, size_t cap);

#endif /* TINYFL_RV32_CMDLINE_H */
