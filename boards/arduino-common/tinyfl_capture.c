#include "tinyfl_capture.h"

#include <string.h>

enum { AT_FRAME_START, IN_FRAME, IN_COMMAND, DISCARDING };

void tinyfl_capture_init(tinyfl_capture *c)
{
    memset(c, 0, sizeof(*c));
    c->state = AT_FRAME_START;
}

tinyfl_status tinyfl_capture_start(tinyfl_capture *c, unsigned label, unsigned windows)
{
    if (label >= TINYFL_HEAD_CLASSES || windows < 1u || windows > TINYFL_CAPTURE_SLOTS) {
        return TINYFL_E_ARG;
    }
    c->label = (uint8_t)label;
    c->remaining = (uint16_t)windows;
    c->steps = 0;
    return TINYFL_OK;
}

void tinyfl_capture_stop(tinyfl_capture *c)
{
    c->remaining = 0;
    c->steps = 0;
}

void tinyfl_capture_reading(tinyfl_capture *c, const float *reading)
{
    if (c->remaining == 0u) {
        return;
    }
    if (c->count == TINYFL_CAPTURE_SLOTS) {
        c->dropped++;
        tinyfl_capture_stop(c);
        return;
    }
    unsigned slot = (c->head + c->count) % TINYFL_CAPTURE_SLOTS;
    memcpy(&c->windows[slot][(size_t)c->steps * TINYFL_INPUT_CHANNELS], reading,
           TINYFL_INPUT_CHANNELS * sizeof(float));
    if (++c->steps == TINYFL_INPUT_STEPS) {
        c->labels[slot] = c->label;
        c->count++;
        c->steps = 0;
        c->remaining--;
    }
}

void tinyfl_capture_gap(tinyfl_capture *c) { c->steps = 0; }

tinyfl_status tinyfl_capture_take(tinyfl_capture *c, float *window, size_t len, uint8_t *label)
{
    if (len != TINYFL_INPUT_LEN) {
        return TINYFL_E_SHAPE;
    }
    if (c->count == 0u) {
        return TINYFL_E_NO_SAMPLES;
    }
    memcpy(window, c->windows[c->head], sizeof(c->windows[0]));
    *label = c->labels[c->head];
    /* Sensor data is erased once handed over. */
    memset(c->windows[c->head], 0, sizeof(c->windows[0]));
    c->head = (uint8_t)((c->head + 1u) % TINYFL_CAPTURE_SLOTS);
    c->count--;
    return TINYFL_OK;
}

/* A decimal number of at most 5 digits followed by a space or the end; advances *p. */
static int parse_uint(const char **p, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0, digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (++digits > 5u) {
            return 0;
        }
        v = v * 10u + (unsigned)(*s++ - '0');
    }
    if (digits == 0u || (*s != ' ' && *s != '\0')) {
        return 0;
    }
    *out = v;
    *p = (*s == ' ') ? s + 1 : s;
    return 1;
}

static size_t append(char *buf, size_t n, const char *text)
{
    while (*text != '\0' && n < TINYFL_CAPTURE_REPLY_MAX - 2u) {
        buf[n++] = *text++;
    }
    return n;
}

static size_t append_uint(char *buf, size_t n, unsigned long v)
{
    char digits[12];
    size_t k = 0;
    do {
        digits[k++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (k > 0u && n < TINYFL_CAPTURE_REPLY_MAX - 2u) {
        buf[n++] = digits[--k];
    }
    return n;
}

static void send_reply(tinyfl_capture_reply_fn reply, void *user, char *text, size_t n)
{
    /* Between delimiters, so a frame decoder on the host drops it and stays in sync. */
    uint8_t out[TINYFL_CAPTURE_REPLY_MAX + 2];
    out[0] = 0u;
    memcpy(out + 1, text, n);
    out[n + 1] = '\n';
    out[n + 2] = 0u;
    if (reply != NULL) {
        reply(user, out, n + 3u);
    }
}

static void run_command(tinyfl_capture *c, tinyfl_capture_reply_fn reply, void *user)
{
    char text[TINYFL_CAPTURE_REPLY_MAX];
    size_t n = 0;
    const char *p = c->line;
    unsigned label = 0, windows = 0;

    if (strcmp(p, "capture status") == 0) {
        n = append(text, n, "!ok status ");
        n = append_uint(text, n, c->count);
        n = append(text, n, " ");
        n = append_uint(text, n, c->remaining);
        n = append(text, n, " ");
        n = append_uint(text, n, c->dropped);
    } else if (!TINYFL_CAPTURE_FROM_LINK) {
        n = append(text, n, "!error capture from the link is disabled");
    } else if (strcmp(p, "capture stop") == 0) {
        tinyfl_capture_stop(c);
        n = append(text, n, "!ok stop");
    } else if (strncmp(p, "capture ", 8) == 0 && (p += 8, parse_uint(&p, &label)) && parse_uint(&p, &windows) &&
               *p == '\0') {
        if (tinyfl_capture_start(c, label, windows) == TINYFL_OK) {
            n = append(text, n, "!ok capture ");
            n = append_uint(text, n, label);
            n = append(text, n, " ");
            n = append_uint(text, n, windows);
        } else {
            n = append(text, n, "!error label or window count out of range");
        }
    } else {
        n = append(text, n, "!error unknown command");
    }
    send_reply(reply, user, text, n);
}

size_t tinyfl_capture_filter(tinyfl_capture *c, uint8_t *buf, size_t len, tinyfl_capture_reply_fn reply,
                             void *user)
{
    size_t kept = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = buf[i];
        switch (c->state) {
        case AT_FRAME_START:
            if (b == (uint8_t)'!') {
                c->state = IN_COMMAND;
                c->line_len = 0;
                continue;
            }
            if (b == (uint8_t)'\r' || b == (uint8_t)'\n') {
                continue; /* the rest of a typed "\r\n": never the start of a frame (> 8) */
            }
            c->state = (b == 0u) ? AT_FRAME_START : IN_FRAME;
            break;
        case IN_FRAME:
            if (b == 0u) {
                c->state = AT_FRAME_START;
            }
            break;
        case IN_COMMAND:
            if (b == (uint8_t)'\n' || b == (uint8_t)'\r') {
                c->line[c->line_len] = '\0';
                run_command(c, reply, user);
                c->state = AT_FRAME_START;
                continue;
            }
            if (b == 0u) { /* unterminated: dropped, the delimiter still reaches the decoder */
                c->state = AT_FRAME_START;
                break;
            }
            if (b >= 0x20u && b < 0x7Fu && c->line_len < TINYFL_CAPTURE_LINE_MAX) {
                c->line[c->line_len++] = (char)b;
            } else {
                c->state = DISCARDING;
            }
            continue;
        default: /* DISCARDING a line that is too long or not text */
            if (b == (uint8_t)'\n' || b == 0u) {
                char text[] = "!error bad command line";
                send_reply(reply, user, text, sizeof(text) - 1u);
                c->state = AT_FRAME_START;
                if (b == 0u) {
                    break;
                }
            }
            continue;
        }
        buf[kept++] = b;
    }
    return kept;
}
