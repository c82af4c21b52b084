/* An in-memory board for the device harness: a link fed from the fuzzer's script, storage in RAM
 * with scripted faults, a scripted sensor (NaN, Inf, failures) and fixed entropy. Everything
 * the device writes to the link goes to a watcher (the oracle). */
#ifndef TINYFL_FUZZ_BOARD_H
#define TINYFL_FUZZ_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfl_ledger.h"
#include "tinyfl_port.h"

#define TINYFL_FUZZ_LINK_CAP 65536u
#ifndef TINYFL_FUZZ_STORAGE_CAP /* the secure-aggregation harness stores the ledger extension too */
#define TINYFL_FUZZ_STORAGE_CAP (TINYFL_LEDGER_SIZE + 64u) /* room for a record larger than the ledger */
#endif
#define TINYFL_FUZZ_SAMPLES_CAP 64u

/* What the sensor does on one call of sample(). */
enum {
    TINYFL_FUZZ_SAMPLE_OK,         /* a window of ordinary values, label in range */
    TINYFL_FUZZ_SAMPLE_NAN,        /* one value NaN */
    TINYFL_FUZZ_SAMPLE_INF,        /* one value +-Inf */
    TINYFL_FUZZ_SAMPLE_HUGE,       /* values near FLT_MAX: sums overflow inside the backbone */
    TINYFL_FUZZ_SAMPLE_TINY,       /* subnormal values */
    TINYFL_FUZZ_SAMPLE_LARGE,      /* finite features up to 1e18: training may overflow */
    TINYFL_FUZZ_SAMPLE_BAD_LABEL,  /* label byte as given, usually out of range */
    TINYFL_FUZZ_SAMPLE_FAIL,       /* the sensor reports an error */
    TINYFL_FUZZ_SAMPLE_NONE,       /* nothing new (the same as an empty queue) */
    TINYFL_FUZZ_SAMPLE_KINDS
};

typedef struct {
    uint8_t kind;
    uint8_t label;
    uint8_t seed;  /* the window's values */
    uint8_t where; /* the special value's index, for NAN and INF */
} tinyfl_fuzz_sample;

/* Bytes the device wrote to the link; buf NULL: a write failed (nothing of it was sent). */
typedef void (*tinyfl_fuzz_watch_fn)(void *watcher, const uint8_t *buf, size_t len);

typedef struct {
    uint8_t link[TINYFL_FUZZ_LINK_CAP]; /* bytes for the device to read */
    size_t link_len;
    size_t link_pos;
    size_t read_size; /* most bytes one serial_read returns */
    uint32_t link_fails; /* bit (n mod 32): the n-th serial_write fails (E_IO), nothing sent */
    uint32_t link_writes;

    uint8_t record[TINYFL_FUZZ_STORAGE_CAP];
    size_t record_len;    /* 0: never written */
    int read_fails;       /* every storage_read fails (E_IO) */
    uint32_t write_fails; /* bit (n mod 32): the n-th storage_write fails */
    int torn_writes;      /* a failing write leaves half the new record behind */
    uint32_t writes;

    int entropy_fails;

    tinyfl_fuzz_sample samples[TINYFL_FUZZ_SAMPLES_CAP];
    size_t samples_len;
    size_t samples_pos;

    uint32_t now;
    tinyfl_fuzz_watch_fn watch;
    void *watcher;
} tinyfl_fuzz_board;

void tinyfl_fuzz_board_reset(tinyfl_fuzz_board *board, tinyfl_fuzz_watch_fn watch, void *watcher);
/* The device's port, with every scripted fault. */
void tinyfl_fuzz_board_port(tinyfl_fuzz_board *board, tinyfl_port *port);
/* The same storage without faults: what is really stored, for the oracle (and for setting up
 * the initial record). Its link and sensor hooks do nothing. */
void tinyfl_fuzz_board_truth_port(tinyfl_fuzz_board *board, tinyfl_port *port);

void tinyfl_fuzz_board_send(tinyfl_fuzz_board *board, const uint8_t *buf, size_t len);
void tinyfl_fuzz_board_add_sample(tinyfl_fuzz_board *board, tinyfl_fuzz_sample sample);
/* Bytes queued on the link that the device has not read yet. */
size_t tinyfl_fuzz_board_pending(const tinyfl_fuzz_board *board);

#endif /* TINYFL_FUZZ_BOARD_H */
