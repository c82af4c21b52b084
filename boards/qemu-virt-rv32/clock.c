/* Millisecond clock and idle from the CLINT: mtime is 64 bits at 10 MHz, so it never wraps in a
 * board's life and needs no extension in software. */
#include "csr.h"
#include "virt_rv32.h"

#define MTIME_LO (*(volatile uint32_t *)(TINYFL_VIRT_CLINT_BASE + 0xBFF8u))
#define MTIME_HI (*(volatile uint32_t *)(TINYFL_VIRT_CLINT_BASE + 0xBFFCu))
#define MTIMECMP_LO (*(volatile uint32_t *)(TINYFL_VIRT_CLINT_BASE + 0x4000u))
#define MTIMECMP_HI (*(volatile uint32_t *)(TINYFL_VIRT_CLINT_BASE + 0x4004u))
#define PLIC_CLAIM0 (*(volatile uint32_t *)(TINYFL_VIRT_PLIC_BASE + 0x200004u))

#define COUNTS_PER_MS (TINYFL_VIRT_MTIME_HZ / 1000u)
#define IDLE_COUNTS (10u * COUNTS_PER_MS)

static uint64_t boot_mtime;

uint64_t tinyfl_virt_mtime(void)
{
    uint32_t hi, lo;
    do { /* the high word must not change while the low word is read */
        hi = MTIME_HI;
        lo = MTIME_LO;
    } while (MTIME_HI != hi);
    return ((uint64_t)hi << 32) | lo;
}

static void set_timer(uint64_t when)
{
    MTIMECMP_HI = 0xFFFFFFFFu; /* no spurious match while the two halves are written */
    MTIMECMP_LO = (uint32_t)when;
    MTIMECMP_HI = (uint32_t)(when >> 32);
}

void tinyfl_virt_clock_init(void)
{
    boot_mtime = tinyfl_virt_mtime();
    set_timer(UINT64_MAX);
}

uint32_t tinyfl_virt_millis(void) { return (uint32_t)((tinyfl_virt_mtime() - boot_mtime) / COUNTS_PER_MS); }

uint32_t tinyfl_virt_instret(void)
{
    uint32_t n;
    TINYFL_CSR_READ(minstret, n);
    return n;
}

void tinyfl_virt_idle(void)
{
    set_timer(tinyfl_virt_mtime() + IDLE_COUNTS);
    TINYFL_CSR_SET(mie, TINYFL_MIE_MTIE | TINYFL_MIE_MEIE); /* mstatus.MIE stays 0: wake, no trap */
    __asm__ volatile("wfi" ::: "memory");
    set_timer(UINT64_MAX); /* clears the timer's pending bit */
    uint32_t source = PLIC_CLAIM0; /* 0 when nothing is pending */
    if (source != 0u) {
        PLIC_CLAIM0 = source; /* complete: the UART raises it again while bytes are waiting */
    }
}
