/* NS16550A UART0, polled, in its reset (16450, one-byte holding register) mode. QEMU stops
 * taking input from the chardev while a received byte waits, so polling loses nothing; the
 * receive interrupt only wakes the core from WFI. The FIFOs stay off on purpose: enabling them
 * clears the receiver, and the host's first bytes (sent the moment it connects, which is when
 * QEMU starts the CPU) can already be waiting there. */
#include "virt_rv32.h"

#define REG(off) (*(volatile uint8_t *)(TINYFL_VIRT_UART0_BASE + (off)))
#define UART_RBR REG(0u) /* receive buffer (read) */
#define UART_THR REG(0u) /* transmit holding (write) */
#define UART_IER REG(1u)
#define UART_LCR REG(3u)
#define UART_LSR REG(5u)

#define IER_RX_AVAILABLE 0x01u
#define LCR_8N1 0x03u
#define LSR_DATA_READY 0x01u
#define LSR_THR_EMPTY 0x20u

/* PLIC: priority per source, enable bits and threshold of context 0 (hart 0, machine mode). */
#define PLIC_PRIORITY(src) (*(volatile uint32_t *)(TINYFL_VIRT_PLIC_BASE + 4u * (src)))
#define PLIC_ENABLE0 (*(volatile uint32_t *)(TINYFL_VIRT_PLIC_BASE + 0x2000u))
#define PLIC_THRESHOLD0 (*(volatile uint32_t *)(TINYFL_VIRT_PLIC_BASE + 0x200000u))

void tinyfl_virt_uart_init(void)
{
    UART_LCR = LCR_8N1; /* QEMU ignores the baud divisor: no DLAB dance needed */
    UART_IER = IER_RX_AVAILABLE;
    PLIC_PRIORITY(TINYFL_VIRT_UART0_IRQ) = 1u;
    PLIC_ENABLE0 = 1u << TINYFL_VIRT_UART0_IRQ;
    PLIC_THRESHOLD0 = 0u;
}

int tinyfl_virt_uart_getc(void)
{
    if ((UART_LSR & LSR_DATA_READY) == 0u) {
        return -1;
    }
    return (int)UART_RBR;
}

void tinyfl_virt_uart_putc(uint8_t byte)
{
    while ((UART_LSR & LSR_THR_EMPTY) == 0u) {
    }
    UART_THR = byte;
}

void tinyfl_virt_uart_write(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++) {
        tinyfl_virt_uart_putc(p[i]);
    }
}

void tinyfl_virt_uart_puts(const char *text)
{
    while (*text != '\0') {
        tinyfl_virt_uart_putc((uint8_t)*text++);
    }
}
