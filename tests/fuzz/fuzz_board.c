#include "fuzz_board.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "tinyfl_config.h"

void tinyfl_fuzz_board_reset(tinyfl_fuzz_board *board, tinyfl_fuzz_watch_fn watch, void *watcher)
{
    memset(board, 0, sizeof(*board));
    board->read_size = 64;
    board->watch = watch;
    board->watcher = watcher;
}

void tinyfl_fuzz_board_send(tinyfl_fuzz_board *board, const uint8_t *buf, size_t len)
{
    size_t room = TINYFL_FUZZ_LINK_CAP - board->link_len;
    size_t n = len < room ? len : room; /* a full link drops the rest, as a UART would */
    memcpy(board->link + board->link_len, buf, n);
    board->link_len += n;
}

void tinyfl_fuzz_board_add_sample(tinyfl_fuzz_board *board, tinyfl_fuzz_sample sample)
{
    if (board->samples_len < TINYFL_FUZZ_SAMPLES_CAP) {
        board->samples[board->samples_len++] = sample;
    }
}

size_t tinyfl_fuzz_board_pending(const tinyfl_fuzz_board *board)
{
    return board->link_len - board->link_pos;
}

static size_t serial_read(void *user, uint8_t *buf, size_t cap)
{
    tinyfl_fuzz_board *board = (tinyfl_fuzz_board *)user;
    size_t n = tinyfl_fuzz_board_pending(board);
    n = n < cap ? n : cap;
    n = n < board->read_size ? n : board->read_size;
    memcpy(buf, board->link + board->link_pos, n);
    board->link_pos += n;
    return n;
}

static tinyfl_status serial_write(void *user, const uint8_t *buf, size_t len)
{
    tinyfl_fuzz_board *board = (tinyfl_fuzz_board *)user;
    uint32_t n = board->link_writes++;
    if (board->link_fails & (1u << (n % 32u))) {
        board->watch(board->watcher, NULL, 0);
        return TINYFL_E_IO;
    }
    board->watch(board->watcher, buf, len);
    return TINYFL_OK;
}

static tinyfl_status entropy(void *user, uint8_t *out, size_t len)
{
    tinyfl_fuzz_board *board = (tinyfl_fuzz_board *)user;
    size_t i;
    if (board->entropy_fails) {
        memset(out, 0xEE, len); /* garbage the device must not use */
        return TINYFL_E_ENTROPY;
    }
    for (i = 0; i < len; i++) {
        out[i] = (uint8_t)(0x5Au ^ (i * 29u)); /* fixed: a crash must reproduce */
    }
    return TINYFL_OK;
}

static tinyfl_status read_record(tinyfl_fuzz_board *board, uint8_t *buf, size_t len)
{
    if (board->record_len == 0) {
        return TINYFL_E_STORAGE; /* never written */
    }
    if (len > TINYFL_FUZZ_STORAGE_CAP) {
        return TINYFL_E_ARG;
    }
    memcpy(buf, board->record, len); /* a shorter old record reads with zeros after it */
    return TINYFL_OK;
}

static tinyfl_status storage_read(void *user, uint8_t *buf, size_t len)
{
    tinyfl_fuzz_board *board = (tinyfl_fuzz_board *)user;
    return board->read_fails ? TINYFL_E_IO : read_record(board, buf, len);
}

static tinyfl_status truth_read(void *user, uint8_t *buf, size_t len)
{
    return read_record((tinyfl_fuzz_board *)user, buf, len);
}

static tinyfl_status write_record(tinyfl_fuzz_board *board, const uint8_t *buf, size_t len)
{
    if (len > TINYFL_FUZZ_STORAGE_CAP) {
        return TINYFL_E_ARG;
    }
    memset(board->record, 0, sizeof(board->record));
    memcpy(board->record, buf, len);
    board->record_len = len;
    return TINYFL_OK;
}

static tinyfl_status storage_write(void *user, const uint8_t *buf, size_t len)
{
    tinyfl_fuzz_board *board = (tinyfl_fuzz_board *)user;
    uint32_t n = board->writes++;
    if (board->write_fails & (1u << (n % 32u))) {
        if (board->torn_writes && len <= TINYFL_FUZZ_STORAGE_CAP) {
            memcpy(board->record, buf, len / 2u); /* power lost half way */
            board->record_len = board->record_len > len ? board->record_len : len;
        }
        return TINYFL_E_STORAGE;
    }
    return write_record(board, buf, len);
}

static tinyfl_status truth_write(void *user, const uint8_t *buf, size_t len)
{
    return write_record((tinyfl_fuzz_board *)user, buf, len);
}

static uint32_t millis(void *user)
{
    tinyfl_fuzz_board *board = (tinyfl_fuzz_board *)user;
    return board->now += 7u;
}

static float window_value(uint8_t seed, size_t i)
{
    uint32_t x = (uint32_t)seed * 2654435761u + (uint32_t)i * 40503u;
    x ^= x >> 13;
    return (float)(int32_t)(x % 2001u) / 250.0f - 4.0f; /* [-4, 4] */
}

static tinyfl_status sample(void *user, float *window, size_t len, uint8_t *label)
{
    tinyfl_fuzz_board *board = (tinyfl_fuzz_board *)user;
    tinyfl_fuzz_sample s;
    size_t i;
    if (board->samples_pos >= board->samples_len) {
        return TINYFL_E_NO_SAMPLES;
    }
    s = board->samples[board->samples_pos++];
    switch (s.kind % TINYFL_FUZZ_SAMPLE_KINDS) {
    case TINYFL_FUZZ_SAMPLE_FAIL:
        return TINYFL_E_IO;
    case TINYFL_FUZZ_SAMPLE_NONE:
        return TINYFL_E_NO_SAMPLES;
    default:
        break;
    }
    for (i = 0; i < len; i++) {
        window[i] = window_value(s.seed, i);
    }
    *label = (uint8_t)(s.label % TINYFL_HEAD_CLASSES);
    switch (s.kind % TINYFL_FUZZ_SAMPLE_KINDS) {
    case TINYFL_FUZZ_SAMPLE_NAN:
        window[s.where % len] = NAN;
        break;
    case TINYFL_FUZZ_SAMPLE_INF:
        window[s.where % len] = (s.seed & 1u) ? INFINITY : -INFINITY;
        break;
    case TINYFL_FUZZ_SAMPLE_HUGE:
        for (i = 0; i < len; i++) {
            window[i] = (i + s.seed) % 2u ? FLT_MAX : -FLT_MAX / 2.0f;
        }
        break;
    case TINYFL_FUZZ_SAMPLE_TINY:
        for (i = 0; i < len; i++) {
            window[i] *= FLT_MIN / 64.0f;
        }
        break;
    case TINYFL_FUZZ_SAMPLE_LARGE: {
        float scale = 1.0f;
        for (i = 0; i < s.where % 19u; i++) {
            scale *= 10.0f;
        }
        for (i = 0; i < len; i++) {
            window[i] *= scale;
        }
        break;
    }
    case TINYFL_FUZZ_SAMPLE_BAD_LABEL:
        *label = s.label;
        break;
    default:
        break;
    }
    return TINYFL_OK;
}

static void fill(tinyfl_fuzz_board *board, tinyfl_port *port)
{
    memset(port, 0, sizeof(*port));
    port->user = board;
    port->serial_read = serial_read;
    port->serial_write = serial_write;
    port->entropy = entropy;
    port->millis = millis;
    port->sample = sample;
}

void tinyfl_fuzz_board_port(tinyfl_fuzz_board *board, tinyfl_port *port)
{
    fill(board, port);
    port->storage_read = storage_read;
    port->storage_write = storage_write;
}

static size_t no_read(void *user, uint8_t *buf, size_t cap)
{
    (void)user;
    (void)buf;
    (void)cap;
    return 0;
}

static tinyfl_status no_write(void *user, const uint8_t *buf, size_t len)
{
    (void)user;
    (void)buf;
    (void)len;
    return TINYFL_E_IO;
}

static tinyfl_status no_sample(void *user, float *window, size_t len, uint8_t *label)
{
    (void)user;
    (void)window;
    (void)len;
    (void)label;
    return TINYFL_E_NO_SAMPLES;
}

void tinyfl_fuzz_board_truth_port(tinyfl_fuzz_board *board, tinyfl_port *port)
{
    fill(board, port);
    port->serial_read = no_read;
    port->serial_write = no_write;
    port->sample = no_sample;
    port->storage_read = truth_read;
    port->storage_write = truth_write;
}
