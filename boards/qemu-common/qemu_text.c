#include "qemu_text.h"

#include "qemu_board.h"

char *tinyfl_qemu_u32_text(char *text, uint32_t v)
{
    char digits[TINYFL_QEMU_U32_TEXT - 1];
    uint32_t n = 0, len = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        text[len++] = digits[--n];
    }
    text[len] = '\0';
    return text;
}

void tinyfl_qemu_uart_put_u32(uint32_t v)
{
    char text[TINYFL_QEMU_U32_TEXT];
    tinyfl_qemu_uart_puts(tinyfl_qemu_u32_text(text, v));
}
