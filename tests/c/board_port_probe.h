/* Exercises a board's tinyfl_port hooks directly (tests/test_boards_port.py); included by
 * native_port_probe.c and an386_port_probe.c, which build the port and print the lines.
 *
 * Output, one fact per line (numbers in decimal, float bits in hex):
 *   STORAGE_FIRST <status>          storage_read before this run wrote anything
 *   STORAGE_WRITE <status>
 *   STORAGE_READBACK <status> <0|1> status, and whether the bytes match what was written
 *   SAMPLE <status> <label> <bits of window[0]> <bits of window[len-1]>   (reads+2 times)
 *   SAMPLE_BAD_LEN <status>
 *   ENTROPY <status> <hex of 16 bytes>
 *   MILLIS_MONOTONIC <0|1>
 *   DONE
 */
#ifndef TINYFL_BOARD_PORT_PROBE_H
#define TINYFL_BOARD_PORT_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyfl_port.h"

#define PROBE_MAX_INPUT 4096

typedef void (*probe_out_fn)(const char *text);

static void probe_u32(probe_out_fn out, uint32_t v)
{
    char text[12];
    size_t n = sizeof(text) - 1;
    text[n] = '\0';
    do {
        text[--n] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    out(" ");
    out(&text[n]);
}

static void probe_hex(probe_out_fn out, const uint8_t *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char pair[3] = {0, 0, 0};
    out(" ");
    for (size_t i = 0; i < len; i++) {
        pair[0] = digits[bytes[i] >> 4];
        pair[1] = digits[bytes[i] & 15u];
        out(pair);
    }
}

static void probe_float_bits(probe_out_fn out, float f)
{
    uint32_t bits;
    uint8_t be[4];
    memcpy(&bits, &f, sizeof(bits));
    for (int i = 0; i < 4; i++) {
        be[i] = (uint8_t)(bits >> (24 - 8 * i));
    }
    probe_hex(out, be, sizeof(be));
}

/* `samples` reads of the sensor hook (the test passes the shard size + 2 to see the wrap). */
static int tinyfl_probe_port(const tinyfl_port *port, uint32_t samples, size_t input_len, probe_out_fn out)
{
    static float window[PROBE_MAX_INPUT];
    uint8_t record[24], back[24];
    if (input_len == 0 || input_len > PROBE_MAX_INPUT) {
        return 1;
    }

    out("STORAGE_FIRST");
    probe_u32(out, (uint32_t)port->storage_read(port->user, back, sizeof(back)));
    out("\n");
    for (size_t i = 0; i < sizeof(record); i++) {
        record[i] = (uint8_t)(0xA0u + i);
    }
    out("STORAGE_WRITE");
    probe_u32(out, (uint32_t)port->storage_write(port->user, record, sizeof(record)));
    out("\n");
    memset(back, 0, sizeof(back));
    out("STORAGE_READBACK");
    probe_u32(out, (uint32_t)port->storage_read(port->user, back, sizeof(back)));
    probe_u32(out, memcmp(record, back, sizeof(back)) == 0 ? 1u : 0u);
    out("\n");

    for (uint32_t i = 0; i < samples; i++) {
        uint8_t label = 0xFF;
        tinyfl_status st = port->sample(port->user, window, input_len, &label);
        out("SAMPLE");
        probe_u32(out, (uint32_t)st);
        probe_u32(out, label);
        probe_float_bits(out, window[0]);
        probe_float_bits(out, window[input_len - 1]);
        out("\n");
    }
    uint8_t label = 0;
    out("SAMPLE_BAD_LEN");
    probe_u32(out, (uint32_t)port->sample(port->user, window, input_len - 1, &label));
    out("\n");

    uint8_t noise[16];
    memset(noise, 0, sizeof(noise));
    out("ENTROPY");
    probe_u32(out, (uint32_t)port->entropy(port->user, noise, sizeof(noise)));
    probe_hex(out, noise, sizeof(noise));
    out("\n");

    uint32_t t0 = port->millis(port->user);
    uint32_t t1 = port->millis(port->user);
    out("MILLIS_MONOTONIC");
    probe_u32(out, (t1 - t0) < 1000u ? 1u : 0u);
    out("\nDONE\n");
    return 0;
}

#endif /* TINYFL_BOARD_PORT_PROBE_H */
