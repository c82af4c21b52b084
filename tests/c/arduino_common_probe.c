/* Host checks of the board-independent glue of the Arduino boards (boards/arduino-common):
 * the capture buffer and its command filter, and the two-slot flash record. Built by
 * tests/test_platformio.py with a small configuration (2 channels x 3 steps, 4 classes, 3 slots)
 * and the sanitizers. Prints "ok <name>" or "FAIL <name>: <why>"; exit code 1 on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfl_capture.h"
#include "tinyfl_flash_slots.h"

#if TINYFL_INPUT_CHANNELS != 2 || TINYFL_INPUT_STEPS != 3 || TINYFL_HEAD_CLASSES != 4 || TINYFL_CAPTURE_SLOTS != 3
#error "the probe expects 2 channels, 3 steps, 4 classes, 3 capture slots"
#endif

static int failures;

static void check(const char *name, int ok, const char *why)
{
    if (ok) {
        printf("ok %s\n", name);
    } else {
        printf("FAIL %s: %s\n", name, why);
        failures++;
    }
}

static uint8_t reply_buf[512];
static size_t reply_len;

static void reply(void *user, const uint8_t *text, size_t len)
{
    (void)user;
    if (reply_len + len <= sizeof(reply_buf)) {
        memcpy(reply_buf + reply_len, text, len);
        reply_len += len;
    }
}

static void feed(tinyfl_capture *c, int n, float base)
{
    for (int i = 0; i < n; i++) {
        float r[2] = {base + (float)i, -(base + (float)i)};
        tinyfl_capture_reading(c, r);
    }
}

static size_t filter_str(tinyfl_capture *c, uint8_t *buf, const char *bytes, size_t len)
{
    memcpy(buf, bytes, len);
    reply_len = 0;
    return tinyfl_capture_filter(c, buf, len, reply, NULL);
}

static void capture_checks(void)
{
    static tinyfl_capture c;
    float w[TINYFL_INPUT_LEN];
    uint8_t label = 99;
    tinyfl_capture_init(&c);

    check("capture_idle_ignores_readings", (feed(&c, 6, 0.0f), c.count == 0), "stored while idle");
    check("capture_rejects_label", tinyfl_capture_start(&c, 4, 1) == TINYFL_E_ARG, "label 4 of 4 classes");
    check("capture_rejects_zero_windows", tinyfl_capture_start(&c, 0, 0) == TINYFL_E_ARG, "0 windows");
    check("capture_rejects_too_many", tinyfl_capture_start(&c, 0, 4) == TINYFL_E_ARG, "4 windows, 3 slots");

    tinyfl_capture_start(&c, 2, 2);
    feed(&c, 6, 10.0f);
    check("capture_two_windows", c.count == 2 && c.remaining == 0, "count/remaining");
    feed(&c, 3, 0.0f);
    check("capture_stops_after_windows", c.count == 2, "recorded past the requested windows");
    check("capture_take_shape", tinyfl_capture_take(&c, w, 5, &label) == TINYFL_E_SHAPE, "wrong len accepted");
    tinyfl_status st = tinyfl_capture_take(&c, w, TINYFL_INPUT_LEN, &label);
    /* time-major, channels interleaved: w[step * 2 + channel] */
    check("capture_take_first", st == TINYFL_OK && label == 2 && w[0] == 10.0f && w[1] == -10.0f && w[4] == 12.0f &&
          w[5] == -12.0f, "first window");
    st = tinyfl_capture_take(&c, w, TINYFL_INPUT_LEN, &label);
    check("capture_take_second", st == TINYFL_OK && w[0] == 13.0f, "second window");
    check("capture_take_empty", tinyfl_capture_take(&c, w, TINYFL_INPUT_LEN, &label) == TINYFL_E_NO_SAMPLES,
          "empty buffer");
    check("capture_erases_taken", c.windows[0][0] == 0.0f && c.windows[1][5] == 0.0f, "sensor data left behind");

    tinyfl_capture_start(&c, 1, 3);
    feed(&c, 9, 0.0f);
    tinyfl_capture_start(&c, 3, 1);
    feed(&c, 3, 0.0f);
    check("capture_full_buffer_stops", c.count == 3 && c.dropped == 1 && c.remaining == 0, "overwrote or kept going");
    while (tinyfl_capture_take(&c, w, TINYFL_INPUT_LEN, &label) == TINYFL_OK) {
    }

    uint8_t buf[256];
    static const char mixed[] = "\x05" "abcd" "\x00" "!capture 1 2\n" "\x00" "\x03" "x!" "\x00";
    size_t n = filter_str(&c, buf, mixed, sizeof(mixed) - 1);
    static const char mixed_kept[] = "\x05" "abcd" "\x00" "\x00" "\x03" "x!" "\x00";
    check("filter_removes_command", n == sizeof(mixed_kept) - 1 && memcmp(buf, mixed_kept, n) == 0,
          "frame bytes changed");
    check("filter_runs_command", c.remaining == 2 && c.label == 1, "capture not started");
    static const char ok_reply[] = "\x00" "!ok capture 1 2\n" "\x00";
    check("filter_replies", reply_len == sizeof(ok_reply) - 1 && memcmp(reply_buf, ok_reply, reply_len) == 0,
          "reply text");

    /* '!' inside a frame is frame data; '!' right after a delimiter is a command. */
    static const char bang[] = "\x04" "!!!" "\x00";
    n = filter_str(&c, buf, bang, sizeof(bang) - 1);
    check("filter_keeps_bang_in_frame", n == sizeof(bang) - 1 && reply_len == 0, "frame byte taken as command");

    n = filter_str(&c, buf, "!capt", 5);
    size_t n2 = filter_str(&c, buf, "ure 0 1\n", 8);
    check("filter_split_command", n == 0 && n2 == 0 && c.label == 0 && c.remaining == 1, "split across reads");
    filter_str(&c, buf, "!capture stop\n", 14);
    check("filter_stop", c.remaining == 0, "stop");
    n = filter_str(&c, buf, "!capture 2 1\r\n!capture 3 2\r\n", 28);
    check("filter_typed_lines", n == 0 && c.label == 3 && c.remaining == 2, "second typed line lost");
    filter_str(&c, buf, "!capture stop\n", 14);

    filter_str(&c, buf, "!capture 4 1\n", 13);
    check("filter_label_out_of_range", c.remaining == 0 && memcmp(reply_buf + 1, "!error", 6) == 0, "accepted");
    filter_str(&c, buf, "!capture 1 2 3\n", 15);
    check("filter_extra_field", c.remaining == 0 && memcmp(reply_buf + 1, "!error", 6) == 0, "accepted");
    filter_str(&c, buf, "!capture 000001 1\n", 18);
    check("filter_long_number", c.remaining == 0 && memcmp(reply_buf + 1, "!error", 6) == 0, "accepted");

    char longline[80];
    memset(longline, 'a', sizeof(longline));
    longline[0] = '!';
    longline[79] = '\n';
    n = filter_str(&c, buf, longline, sizeof(longline));
    check("filter_long_line", n == 0 && memcmp(reply_buf + 1, "!error bad command line", 23) == 0, "long line");
    static const char after[] = "\x02" "z" "\x00";
    n = filter_str(&c, buf, after, 3);
    check("filter_resyncs", n == 3 && memcmp(buf, after, 3) == 0, "bytes after a bad line");

    /* Arbitrary bytes: never more out than in, never a crash (sanitizers watch). */
    srand(1);
    int bounded = 1;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(rand() % 64);
        for (size_t i = 0; i < len; i++) {
            int r = rand() % 8;
            buf[i] = (uint8_t)(r == 0 ? 0 : r == 1 ? '!' : r == 2 ? '\n' : rand() % 256);
        }
        reply_len = 0;
        bounded &= tinyfl_capture_filter(&c, buf, len, reply, NULL) <= len;
        bounded &= c.remaining <= TINYFL_CAPTURE_SLOTS && c.label < TINYFL_HEAD_CLASSES;
    }
    check("filter_random_bytes", bounded, "out of bounds");
}

/* RAM flash: erase sets 0xFF, program can only clear bits (as NOR flash); a fault budget cuts a
 * program short like a power loss. */
#define SLOT 4096u
static uint8_t flash[2 * SLOT];
static long program_budget = -1; /* bytes the next programs may still write; -1 unlimited */

static tinyfl_status ram_read(void *user, uint32_t off, void *buf, size_t len)
{
    (void)user;
    if (off + len > sizeof(flash)) {
        return TINYFL_E_STORAGE;
    }
    memcpy(buf, flash + off, len);
    return TINYFL_OK;
}

static tinyfl_status ram_erase(void *user, uint32_t off, size_t len)
{
    (void)user;
    memset(flash + off, 0xFF, len);
    return TINYFL_OK;
}

static tinyfl_status ram_program(void *user, uint32_t off, const void *buf, size_t len)
{
    (void)user;
    const uint8_t *src = buf;
    for (size_t i = 0; i < len; i++) {
        if (program_budget == 0) {
            return TINYFL_E_STORAGE;
        }
        if (program_budget > 0) {
            program_budget--;
        }
        flash[off + i] &= src[i];
    }
    return TINYFL_OK;
}

static void flash_checks(void)
{
    static tinyfl_flash_slots fs;
    uint8_t rec[28], got[28];
    memset(flash, 0xFF, sizeof(flash));
    fs.read = ram_read;
    fs.erase = ram_erase;
    fs.program = ram_program;
    fs.slot_size = SLOT;

    check("slots_fresh", tinyfl_flash_slots_read(&fs, got, sizeof(got)) == TINYFL_E_STORAGE, "erased flash");
    int ok = 1;
    for (int i = 0; i < 5; i++) {
        memset(rec, 0x10 + i, sizeof(rec));
        ok &= tinyfl_flash_slots_write(&fs, rec, sizeof(rec)) == TINYFL_OK;
        ok &= tinyfl_flash_slots_read(&fs, got, sizeof(got)) == TINYFL_OK && memcmp(got, rec, sizeof(rec)) == 0;
    }
    check("slots_write_read", ok, "round trip");
    check("slots_alternate", flash[16] != 0xFF && flash[SLOT + 16] != 0xFF, "both slots used");

    memset(rec, 0x77, sizeof(rec));
    program_budget = 20; /* the header and 4 record bytes, then power is lost */
    check("slots_torn_write_fails", tinyfl_flash_slots_write(&fs, rec, sizeof(rec)) == TINYFL_E_STORAGE, "reported OK");
    program_budget = -1;
    memset(rec, 0x14, sizeof(rec));
    check("slots_torn_keeps_previous", tinyfl_flash_slots_read(&fs, got, sizeof(got)) == TINYFL_OK &&
          memcmp(got, rec, sizeof(rec)) == 0, "lost the previous record");
    memset(rec, 0x78, sizeof(rec));
    check("slots_write_after_torn", tinyfl_flash_slots_write(&fs, rec, sizeof(rec)) == TINYFL_OK &&
          tinyfl_flash_slots_read(&fs, got, sizeof(got)) == TINYFL_OK && got[0] == 0x78, "recovery");

    check("slots_wrong_length", tinyfl_flash_slots_read(&fs, got, 20) == TINYFL_E_TRUNCATED, "length mismatch");
    memset(flash, 0x00, sizeof(flash));
    check("slots_damaged", tinyfl_flash_slots_read(&fs, got, sizeof(got)) == TINYFL_E_TRUNCATED,
          "damage read as fresh");
    check("slots_too_long",
          tinyfl_flash_slots_write(&fs, flash, TINYFL_FLASH_SLOT_IMAGE_MAX - TINYFL_FLASH_SLOT_HEADER + 1u) == TINYFL_E_ARG,
          "record over the slot image");
}

static void reply_stderr(void *user, const uint8_t *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stderr);
}

/* `probe filter`: stdin through the capture filter; kept bytes on stdout, replies on stderr,
 * then one line "capture <label> <remaining>" on stderr (for the Python side's test). */
static int filter_stdin(void)
{
    static tinyfl_capture c;
    uint8_t buf[64];
    size_t n;
    tinyfl_capture_init(&c);
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        size_t kept = tinyfl_capture_filter(&c, buf, n, reply_stderr, NULL);
        fwrite(buf, 1, kept, stdout);
    }
    fprintf(stderr, "capture %u %u\n", (unsigned)c.label, (unsigned)c.remaining);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "filter") == 0) {
        return filter_stdin();
    }
    capture_checks();
    flash_checks();
    printf("%d failures\n", failures);
    return failures == 0 ? 0 : 1;
}
