// Shared by the host runs of the Arduino board glue (tests/c/*_glue_host.cpp): the serial link
// is stdin/stdout (reads never block), the clock is virtual and advances 1 ms per loop(), and
// the program ends when stdin closes.
#pragma once

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static unsigned long fake_now_ms;
static bool stdin_closed;
static uint8_t fake_rx[4096];
static size_t fake_rx_len, fake_rx_pos;

static void fake_serial_begin(void) { fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK); }

static int fake_serial_available(void)
{
    if (fake_rx_pos == fake_rx_len && !stdin_closed) {
        ssize_t got = read(0, fake_rx, sizeof(fake_rx));
        stdin_closed = got == 0;
        fake_rx_pos = 0;
        fake_rx_len = got > 0 ? (size_t)got : 0;
    }
    return (int)(fake_rx_len - fake_rx_pos);
}

static int fake_serial_read(void) { return fake_serial_available() > 0 ? fake_rx[fake_rx_pos++] : -1; }
static int fake_serial_peek(void) { return fake_serial_available() > 0 ? fake_rx[fake_rx_pos] : -1; }

static size_t fake_serial_write(const uint8_t *buf, size_t size)
{
    size_t n = fwrite(buf, 1, size, stdout);
    fflush(stdout);
    return n;
}

void setup(void);
void loop(void);

static int run_glue(void)
{
    setup();
    while (!stdin_closed) {
        loop();
        fake_now_ms++;
        if (fake_rx_pos == fake_rx_len && fake_now_ms % 64u == 0u) {
            usleep(200); // idle link: do not spin a host core flat out
        }
    }
    return 0;
}
