#define _GNU_SOURCE /* POSIX sockets, select, fsync, accept4, getrandom under -std=c99 */

#include "board_native.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHARD_MAGIC "TFLS"
#define SHARD_VERSION 1u
#define SHARD_HEADER_SIZE 10L
#define SHARD_SAMPLE_PAD 3L

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static int open_shard(tinyfl_native_board *b, const char *path)
{
    uint8_t header[SHARD_HEADER_SIZE];
    b->shard = fopen(path, "rb");
    if (b->shard == NULL) {
        fprintf(stderr, "tinyfl native: cannot open shard %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fread(header, 1, sizeof(header), b->shard) != sizeof(header) ||
        memcmp(header, SHARD_MAGIC, 4) != 0 || get_u16(header + 4) != SHARD_VERSION) {
        fprintf(stderr, "tinyfl native: %s is not a version %u sample shard\n", path, SHARD_VERSION);
        return -1;
    }
    b->shard_samples = get_u16(header + 6);
    b->shard_input_len = get_u16(header + 8);
    return 0;
}

static int listen_on(tinyfl_native_board *b, uint16_t tcp_port)
{
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof(addr);
    int one = 1;
    b->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (b->listen_fd < 0) {
        perror("tinyfl native: socket");
        return -1;
    }
    /* A restarted board binds the same port again while old connections sit in TIME_WAIT. */
    setsockopt(b->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(tcp_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(b->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(b->listen_fd, 1) != 0 ||
        getsockname(b->listen_fd, (struct sockaddr *)&addr, &addr_len) != 0) {
        fprintf(stderr, "tinyfl native: cannot listen on 127.0.0.1:%u: %s\n", tcp_port, strerror(errno));
        return -1;
    }
    b->tcp_port = ntohs(addr.sin_port);
    return 0;
}

int tinyfl_native_board_open(tinyfl_native_board *b, uint16_t tcp_port, const char *shard_path,
                             const char *storage_path, uint32_t device_id, volatile sig_atomic_t *stop)
{
    memset(b, 0, sizeof(*b));
    b->listen_fd = -1;
    b->client_fd = -1;
    b->stop = stop;
    b->storage_path = storage_path;
    b->device_id = device_id;
    b->boot_ms = monotonic_ms();
    if (open_shard(b, shard_path) != 0) {
        return -1;
    }
    return listen_on(b, tcp_port);
}

static void drop_client(tinyfl_native_board *b)
{
    if (b->client_fd >= 0) {
        close(b->client_fd);
        b->client_fd = -1;
    }
}

static void accept_client(tinyfl_native_board *b)
{
    int one = 1;
    int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    /* Frames are small and the host waits for each answer: send them at once. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    b->client_fd = fd;
    b->clients_accepted++;
}

int tinyfl_native_board_wait_client(tinyfl_native_board *b)
{
    while (b->client_fd < 0) {
        if (*b->stop) {
            return -1;
        }
        fd_set readable;
        struct timeval timeout = {0, TINYFL_NATIVE_POLL_MS * 1000};
        FD_ZERO(&readable);
        FD_SET(b->listen_fd, &readable);
        if (select(b->listen_fd + 1, &readable, NULL, NULL, &timeout) > 0) {
            accept_client(b);
        }
    }
    return 0;
}

void tinyfl_native_board_close(tinyfl_native_board *b)
{
    drop_client(b);
    if (b->listen_fd >= 0) {
        close(b->listen_fd);
        b->listen_fd = -1;
    }
    if (b->shard != NULL) {
        fclose(b->shard);
        b->shard = NULL;
    }
}

/* One host at a time, like a UART with one cable: while none is connected the read waits for
 * the next one; when it disconnects the board keeps running and accepts the next. */
static size_t native_serial_read(void *user, uint8_t *buf, size_t cap)
{
    tinyfl_native_board *b = user;
    if (*b->stop || cap == 0) {
        return 0;
    }
    int fd = b->client_fd >= 0 ? b->client_fd : b->listen_fd;
    fd_set readable;
    struct timeval timeout = {0, TINYFL_NATIVE_POLL_MS * 1000};
    FD_ZERO(&readable);
    FD_SET(fd, &readable);
    if (select(fd + 1, &readable, NULL, NULL, &timeout) <= 0) {
        return 0; /* nothing within the poll interval, or a signal */
    }
    if (b->client_fd < 0) {
        accept_client(b);
        return 0;
    }
    ssize_t got = recv(b->client_fd, buf, cap, 0);
    if (got <= 0) {
        if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
            drop_client(b);
        }
        return 0;
    }
    return (size_t)got;
}

static tinyfl_status native_serial_write(void *user, const uint8_t *buf, size_t len)
{
    tinyfl_native_board *b = user;
    while (len > 0) {
        if (b->client_fd < 0) {
            return TINYFL_E_IO; /* no host on the line: the bytes are lost */
        }
        ssize_t sent = send(b->client_fd, buf, len, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) {
                continue;
            }
            drop_client(b);
            return TINYFL_E_IO;
        }
        buf += sent;
        len -= (size_t)sent;
    }
    return TINYFL_OK;
}

#ifdef TINYFL_TEST_BUILD
/* Test builds only: TINYFL_NATIVE_TEST_ENTROPY=stuck (always the same byte) or =dead (the hook
 * fails) in the environment breaks the source, to test the device's entropy health checks. */
static int broken_entropy(uint8_t *out, size_t len, tinyfl_status *st)
{
    const char *mode = getenv("TINYFL_NATIVE_TEST_ENTROPY");
    if (mode == NULL || *mode == '\0') {
        return 0;
    }
    if (strcmp(mode, "stuck") == 0) {
        memset(out, 0xA5, len);
        *st = TINYFL_OK;
    } else {
        *st = TINYFL_E_ENTROPY; /* "dead", or anything unknown: fail closed */
    }
    return 1;
}
#endif

/* The host kernel's CSPRNG stands in for the TRNG of a real microcontroller. */
static tinyfl_status native_entropy(void *user, uint8_t *out, size_t len)
{
    (void)user;
#ifdef TINYFL_TEST_BUILD
    tinyfl_status broken;
    if (broken_entropy(out, len, &broken)) {
        return broken;
    }
#endif
    while (len > 0) {
        ssize_t got = getrandom(out, len, 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return TINYFL_E_ENTROPY;
        }
        out += got;
        len -= (size_t)got;
    }
    return TINYFL_OK;
}

static tinyfl_status native_storage_read(void *user, uint8_t *buf, size_t len)
{
    tinyfl_native_board *b = user;
    int fd = open(b->storage_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? TINYFL_E_STORAGE : TINYFL_E_IO; /* STORAGE: never written */
    }
    size_t done = 0;
    while (done < len) {
        ssize_t got = read(fd, buf + done, len - done);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        done += (size_t)got;
    }
    uint8_t extra;
    ssize_t more = read(fd, &extra, 1);
    close(fd);
    /* A record of the wrong size is damaged, not absent: the ledger then locks the device. */
    return (done == len && more == 0) ? TINYFL_OK : TINYFL_E_TRUNCATED;
}

/* Durable and atomic: write a temporary file, fsync it, rename it over the record, fsync the
 * folder. A crash leaves either the old record or the new one, never half of one. */
static tinyfl_status native_storage_write(void *user, const uint8_t *buf, size_t len)
{
    tinyfl_native_board *b = user;
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", b->storage_path) >= sizeof(tmp)) {
        return TINYFL_E_STORAGE;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return TINYFL_E_STORAGE;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t put = write(fd, buf + done, len - done);
        if (put < 0 && errno == EINTR) {
            continue;
        }
        if (put <= 0) {
            break;
        }
        done += (size_t)put;
    }
    int ok = done == len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, b->storage_path) != 0) {
        unlink(tmp);
        return TINYFL_E_STORAGE;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", b->storage_path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *(slash == dir ? slash + 1 : slash) = '\0';
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return TINYFL_OK;
}

static uint32_t native_millis(void *user)
{
    const tinyfl_native_board *b = user;
    return (uint32_t)(monotonic_ms() - b->boot_ms);
}

/* Replays the shard in order and wraps around, so every round finds samples. A real sensor
 * returns NO_SAMPLES when nothing new was collected since the last call. */
static tinyfl_status native_sample(void *user, float *window, size_t len, uint8_t *label)
{
    tinyfl_native_board *b = user;
    uint8_t head[1 + SHARD_SAMPLE_PAD];
    if (b->shard_samples == 0) {
        return TINYFL_E_NO_SAMPLES;
    }
    if (len != b->shard_input_len) {
        return TINYFL_E_SHAPE;
    }
    long sample_size = (long)sizeof(head) + (long)len * 4L;
    long offset = SHARD_HEADER_SIZE + (long)b->next_sample * sample_size;
    /* Little-endian float32 on disk and in memory (x86-64, AArch64 hosts). */
    if (fseek(b->shard, offset, SEEK_SET) != 0 || fread(head, 1, sizeof(head), b->shard) != sizeof(head) ||
        fread(window, sizeof(float), len, b->shard) != len) {
        return TINYFL_E_IO;
    }
    *label = head[0];
    b->next_sample = (uint16_t)((b->next_sample + 1u) % b->shard_samples);
    return TINYFL_OK;
}

static void native_log(void *user, const char *line)
{
    const tinyfl_native_board *b = user;
    fprintf(stderr, "[tinyfl native %u] %s\n", (unsigned)b->device_id, line);
}

#ifdef TINYFL_NATIVE_FLASH_LEDGER
/* The ledger's raw flash: memory with NOR rules, each change written through to the storage
 * file (the region's image) and fsynced before the hook returns. */
static void flash_restore(tinyfl_native_board *b)
{
    memset(b->flash, 0xFF, sizeof(b->flash));
    b->flash_cut_at = -1;
#ifdef TINYFL_TEST_BUILD
    /* Test builds only: TINYFL_NATIVE_TEST_FLASH_CUT=N ends the process before the N-th flash
     * operation (0-based), like a power cut. */
    const char *cut = getenv("TINYFL_NATIVE_TEST_FLASH_CUT");
    if (cut != NULL && *cut != '\0') {
        b->flash_cut_at = strtol(cut, NULL, 10);
    }
#endif
    int fd = open(b->storage_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return; /* never written: erased */
    }
    struct stat st;
    int whole = fstat(fd, &st) == 0 && st.st_size == (off_t)sizeof(b->flash) &&
                pread(fd, b->flash, sizeof(b->flash), 0) == (ssize_t)sizeof(b->flash);
    close(fd);
    if (!whole) {
        memset(b->flash, 0, sizeof(b->flash)); /* damaged: no checkpoint anywhere, the ledger locks */
    }
}

static tinyfl_status flash_persist(tinyfl_native_board *b, uint32_t addr, uint32_t len)
{
    struct stat st;
    int fd = open(b->storage_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return TINYFL_E_STORAGE;
    }
    if (fstat(fd, &st) != 0 || st.st_size != (off_t)sizeof(b->flash)) {
        addr = 0; /* the first write: the file gets the whole region */
        len = sizeof(b->flash);
    }
    int ok = pwrite(fd, b->flash + addr, len, addr) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    return ok ? TINYFL_OK : TINYFL_E_STORAGE;
}

static void flash_power_check(tinyfl_native_board *b)
{
    if (b->flash_ops++ == b->flash_cut_at) {
        _exit(0);
    }
}

static tinyfl_status native_flash_erase(void *user, uint32_t page)
{
    tinyfl_native_board *b = user;
    if (page >= TINYFL_NATIVE_FLASH_PAGES) {
        return TINYFL_E_STORAGE;
    }
    flash_power_check(b);
    memset(b->flash + page * TINYFL_NATIVE_FLASH_PAGE_SIZE, 0xFF, TINYFL_NATIVE_FLASH_PAGE_SIZE);
    return flash_persist(b, page * TINYFL_NATIVE_FLASH_PAGE_SIZE, TINYFL_NATIVE_FLASH_PAGE_SIZE);
}

static tinyfl_status native_flash_write(void *user, uint32_t addr, uint32_t word)
{
    tinyfl_native_board *b = user;
    if (addr % 4u != 0 || addr > sizeof(b->flash) - 4u) {
        return TINYFL_E_STORAGE;
    }
    flash_power_check(b);
    for (uint32_t i = 0; i < 4u; i++) {
        b->flash[addr + i] &= (uint8_t)(word >> (8u * i)); /* NOR: bits only clear */
    }
    return flash_persist(b, addr, 4u);
}

static tinyfl_status native_flash_read(void *user, uint32_t addr, uint8_t *buf, size_t len)
{
    const tinyfl_native_board *b = user;
    if (addr > sizeof(b->flash) || len > sizeof(b->flash) - addr) {
        return TINYFL_E_STORAGE;
    }
    memcpy(buf, b->flash + addr, len);
    return TINYFL_OK;
}
#endif

void tinyfl_native_board_port(tinyfl_native_board *b, tinyfl_port *port)
{
    memset(port, 0, sizeof(*port));
    port->user = b;
    port->serial_read = native_serial_read;
    port->serial_write = native_serial_write;
    port->entropy = native_entropy;
    port->storage_read = native_storage_read;
    port->storage_write = native_storage_write;
    port->millis = native_millis;
    port->sample = native_sample;
    port->log = native_log;
#ifdef TINYFL_NATIVE_FLASH_LEDGER
    flash_restore(b);
    port->flash_page_size = TINYFL_NATIVE_FLASH_PAGE_SIZE;
    port->flash_page_count = TINYFL_NATIVE_FLASH_PAGES;
    port->flash_erase = native_flash_erase;
    port->flash_write = native_flash_write;
    port->flash_read = native_flash_read;
#endif
}
