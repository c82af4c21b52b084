/* Power-cut harness of the flash ledger (firmware/tinyfl_flashlog.c), host or on target.
 *
 * An in-memory NOR flash enforces its rules (erase sets a page to ones, a write can only clear
 * bits and programs each word at most once between erases) and cuts the power at one chosen
 * operation: before it, or halfway (some of a word's zero bits programmed, or part of a page
 * erased). The device model then reboots from what the flash holds and checks that the ledger
 * holds exactly what was sent, or that plus the release being written (counted as spent), and
 * never locks; it then runs the rest of the script and checks the flash against its RAM.
 *
 * The script and curves come from ledger_flash_script.h (written by the test). Output: one
 * "final ..." line (the uncut run's ledger), "bench ...", "image ..." (the flash in hex) and
 * "PASS <cuts>" or "FAIL ...". Built for the host (stdio) or, with HARNESS_AN386, for the
 * AN386 under QEMU (UART, and the FPGA counter as an instruction counter under -icount). */
#include <stdint.h>
#include <string.h>

#include "ledger_flash_script.h"
#include "tinyfl_ledger.h"
#include "tinyfl_rdp.h"

#ifdef HARNESS_AN386
#include "an386.h"
static void platform_init(void)
{
    tinyfl_an386_uart_init();
    tinyfl_an386_clock_init();
}
static void emit(const char *text) { tinyfl_an386_uart_puts(text); }
static uint32_t ticks(void) { return tinyfl_an386_counter(); }
#define INSNS_PER_TICK 40u /* -icount shift=0 and a 25 MHz counter */
#else
#include <stdio.h>
static void platform_init(void) {}
static void emit(const char *text) { fputs(text, stdout); }
static uint32_t ticks(void) { return 0; }
#define INSNS_PER_TICK 0u /* not measured on the host */
#endif

static void emit_u(unsigned long v)
{
    char text[21];
    size_t n = sizeof(text) - 1;
    text[n] = 0;
    do {
        text[--n] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    emit(&text[n]);
}

static void emit_kv(const char *key, unsigned long v)
{
    emit(key);
    emit("=");
    emit_u(v);
    emit(" ");
}

#define PAGE_WORDS (HARNESS_PAGE_SIZE / 4u)
#define FLASH_WORDS (PAGE_WORDS * HARNESS_PAGE_COUNT)
#define NO_CUT (-1L)

typedef struct {
    uint32_t words[FLASH_WORDS];
    uint8_t programmed[FLASH_WORDS];
    long ops;    /* erase and write calls so far */
    long cut_at; /* the operation the power fails at (NO_CUT: never) */
    int variant; /* 0: before it; 1, 2: halfway (two different halves) */
    int dead;
    long writes, erases, reads;
} nor_flash;

static nor_flash flash;
static int failures;
static long cut_was; /* the cut of the run being checked, for messages */

static void fail(const char *what, unsigned long where)
{
    emit("FAIL ");
    emit_kv("cut", (unsigned long)cut_was);
    emit_kv("variant", (unsigned long)flash.variant);
    emit_kv("at", where);
    emit(what);
    emit("\n");
    failures++;
}

#define CHECK(cond, what, where)                                                                                       \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fail(what, (unsigned long)(where));                                                                        \
            return -1;                                                                                                 \
        }                                                                                                              \
    } while (0)

/* Keeps every other set bit of `bits`, starting with the first (variant 1) or second (2). */
static uint32_t half_of(uint32_t bits, int variant)
{
    uint32_t out = 0;
    int take = variant == 1;
    for (uint32_t b = 1; b != 0; b <<= 1) {
        if (bits & b) {
            out |= take ? b : 0u;
            take = !take;
        }
    }
    return out;
}

static int power_fails_now(void)
{
    if (flash.ops++ != flash.cut_at) {
        return 0;
    }
    flash.dead = 1;
    return 1;
}

static tinyfl_status nor_erase(void *user, uint32_t page)
{
    (void)user;
    if (flash.dead || page >= HARNESS_PAGE_COUNT) {
        return TINYFL_E_STORAGE;
    }
    uint32_t *w = &flash.words[page * PAGE_WORDS];
    if (power_fails_now()) {
        for (uint32_t i = 0; i < PAGE_WORDS && flash.variant != 0; i++) {
            /* an interrupted erase: half the words (1) or half the bits of each (2) */
            w[i] |= flash.variant == 1 ? (i < PAGE_WORDS / 2u ? 0xFFFFFFFFu : 0u) : half_of(~w[i], 1);
        }
        return TINYFL_E_STORAGE;
    }
    for (uint32_t i = 0; i < PAGE_WORDS; i++) {
        w[i] = 0xFFFFFFFFu;
    }
    memset(&flash.programmed[page * PAGE_WORDS], 0, PAGE_WORDS);
    flash.erases++;
    return TINYFL_OK;
}

static tinyfl_status nor_write(void *user, uint32_t addr, uint32_t word)
{
    (void)user;
    if (flash.dead) {
        return TINYFL_E_STORAGE;
    }
    if (addr % 4u != 0 || addr / 4u >= FLASH_WORDS) {
        fail("write out of the region or unaligned", addr);
        return TINYFL_E_STORAGE;
    }
    uint32_t i = addr / 4u;
    if (flash.programmed[i]) {
        fail("word programmed twice without an erase", addr);
        return TINYFL_E_STORAGE;
    }
    if (power_fails_now()) {
        if (flash.variant != 0) {
            flash.words[i] &= ~half_of(~word & flash.words[i], flash.variant);
        }
        return TINYFL_E_STORAGE;
    }
    flash.words[i] &= word; /* NOR: 1 -> 0 only */
    flash.programmed[i] = 1;
    flash.writes++;
    return TINYFL_OK;
}

static tinyfl_status nor_read(void *user, uint32_t addr, uint8_t *buf, size_t len)
{
    (void)user;
    if (flash.dead || addr > 4u * FLASH_WORDS || len > 4u * FLASH_WORDS - addr) {
        return TINYFL_E_STORAGE;
    }
    for (size_t k = 0; k < len; k++) {
        buf[k] = (uint8_t)(flash.words[(addr + k) / 4u] >> (8u * ((addr + k) % 4u)));
    }
    flash.reads++;
    return TINYFL_OK;
}

/* The one-record hook on the same flash, for comparison: a rewrite erases page 0 and
 * programs the whole record (what a board without the log does on raw flash). */
static tinyfl_status record_read(void *user, uint8_t *buf, size_t len)
{
    if (flash.words[0] == 0xFFFFFFFFu) {
        return TINYFL_E_STORAGE; /* never written */
    }
    return nor_read(user, 0, buf, len);
}

static tinyfl_status record_write(void *user, const uint8_t *buf, size_t len)
{
    tinyfl_status st = nor_erase(user, 0);
    for (uint32_t i = 0; i + 4u <= len && st == TINYFL_OK; i += 4u) {
        uint32_t w = (uint32_t)buf[i] | ((uint32_t)buf[i + 1u] << 8) | ((uint32_t)buf[i + 2u] << 16) |
                     ((uint32_t)buf[i + 3u] << 24);
        st = nor_write(user, i, w);
    }
    return st;
}

static tinyfl_port record_port(void)
{
    tinyfl_port p;
    memset(&p, 0, sizeof(p));
    p.storage_read = record_read;
    p.storage_write = record_write;
    return p;
}

static tinyfl_port port(void)
{
    tinyfl_port p;
    memset(&p, 0, sizeof(p));
    p.flash_page_size = HARNESS_PAGE_SIZE;
    p.flash_page_count = HARNESS_PAGE_COUNT;
    p.flash_erase = nor_erase;
    p.flash_write = nor_write;
    p.flash_read = nor_read;
    return p;
}

static void fresh_flash(long cut_at, int variant)
{
    memset(&flash, 0, sizeof(flash));
    memset(flash.words, 0xFF, sizeof(flash.words));
    flash.cut_at = cut_at;
    flash.variant = variant;
}

static tinyfl_rdp_curve curve_of(int config)
{
    tinyfl_rdp_curve c;
    memset(&c, 0, sizeof(c));
    c.per_release = harness_curves[config];
    return c;
}

/* The ledger's loss and counters, what the checks compare. */
static int same_loss(const tinyfl_ledger *a, const tinyfl_ledger *b)
{
    return a->releases_done == b->releases_done && memcmp(a->rdp, b->rdp, sizeof(a->rdp)) == 0;
}

static tinyfl_ledger dev, sent, inflight;

/* The device's boot: load, count the boot, store (tinyfl_device_init). */
static tinyfl_status boot(const tinyfl_port *p)
{
    tinyfl_status st = tinyfl_ledger_load(&dev, p);
    if (st == TINYFL_OK && !dev.locked) {
        dev.boot_count++;
        st = tinyfl_ledger_store(&dev, p);
    }
    return dev.locked ? TINYFL_E_STORAGE : st;
}

/* What the releases' stores cost, summed over the releases of a run without cuts. */
static struct {
    unsigned long releases, words, erases, ticks;
} cost;

/* A release: charge, store, and only then would the update be sent. */
static tinyfl_status release(const tinyfl_port *p, int config, uint32_t run, uint32_t round)
{
    tinyfl_rdp_curve c = curve_of(config);
    dev.releases_done++;
    dev.last_run = run;
    dev.last_round = round;
    tinyfl_rdp_charge(dev.rdp, &c, 1);
    inflight = dev;
    long writes = flash.writes, erases = flash.erases;
    uint32_t start = ticks();
    tinyfl_status st = tinyfl_ledger_store(&dev, p);
    cost.ticks += ticks() - start;
    cost.releases++;
    cost.words += (unsigned long)(flash.writes - writes);
    cost.erases += (unsigned long)(flash.erases - erases);
    return st;
}

static long conservative; /* cuts after which a release that was not sent counts as spent */

/* Runs the script with a power cut at flash operation cut_at (NO_CUT: none). */
static int run(long cut_at, int variant, const tinyfl_port *with)
{
    tinyfl_port p = *with;
    fresh_flash(cut_at, variant);
    cut_was = cut_at;
    memset(&dev, 0, sizeof(dev));
    memset(&sent, 0, sizeof(sent));
    int cut = 0;
    for (size_t s = 0; s < sizeof(harness_script) / sizeof(harness_script[0]); s++) {
        int config = harness_script[s];
        int is_release = config >= 0;
        tinyfl_status st = is_release ? release(&p, config, 1u + (uint32_t)config, (uint32_t)s + 1u) : boot(&p);
        if (st == TINYFL_OK) {
            sent = dev; /* the update may leave now */
            continue;
        }
        CHECK(flash.dead && !cut, "a step failed without a power cut", s);
        /* Power back on. */
        cut = 1;
        flash.dead = 0;
        flash.cut_at = NO_CUT;
        st = boot(&p);
        CHECK(st == TINYFL_OK && !dev.locked, "a power cut locked the ledger", s);
        tinyfl_ledger before = dev; /* the boot after the cut only counted itself */
        before.boot_count--;
        int kept_sent = same_loss(&before, &sent);
        int spent_inflight = is_release && same_loss(&before, &inflight);
        CHECK(kept_sent || spent_inflight, "after a cut the ledger is neither what was sent nor that and the release", s);
        conservative += spent_inflight && !kept_sent;
        sent = dev;
    }
    /* The flash now holds exactly what the device has in RAM. */
    tinyfl_ledger again;
    CHECK(tinyfl_ledger_load(&again, &p) == TINYFL_OK && !again.locked, "final load failed", 0);
    CHECK(same_loss(&again, &dev) && again.boot_count == dev.boot_count && again.last_run == dev.last_run &&
              again.last_round == dev.last_round,
          "final ledger differs from RAM", 0);
    CHECK(same_loss(&dev, &sent), "final ledger differs from what was sent", 0);
    return 0;
}

/* Charge loss: each programmed bit of a used word fades to 1 in turn; the ledger must lock or
 * hold at least what was sent. */
static int fade_every_word(void)
{
    tinyfl_port p = port();
    tinyfl_ledger truth = dev, got;
    long faded = 0, locked = 0;
    for (uint32_t i = 0; i < FLASH_WORDS; i++) {
        uint32_t orig = flash.words[i];
        if (orig == 0xFFFFFFFFu) {
            continue;
        }
        uint32_t zeros = ~orig;
        uint32_t lowest = zeros & (~zeros + 1u);
        flash.words[i] = orig | lowest;
        tinyfl_status st = tinyfl_ledger_load(&got, &p);
        flash.words[i] = orig;
        faded++;
        locked += got.locked;
        CHECK(got.locked || st == TINYFL_OK, "a load neither locked nor OK", i);
        if (!got.locked) {
            CHECK(got.releases_done >= truth.releases_done, "a faded bit lost releases", i);
            for (size_t k = 0; k < TINYFL_RDP_ORDERS; k++) {
                CHECK(got.rdp[k] >= truth.rdp[k], "a faded bit lowered the loss", i);
            }
        }
    }
    emit("faded ");
    emit_kv("words", (unsigned long)faded);
    emit_kv("locked", (unsigned long)locked);
    emit("\n");
    return 0;
}

/* The newest page lost (e.g. erased by a glitch) must not roll the ledger back to the older. */
static int lose_newest_page(void)
{
    tinyfl_port p = port();
    tinyfl_ledger got;
    CHECK(tinyfl_ledger_load(&got, &p) == TINYFL_OK, "load before the loss failed", 0);
    nor_erase(NULL, got.log.page);
    CHECK(tinyfl_ledger_load(&got, &p) != TINYFL_OK && got.locked, "losing the newest page did not lock", got.log.page);
    return 0;
}

static void emit_ledger(void)
{
    emit("final ");
    emit_kv("releases", dev.releases_done);
    emit_kv("boots", dev.boot_count);
    emit("rdp=");
    for (size_t k = 0; k < TINYFL_RDP_ORDERS; k++) {
        emit_u(dev.rdp[k]);
        emit(k + 1 < TINYFL_RDP_ORDERS ? "," : "\n");
    }
}

static void emit_image(void)
{
    static const char hex[] = "0123456789abcdef";
    char text[9];
    emit("image ");
    for (uint32_t i = 0; i < FLASH_WORDS; i++) {
        for (uint32_t b = 0; b < 4u; b++) {
            uint8_t v = (uint8_t)(flash.words[i] >> (8u * b));
            text[2u * b] = hex[v >> 4];
            text[2u * b + 1u] = hex[v & 15u];
        }
        text[8] = 0;
        emit(text);
    }
    emit("\n");
}

static void emit_cost(const char *name)
{
    emit("bench ");
    emit(name);
    emit(" ");
    emit_kv("releases", cost.releases);
    emit_kv("words", cost.words);
    emit_kv("erases", cost.erases);
    emit_kv("insns", cost.ticks * INSNS_PER_TICK);
    emit("\n");
}

int main(void)
{
    tinyfl_port log_port = port(), rec_port = record_port();
    platform_init();
    /* The one-record ledger on the same flash and script, for the bench. */
    memset(&cost, 0, sizeof(cost));
    if (run(NO_CUT, 0, &rec_port) != 0) {
        return 1;
    }
    emit_cost("record");
    /* The uncut run of the log: its ledger, its cost, and the number of operations to cut at. */
    memset(&cost, 0, sizeof(cost));
    if (run(NO_CUT, 0, &log_port) != 0) {
        return 1;
    }
    emit_cost("log");
    long total_ops = flash.ops;
    emit_ledger();
    emit_image();
    if (fade_every_word() != 0 || lose_newest_page() != 0) {
        return 1;
    }
    long cuts = 0;
    for (long c = 0; c < total_ops; c += HARNESS_CUT_STRIDE) {
        for (int v = 0; v < 3; v++) {
            run(c, v, &log_port);
            cuts++;
            if (failures > 0) {
                return 1;
            }
        }
    }
    emit("ops=");
    emit_u((unsigned long)total_ops);
    emit(" conservative=");
    emit_u((unsigned long)conservative);
    emit("\nPASS ");
    emit_u((unsigned long)cuts);
    emit("\n");
    return 0;
}
