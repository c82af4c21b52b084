/* Labelled samples on a real board, collected without the server learning the labels.
 *
 * The device owner starts a capture locally: a button on the board, or a text command on the
 * board's USB serial from the owner's own machine (`!capture <label> <windows>`). The board
 * then records that many windows of IMU readings at the model's rate and keeps each with its
 * label in a bounded buffer; the sample hook hands them to the runtime for the next round. The
 * labels never leave the device except through the protected (clipped, noised) update.
 *
 * Commands share the serial link with the wire frames. A frame's first byte (its COBS code)
 * is at most 8, because byte 7 of every frame header (the high byte of a chunk length <= 240)
 * is zero; so a line that starts with '!' right after a frame delimiter can never be the start
 * of a frame. tinyfl_capture_filter() takes such lines out of the received bytes. A line ends
 * with '\n' or '\r' and counts as a delimiter, so commands typed in a serial terminal
 * ("!capture 2 5" Enter, again and again) work without the leading 0x00.
 *
 * Portable C99 (host-tested), no malloc: the caller owns the struct. */
#ifndef TINYFL_CAPTURE_H
#define TINYFL_CAPTURE_H

#ifdef __cplusplus
extern "C" { /* C99, also included from the C++ glue */
#endif

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_config.h"
#include "tinyfl_status.h"

/* Windows kept until the next round (default: one round's worth). */
#ifndef TINYFL_CAPTURE_SLOTS
#define TINYFL_CAPTURE_SLOTS TINYFL_SAMPLES_PER_ROUND
#endif
#if TINYFL_CAPTURE_SLOTS < 1 || TINYFL_CAPTURE_SLOTS > 255
#error "TINYFL_CAPTURE_SLOTS must be 1..255"
#endif
/* 1: commands on the serial link may start a capture. 0: only the button can (use this when
 * the serial link does not end at the owner's machine). */
#ifndef TINYFL_CAPTURE_FROM_LINK
#define TINYFL_CAPTURE_FROM_LINK 1
#endif
#define TINYFL_CAPTURE_LINE_MAX 40
#define TINYFL_CAPTURE_REPLY_MAX 48

typedef void (*tinyfl_capture_reply_fn)(void *user, const uint8_t *text, size_t len);

typedef struct {
    float windows[TINYFL_CAPTURE_SLOTS][TINYFL_INPUT_LEN];
    uint8_t labels[TINYFL_CAPTURE_SLOTS];
    uint8_t head;       /* oldest stored window */
    uint8_t count;      /* stored windows */
    uint16_t steps;     /* time steps recorded into the window after the stored ones */
    uint16_t remaining; /* windows still to record; 0 when not capturing */
    uint8_t label;      /* label of the capture in progress, or of the next button capture */
    uint32_t dropped;   /* captures cut short because the buffer was full */
    /* command parser */
    uint8_t state;
    uint8_t line_len;
    char line[TINYFL_CAPTURE_LINE_MAX + 1];
} tinyfl_capture;

void tinyfl_capture_init(tinyfl_capture *c);
/* Records `windows` (1..TINYFL_CAPTURE_SLOTS) windows with `label` (< TINYFL_HEAD_CLASSES);
 * ARG otherwise. Restarting drops the window being recorded. */
tinyfl_status tinyfl_capture_start(tinyfl_capture *c, unsigned label, unsigned windows);
void tinyfl_capture_stop(tinyfl_capture *c);
/* One time step: TINYFL_INPUT_CHANNELS readings. Ignored when not capturing; when the buffer
 * is full the capture stops (counted in `dropped`) rather than overwrite older windows. */
void tinyfl_capture_reading(tinyfl_capture *c, const float *reading);
/* The sampler missed time steps (the board was busy): the window being recorded restarts, so
 * no stored window has a hole in it. */
void tinyfl_capture_gap(tinyfl_capture *c);
/* The sample hook: the oldest stored window and its label (then erased from the buffer);
 * NO_SAMPLES when none, SHAPE when len != TINYFL_INPUT_LEN. */
tinyfl_status tinyfl_capture_take(tinyfl_capture *c, float *window, size_t len, uint8_t *label);
/* Removes command lines from `len` received bytes in place, runs them (answering through
 * `reply` with a line `!ok ...` or `!error ...` between delimiters) and returns how many bytes
 * remain for the frame decoder. Untrusted input: any byte sequence is handled. */
size_t tinyfl_capture_filter(tinyfl_capture *c, uint8_t *buf, size_t len, tinyfl_capture_reply_fn reply,
                             void *user);

#ifdef __cplusplus
}
#endif

#endif /* TINYFL_CAPTURE_H */
