/* Machine-mode CSR access. Debian's binutils 2.40 puts the CSR instructions in the separate
 * Zicsr extension, and `-march=rv32imc_zicsr` would pick a multilib that does not exist, so
 * each access enables Zicsr for its one instruction. */
#ifndef TINYFL_VIRT_CSR_H
#define TINYFL_VIRT_CSR_H

#include <stdint.h>

#define TINYFL_CSR_READ(name, out) \
    __asm__ volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, " #name "\n\t.option pop" : "=r"(out))
#define TINYFL_CSR_SET(name, bits)                                                                 \
    __asm__ volatile(".option push\n\t.option arch, +zicsr\n\tcsrs " #name ", %0\n\t.option pop" \
                     ::"r"((uint32_t)(bits)) : "memory")

#define TINYFL_MIE_MTIE (1u << 7)
#define TINYFL_MIE_MEIE (1u << 11)

#endif /* TINYFL_VIRT_CSR_H */
