/* The Arm M-profile semihosting trap (BKPT 0xAB) behind ../qemu-common/semihost.c. */
#ifndef TINYFL_SEMIHOST_TRAP_H
#define TINYFL_SEMIHOST_TRAP_H

#include <stdint.h>

/* The debugger (QEMU) reads the argument block through r1 and answers in r0; the "memory"
 * clobber makes the compiler store the block before the trap and reload buffers after it. */
static inline uint32_t tinyfl_semihost_trap(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

#endif /* TINYFL_SEMIHOST_TRAP_H */
