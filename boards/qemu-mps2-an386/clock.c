/* Millisecond clock from the FPGA's free-running 25 MHz counter, extended in software.
 * SysTick only wakes the core at 100 Hz (so WFI never sleeps long) and keeps the extension
 * fed, so a 32-bit counter wrap (every 171 s) is never missed. SysTick's own count is not used
 * for time: TCG takes its interrupt only at the end of a translation block, so the count can
 * reload before the tick is counted and the time would step back. */
#include "an386.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CSR_ENABLE 0x1u
#define CSR_TICKINT 0x2u
#define CSR_CLKSOURCE_CPU 0x4u

#ifndef TINYFL_AN386_TICK_HZ
#define TINYFL_AN386_TICK_HZ 100u
#endif
#define TICK_HZ TINYFL_AN386_TICK_HZ
#define CYCLES_PER_TICK (TINYFL_AN386_SYSCLK_HZ / TICK_HZ)
#define COUNTS_PER_MS (TINYFL_AN386_SYSCLK_HZ / 1000u)

#define FPGAIO_COUNTER (*(volatile uint32_t *)(TINYFL_AN386_FPGAIO_BASE + 0x18u))

/* Board state, updated with interrupts masked (by millis) or from the SysTick handler. */
static uint32_t last_count;
static uint32_t pending_counts; /* counts not yet worth a whole millisecond */
static uint32_t elapsed_ms;

static uint32_t clock_advance(void)
{
    uint32_t now = FPGAIO_COUNTER;
    pending_counts += now - last_count;
    last_count = now;
    elapsed_ms += pending_counts / COUNTS_PER_MS;
    pending_counts %= COUNTS_PER_MS;
    return elapsed_ms;
}

void tinyfl_an386_systick(void);
void tinyfl_an386_systick(void) { (void)clock_advance(); }

void tinyfl_an386_clock_init(void)
{
    last_count = FPGAIO_COUNTER;
    pending_counts = 0;
    elapsed_ms = 0;
    SYST_RVR = CYCLES_PER_TICK - 1u;
    SYST_CVR = 0u;
    SYST_CSR = CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE_CPU;
}

uint32_t tinyfl_an386_millis(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    uint32_t ms = clock_advance();
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
    return ms;
}

uint32_t tinyfl_an386_counter(void) { return FPGAIO_COUNTER; }

void tinyfl_an386_idle(void) { __asm__ volatile("wfi" ::: "memory"); }
