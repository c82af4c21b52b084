#include "tinyfl_flashlog.h"

#include <string.h>

#include "tinyfl_crc32.h"
#include "tinyfl_ledger.h"

#define ERASED 0xFFFFFFFFu
/* Entry headers. Their zero bits are disjoint, so even a half-programmed header (a subset of
 * its zeros) tells which kind it was meant to be, and a release is never mistaken for another. */
#define H_CHECKPOINT 0xFFFFFF00u
#define H_CURVE 0xFFFF00FFu
#define H_RELEASE 0xFF00FFFFu
#define H_BOOT 0x00FFFFFFu
#define CHECK_MASK 0x7FFFFFFFu /* a valid check word is never erased */
#define SUPERSEDED 0u

enum change { NONE, BOOT, RELEASE, CURVE_AND_RELEASE, OTHER };

static uint32_t page_base(const tinyfl_port *port, uint32_t page) { return page * port->flash_page_size; }

/* Entries end before the page's last word, which is the superseded marker. */
static uint32_t marker_at(const tinyfl_port *port) { return port->flash_page_size - 4u; }

static int geometry_ok(const tinyfl_port *port)
{
    uint32_t ps = port->flash_page_size, n = port->flash_page_count;
    return n >= 2u && ps >= TINYFL_FLASHLOG_MIN_PAGE_SIZE && ps % 4u == 0u && ps <= UINT32_MAX / n &&
           port->flash_erase != NULL && port->flash_write != NULL && port->flash_read != NULL;
}

/* Reads n words from addr; in blocks, so a long entry costs few hook calls. */
static tinyfl_status read_words(const tinyfl_port *port, uint32_t addr, uint32_t *words, uint32_t n)
{
    uint8_t b[64];
    tinyfl_status st = TINYFL_OK;
    for (uint32_t done = 0; done < n && st == TINYFL_OK;) {
        uint32_t k = n - done < sizeof(b) / 4u ? n - done : (uint32_t)(sizeof(b) / 4u);
        st = port->flash_read(port->user, addr + 4u * done, b, 4u * k);
        for (uint32_t i = 0; i < k; i++, done++) {
            const uint8_t *w = &b[4u * i];
            words[done] = (uint32_t)w[0] | ((uint32_t)w[1] << 8) | ((uint32_t)w[2] << 16) | ((uint32_t)w[3] << 24);
        }
    }
    return st;
}

static tinyfl_status read_word(const tinyfl_port *port, uint32_t addr, uint32_t *word)
{
    return read_words(port, addr, word, 1u);
}

static uint32_t crc_word(uint32_t crc, uint32_t word)
{
    uint8_t b[4] = {(uint8_t)word, (uint8_t)(word >> 8), (uint8_t)(word >> 16), (uint8_t)(word >> 24)};
    return tinyfl_crc32_update(crc, b, sizeof(b));
}

/* The check of an entry covers the page's sequence number and the entry's offset, so an entry
 * is valid only where it was written, in the page generation it was written for. */
static uint32_t check_start(uint32_t seq, uint32_t offset) { return crc_word(crc_word(0, seq), offset); }

static uint32_t words_of(uint32_t header)
{
    switch (header) {
    case H_CHECKPOINT: return TINYFL_FLASHLOG_CHECKPOINT_WORDS;
    case H_CURVE: return TINYFL_FLASHLOG_CURVE_WORDS;
    case H_RELEASE: return TINYFL_FLASHLOG_RELEASE_WORDS;
    case H_BOOT: return TINYFL_FLASHLOG_BOOT_WORDS;
    default: return 0;
    }
}

/* The header a partly programmed (or fading) one was meant to be: the one kind whose zero bits
 * include all of its zero bits; 0 when none does. */
static uint32_t meant(uint32_t header)
{
    static const uint32_t kinds[] = {H_CHECKPOINT, H_CURVE, H_RELEASE, H_BOOT};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if ((~header & kinds[i]) == 0) {
            return kinds[i];
        }
    }
    return 0;
}

/* The same saturating sum as tinyfl_rdp_charge, for a curve read from flash. */
static uint32_t charged(uint32_t stored, uint32_t per, uint32_t times)
{
    if (times == 0) {
        return stored;
    }
    if (stored == TINYFL_RDP_UNBOUNDED || per == TINYFL_RDP_UNBOUNDED) {
        return TINYFL_RDP_UNBOUNDED;
    }
    uint64_t sum = (uint64_t)stored + (uint64_t)per * times;
    return sum >= TINYFL_RDP_UNBOUNDED ? TINYFL_RDP_UNBOUNDED : (uint32_t)sum;
}

/* 1 when the entry at `addr` (`words` long, header included) carries its check. */
static tinyfl_status entry_valid(const tinyfl_port *port, uint32_t addr, uint32_t offset, uint32_t seq,
                                 uint32_t words, int *valid)
{
    uint32_t crc = check_start(seq, offset), w = 0;
    tinyfl_status st = TINYFL_OK;
    for (uint32_t i = 0; i + 1u < words && st == TINYFL_OK; i++) {
        st = read_word(port, addr + 4u * i, &w);
        crc = crc_word(crc, w);
    }
    if (st == TINYFL_OK) {
        st = read_word(port, addr + 4u * (words - 1u), &w);
    }
    *valid = st == TINYFL_OK && w == (crc & CHECK_MASK);
    return st;
}

/* 1 when every word in [from, to) of the page is erased. */
static tinyfl_status erased(const tinyfl_port *port, uint32_t page, uint32_t from, uint32_t to, int *all)
{
    tinyfl_status st = TINYFL_OK;
    uint32_t w = ERASED;
    *all = 1;
    for (uint32_t off = from; off < to && st == TINYFL_OK && *all; off += 4u) {
        st = read_word(port, page_base(port, page) + off, &w);
        *all = w == ERASED;
    }
    return st;
}

static tinyfl_status lock(tinyfl_ledger *ledger)
{
    ledger->locked = 1;
    return TINYFL_E_STORAGE;
}

static void remember(tinyfl_flashlog *log, const tinyfl_ledger *ledger)
{
    log->releases_done = ledger->releases_done;
    log->last_run = ledger->last_run;
    log->last_round = ledger->last_round;
    log->boot_count = ledger->boot_count;
    memcpy(log->rdp, ledger->rdp, sizeof(log->rdp));
}

/* Adds `times` releases of the curve at curve_at. */
static tinyfl_status charge_from_flash(tinyfl_ledger *ledger, const tinyfl_port *port, uint32_t times)
{
    tinyfl_status st = TINYFL_OK;
    uint32_t per[16];
    for (uint32_t i = 0; i < TINYFL_RDP_ORDERS && times != 0 && st == TINYFL_OK; i += 16u) {
        uint32_t n = TINYFL_RDP_ORDERS - i < 16u ? TINYFL_RDP_ORDERS - i : 16u;
        st = read_words(port, ledger->log.curve_at + 4u * i, per, n);
        for (uint32_t k = 0; k < n; k++) {
            ledger->rdp[i + k] = charged(ledger->rdp[i + k], per[k], times);
        }
    }
    return st;
}

/* The newest valid checkpoint; *found 0 when no page has one, *tie when two share a seq. */
static tinyfl_status newest_checkpoint(const tinyfl_port *port, uint32_t *page, uint32_t *seq, int *found, int *tie)
{
    *found = *tie = 0;
    for (uint32_t p = 0; p < port->flash_page_count; p++) {
        uint32_t h = 0, s = 0;
        int valid = 0;
        tinyfl_status st = read_word(port, page_base(port, p), &h);
        if (st == TINYFL_OK && h == H_CHECKPOINT) {
            st = read_word(port, page_base(port, p) + 4u, &s);
        }
        if (st == TINYFL_OK && h == H_CHECKPOINT) {
            st = entry_valid(port, page_base(port, p), 0, s, TINYFL_FLASHLOG_CHECKPOINT_WORDS, &valid);
        }
        if (st != TINYFL_OK) {
            return st;
        }
        if (valid && *found && s == *seq) {
            *tie = 1;
        } else if (valid && (!*found || s > *seq)) {
            *page = p;
            *seq = s;
            *found = 1;
            *tie = 0;
        }
    }
    return TINYFL_OK;
}

/* No checkpoint anywhere: a fresh region, or the very first checkpoint (of an empty ledger,
 * tinyfl_flashlog_store writes nothing else first) was cut. Anything else is damage. */
static tinyfl_status never_committed(const tinyfl_port *port, int *fresh)
{
    int all = 1;
    tinyfl_status st = erased(port, 0, 4u * TINYFL_FLASHLOG_CHECKPOINT_WORDS, port->flash_page_size, &all);
    for (uint32_t p = 1; p < port->flash_page_count && st == TINYFL_OK && all; p++) {
        st = erased(port, p, 0, port->flash_page_size, &all);
    }
    *fresh = all;
    return st;
}

static tinyfl_status read_checkpoint(tinyfl_ledger *ledger, const tinyfl_port *port)
{
    uint32_t base = page_base(port, ledger->log.page), v[4] = {0};
    tinyfl_status st = TINYFL_OK;
    for (uint32_t i = 0; i < 4u && st == TINYFL_OK; i++) {
        st = read_word(port, base + 8u + 4u * i, &v[i]);
    }
    ledger->releases_done = (uint16_t)(v[0] > UINT16_MAX ? UINT16_MAX : v[0]);
    ledger->last_run = v[1];
    ledger->last_round = v[2];
    ledger->boot_count = v[3];
    for (uint32_t i = 0; i < TINYFL_RDP_ORDERS && st == TINYFL_OK; i++) {
        st = read_word(port, base + 24u + 4u * i, &ledger->rdp[i]);
    }
    return st;
}

/* Applies the page's entries after its checkpoint. Returns STORAGE on damage. */
static tinyfl_status replay(tinyfl_ledger *ledger, const tinyfl_port *port)
{
    tinyfl_flashlog *log = &ledger->log;
    uint32_t base = page_base(port, log->page), end = marker_at(port);
    uint32_t off = 4u * TINYFL_FLASHLOG_CHECKPOINT_WORDS, pending = 0, w = 0;
    tinyfl_status st = TINYFL_OK;
    while (off < end && st == TINYFL_OK) {
        uint32_t h = 0;
        int valid = 0, all = 1;
        st = read_word(port, base + off, &h);
        if (st != TINYFL_OK) {
            break;
        }
        if (h == ERASED) { /* the end of the log: nothing may follow */
            st = erased(port, log->page, off, end, &all);
            st = st == TINYFL_OK && !all ? TINYFL_E_STORAGE : st;
            break;
        }
        uint32_t words = words_of(h);
        if (words != 0 && h != H_CHECKPOINT && off + 4u * words <= end) {
            st = entry_valid(port, base + off, off, log->seq, words, &valid);
        }
        if (st != TINYFL_OK) {
            break;
        }
        if (valid) {
            if (h == H_CURVE) {
                st = charge_from_flash(ledger, port, pending);
                pending = 0;
                log->curve_at = base + off + 4u;
            } else if (h == H_RELEASE) {
                if (log->curve_at == 0) {
                    return TINYFL_E_STORAGE; /* a release with no curve: never written so */
                }
                pending++;
                ledger->releases_done += ledger->releases_done < UINT16_MAX;
                st = read_word(port, base + off + 4u, &w);
                ledger->last_run = w;
                st = st == TINYFL_OK ? read_word(port, base + off + 8u, &w) : st;
                ledger->last_round = w;
            } else {
                ledger->boot_count++;
            }
            off += 4u * words;
            continue;
        }
        /* Not a whole entry: the one a power cut interrupted, so past its extent everything
         * is still erased, or else the page is damaged. */
        h = meant(h);
        uint32_t span = 4u * words_of(h);
        if (h == 0 || h == H_CHECKPOINT) {
            return TINYFL_E_STORAGE;
        }
        st = erased(port, log->page, end - off > span ? off + span : end, end, &all);
        if (st == TINYFL_OK && !all) {
            return TINYFL_E_STORAGE;
        }
        if (h == H_RELEASE) {
            /* It may be a release: it was not sent (a release leaves only after its check word
             * is written) but a fading complete entry looks the same, so count it as spent. */
            if (log->curve_at == 0) {
                return TINYFL_E_STORAGE;
            }
            pending++;
            ledger->releases_done += ledger->releases_done < UINT16_MAX;
        }
        log->compact = 1;
        break;
    }
    log->next = off;
    return st == TINYFL_OK ? charge_from_flash(ledger, port, pending) : st;
}

tinyfl_status tinyfl_flashlog_load(tinyfl_ledger *ledger, const tinyfl_port *port)
{
    tinyfl_flashlog *log = &ledger->log;
    uint32_t marker = 0;
    int found = 0, tie = 0, fresh = 0;
    memset(log, 0, sizeof(*log));
    if (!geometry_ok(port)) {
        return lock(ledger);
    }
    tinyfl_status st = newest_checkpoint(port, &log->page, &log->seq, &found, &tie);
    if (st == TINYFL_OK && !found) {
        st = never_committed(port, &fresh);
        return st == TINYFL_OK && fresh ? TINYFL_OK : lock(ledger);
    }
    st = st == TINYFL_OK ? read_word(port, page_base(port, log->page) + marker_at(port), &marker) : st;
    /* A superseded newest page means a newer one was lost: the ledger would roll back. */
    if (st != TINYFL_OK || tie || marker != ERASED) {
        return lock(ledger);
    }
    log->started = 1;
    st = read_checkpoint(ledger, port);
    st = st == TINYFL_OK ? replay(ledger, port) : st;
    if (st != TINYFL_OK) {
        return lock(ledger);
    }
    remember(log, ledger);
    return TINYFL_OK;
}

/* Payload word i of an entry (after the header, before the check); ledger NULL: the empty one. */
static uint32_t payload(const tinyfl_ledger *ledger, uint32_t header, uint32_t seq, uint32_t i)
{
    if (ledger == NULL) {
        return i == 0 ? seq : 0u;
    }
    const tinyfl_flashlog *log = &ledger->log;
    if (header == H_RELEASE) {
        return i == 0 ? ledger->last_run : ledger->last_round;
    }
    if (header == H_CURVE) { /* this release's cost: what it added at each order */
        return ledger->rdp[i] == TINYFL_RDP_UNBOUNDED ? TINYFL_RDP_UNBOUNDED : ledger->rdp[i] - log->rdp[i];
    }
    switch (i) {
    case 0: return seq;
    case 1: return ledger->releases_done;
    case 2: return ledger->last_run;
    case 3: return ledger->last_round;
    case 4: return ledger->boot_count;
    default: return ledger->rdp[i - 5u];
    }
}

/* Writes one entry at `offset` of `page`: header, payload, then the check word last. */
static tinyfl_status write_entry(const tinyfl_ledger *ledger, const tinyfl_port *port, uint32_t page, uint32_t offset,
                                 uint32_t seq, uint32_t header)
{
    uint32_t words = words_of(header), addr = page_base(port, page) + offset;
    uint32_t crc = crc_word(check_start(seq, offset), header);
    tinyfl_status st = port->flash_write(port->user, addr, header);
    for (uint32_t i = 0; i + 2u < words && st == TINYFL_OK; i++) {
        uint32_t w = payload(ledger, header, seq, i);
        crc = crc_word(crc, w);
        st = port->flash_write(port->user, addr + 4u + 4u * i, w);
    }
    return st == TINYFL_OK ? port->flash_write(port->user, addr + 4u * (words - 1u), crc & CHECK_MASK) : st;
}

/* A checkpoint of the whole ledger on the next page; the old page is marked superseded only
 * after it is committed. */
static tinyfl_status compact(tinyfl_ledger *ledger, const tinyfl_port *port)
{
    tinyfl_flashlog *log = &ledger->log;
    uint32_t target = (log->page + 1u) % port->flash_page_count, seq = log->seq + 1u;
    log->compact = 1;
    tinyfl_status st = port->flash_erase(port->user, target);
    st = st == TINYFL_OK ? write_entry(ledger, port, target, 0, seq, H_CHECKPOINT) : st;
    if (st != TINYFL_OK) {
        return TINYFL_E_STORAGE;
    }
    /* The new page already wins by its seq; a failed marker only weakens the rollback check. */
    (void)port->flash_write(port->user, page_base(port, log->page) + marker_at(port), SUPERSEDED);
    log->page = target;
    log->seq = seq;
    log->next = 4u * TINYFL_FLASHLOG_CHECKPOINT_WORDS;
    log->curve_at = 0;
    log->compact = 0;
    return TINYFL_OK;
}

/* The first write to a region: the checkpoint of an empty ledger, so that cutting it loses
 * nothing (tinyfl_flashlog_load then finds the region fresh again). */
static tinyfl_status start(const tinyfl_port *port, tinyfl_flashlog *log)
{
    tinyfl_status st = port->flash_erase(port->user, 0);
    st = st == TINYFL_OK ? write_entry(NULL, port, 0, 0, 1u, H_CHECKPOINT) : st;
    if (st != TINYFL_OK) {
        return TINYFL_E_STORAGE;
    }
    memset(log, 0, sizeof(*log));
    log->started = 1;
    log->seq = 1u;
    log->next = 4u * TINYFL_FLASHLOG_CHECKPOINT_WORDS;
    return TINYFL_OK;
}

static enum change what_changed(const tinyfl_ledger *ledger, const tinyfl_port *port, tinyfl_status *st)
{
    const tinyfl_flashlog *log = &ledger->log;
    int same_rdp = memcmp(ledger->rdp, log->rdp, sizeof(log->rdp)) == 0, with_curve = log->curve_at != 0;
    if (ledger->releases_done == log->releases_done && ledger->last_run == log->last_run &&
        ledger->last_round == log->last_round && same_rdp) {
        return ledger->boot_count == log->boot_count        ? NONE
               : ledger->boot_count == log->boot_count + 1u ? BOOT
                                                            : OTHER;
    }
    if (ledger->boot_count != log->boot_count || ledger->releases_done != log->releases_done + 1u) {
        return OTHER;
    }
    int derivable = 1;
    uint32_t per[16];
    for (uint32_t i = 0; i < TINYFL_RDP_ORDERS && *st == TINYFL_OK; i += 16u) {
        uint32_t n = TINYFL_RDP_ORDERS - i < 16u ? TINYFL_RDP_ORDERS - i : 16u;
        if (with_curve) {
            *st = read_words(port, log->curve_at + 4u * i, per, n);
        }
        for (uint32_t k = 0; k < n; k++) {
            with_curve = with_curve && charged(log->rdp[i + k], per[k], 1) == ledger->rdp[i + k];
            derivable &= ledger->rdp[i + k] == TINYFL_RDP_UNBOUNDED || ledger->rdp[i + k] >= log->rdp[i + k];
        }
    }
    return with_curve ? RELEASE : derivable ? CURVE_AND_RELEASE : OTHER;
}

static int fits(const tinyfl_port *port, const tinyfl_flashlog *log, uint32_t words)
{
    return log->next <= marker_at(port) && marker_at(port) - log->next >= 4u * words;
}

static tinyfl_status append(tinyfl_ledger *ledger, const tinyfl_port *port, uint32_t header)
{
    tinyfl_flashlog *log = &ledger->log;
    tinyfl_status st = write_entry(ledger, port, log->page, log->next, log->seq, header);
    if (st != TINYFL_OK) {
        log->compact = 1; /* the tail is unknown now */
        return TINYFL_E_STORAGE;
    }
    if (header == H_CURVE) {
        log->curve_at = page_base(port, log->page) + log->next + 4u;
    }
    log->next += 4u * words_of(header);
    return TINYFL_OK;
}

tinyfl_status tinyfl_flashlog_store(tinyfl_ledger *ledger, const tinyfl_port *port)
{
    tinyfl_flashlog *log = &ledger->log;
    tinyfl_status st = TINYFL_OK;
    if (ledger->locked || !geometry_ok(port)) {
        return TINYFL_E_STORAGE;
    }
    if (!log->started) {
        st = start(port, log);
    }
    enum change change = st == TINYFL_OK ? what_changed(ledger, port, &st) : OTHER;
    if (st != TINYFL_OK) {
        return TINYFL_E_STORAGE;
    }
    if (change == NONE && !log->compact) {
        return TINYFL_OK;
    }
    if (log->compact || change == OTHER ||
        (change == BOOT && !fits(port, log, TINYFL_FLASHLOG_BOOT_WORDS)) ||
        (change == RELEASE && !fits(port, log, TINYFL_FLASHLOG_RELEASE_WORDS)) ||
        (change == CURVE_AND_RELEASE &&
         !fits(port, log, TINYFL_FLASHLOG_CURVE_WORDS + TINYFL_FLASHLOG_RELEASE_WORDS))) {
        st = compact(ledger, port);
    } else if (change == BOOT) {
        st = append(ledger, port, H_BOOT);
    } else {
        st = change == CURVE_AND_RELEASE ? append(ledger, port, H_CURVE) : TINYFL_OK;
        st = st == TINYFL_OK ? append(ledger, port, H_RELEASE) : st;
    }
    if (st == TINYFL_OK) {
        remember(log, ledger);
    }
    return st;
}
