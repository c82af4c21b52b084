/* The RISC-V semihosting trap behind ../qemu-common/semihost.c: EBREAK between two no-op shifts
 * of x0, which tell QEMU it is a semihosting call and not a breakpoint. */
#ifndef TINYFL_SEMIHOST_TRAP_H
#define TINYFL_SEMIHOST_TRAP_H

#include <stdint.h>

/* The operation goes in a0, the argument block's address in a1, the answer comes back in a0.
 * QEMU recognises the sequence only uncompressed (norvc) and within one page: 16-byte alignment
 * keeps its 12 bytes from straddling a page boundary. One out-of-line copy, so the alignment
 * padding is paid once. */
__attribute__((noinline)) static uint32_t tinyfl_semihost_trap(uint32_t op, const void *arg)
{
    register uint32_t a0 __asm__("a0") = op;
    register const void *a1 __asm__("a1") = arg;
    __asm__ volatile(".option push\n"
                     ".option norvc\n"
                     ".balign 16\n"
                     "slli zero, zero, 0x1f\n"
                     "ebreak\n"
                     "srai zero, zero, 7\n"
                     ".option pop\n"
                     : "+r"(a0)
                     : "r"(a1)
                     : "memory");
    return a0;
}

#endif /* TINYFL_SEMIHOST_TRAP_H */
