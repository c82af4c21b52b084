/* CMSDK APB UART0, polled. QEMU holds back further input while the one-byte receive buffer is
 * full, so polling loses nothing; the RX interrupt only wakes the core from WFI. */
#include "an386.h"

#define UART_DATA (*(volatile uint32_t *)(TINYFL_AN386_UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(TINYFL_AN386_UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(TINYFL_AN386_UART0_BASE + 0x08u))
#define UART_INTCLEAR (*(volatile uint32_t *)(TINYFL_AN386_UART0_BASE + 0x0Cu))
#define UART_BAUDDIV (*(volatile uint32_t *)(TINYFL_AN386_UART0_BASE + 0x10u))

#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u
#define CTRL_TX_EN 0x1u
#define CTRL_RX_EN 0x2u
#define CTRL_RX_INT_EN 0x8u
#define INT_RX 0x2u

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)

void tinyfl_an386_uart_init(void)
{
    UART_BAUDDIV = TINYFL_AN386_SYSCLK_HZ / TINYFL_AN386_BAUD;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN;
    NVIC_ISER0 = 1u << TINYFL_AN386_UART0_RX_IRQ;
}

int tinyfl_an386_uart_getc(void)
{
    if ((UART_STATE & STATE_RX_FULL) == 0u) {
        return -1;
    }
    return (int)(UART_DATA & 0xFFu);
}

void tinyfl_an386_uart_putc(uint8_t byte)
{
    while ((UART_STATE & STATE_TX_FULL) != 0u) {
    }
    UART_DATA = byte;
}

void tinyfl_an386_uart_write(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++) {
        tinyfl_an386_uart_putc(p[i]);
    }
}

void tinyfl_an386_uart_puts(const char *text)
{
    while (*text != '\0') {
        tinyfl_an386_uart_putc((uint8_t)*text++);
    }
}

/* The byte stays in DATA for uart_getc; acknowledging the interrupt is all that is needed. */
void tinyfl_an386_uart0_rx_irq(void) { UART_INTCLEAR = INT_RX; }
