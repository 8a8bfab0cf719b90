/*
 * libFuzzer entry for src/http/ws_frame.c, no sockets.
 *
 * Input layout: byte 0 picks the message size limit, byte 1 seeds the chunk
 * sizes, the rest is what a client sent. The bytes are parsed twice, once in
 * a single feed and once in pseudo-random chunks (1 byte up to a few KiB);
 * both runs must produce the same events, and every event must keep the
 * promises of ws_frame.h. ASan/UBSan catch memory errors and leaks; a broken
 * promise aborts. The same bytes also go through the UTF-8 validator (whole
 * vs. incremental), the handshake key check, and an encoder round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/ws_frame.h"

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

/* Summary of one run: enough to tell two event sequences apart. */
struct digest {
    uint64_t hash;
    size_t   events;
    size_t   consumed; /* bytes accepted; before an error it depends on the split */
    bool     failed;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    /* FNV-1a: weak but plenty to compare two runs over the same input. */
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

static void check_event(const struct ws_event *ev, size_t max)
{
    CHECK(ev->data != NULL);
    switch (ev->type) {
    case WS_EV_TEXT:
        CHECK(ws_utf8_valid(ev->data, ev->len));
        /* fall through */
    case WS_EV_BINARY:
        CHECK(ev->len <= max);
        CHECK(ev->data[ev->len] == 0);
        break;
    case WS_EV_PING:
    case WS_EV_PONG: CHECK(ev->len <= WS_CONTROL_MAX); break;
    case WS_EV_CLOSE:
        CHECK(ev->code == WS_CLOSE_NO_STATUS || ws_close_code_valid(ev->code));
        CHECK(ev->len <= WS_CONTROL_MAX - 2);
        CHECK(ws_utf8_valid(ev->data, ev->len));
        break;
    case WS_EV_ERROR:
        CHECK(ev->code == WS_CLOSE_PROTOCOL || ev->code == WS_CLOSE_INVALID_DATA || ev->code == WS_CLOSE_TOO_BIG ||
              ev->code == WS_CLOSE_INTERNAL);
        CHECK(ev->len > 0);
        break;
    default: CHECK(0);
    }
}

/* Feeds one chunk like a connection would; returns false once failed. */
static bool feed(struct ws_parser *p, const uint8_t *d, size_t len, size_t max, struct digest *dg)
{
    struct ws_event ev;

    while (len > 0) {
        ssize_t n = ws_parser_feed(p, d, len, &ev);

        if (n < 0) {
            CHECK(n == -1 && ev.type == WS_EV_ERROR);
        } else {
            CHECK((size_t)n <= len);
            if (ev.type == WS_EV_NONE) {
                CHECK((size_t)n == len);
            } else {
                CHECK(n >= 1);
            }
            dg->consumed += (size_t)n;
            d += n;
            len -= (size_t)n;
        }
        if (ev.type != WS_EV_NONE) {
            uint32_t head[2] = {(uint32_t)ev.type, ev.code};

            check_event(&ev, max);
            dg->events++;
            dg->hash = mix(dg->hash, head, sizeof head);
            dg->hash = mix(dg->hash, &ev.len, sizeof ev.len);
            dg->hash = mix(dg->hash, ev.data, ev.len);
        }
        if (n < 0) {
            dg->failed = true;
            return false;
        }
    }
    return true;
}

static uint32_t next_rand(uint32_t *s)
{
    /* xorshift32; the state must never be zero. */
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void parse_both_ways(const uint8_t *in, size_t len, size_t max, uint32_t seed)
{
    struct ws_parser p;
    struct digest    whole = {UINT64_C(0xcbf29ce484222325), 0, 0, false};
    struct digest    split = whole;
    bool             ok = true;
    size_t           at = 0;

    ws_parser_init(&p, max);
    feed(&p, in, len, max, &whole);
    ws_parser_free(&p);

    ws_parser_init(&p, max);
    while (at < len && ok) {
        uint32_t r = next_rand(&seed);
        /* Mostly tiny chunks, which stress the header states; sometimes big. */
        size_t n = (r & 3) ? 1 + (r >> 8) % 16 : 1 + (r >> 8) % 4096;

        if (n > len - at)
            n = len - at;
        ok = feed(&p, in + at, n, max, &split);
        at += n;
    }
    ws_parser_free(&p);

    CHECK(whole.events == split.events);
    CHECK(whole.hash == split.hash);
    CHECK(whole.failed == split.failed);
    CHECK(whole.failed || whole.consumed == split.consumed);
}

static void utf8_both_ways(const uint8_t *in, size_t len, uint32_t seed)
{
    struct ws_utf8 u;
    bool           ok = true;
    size_t         at = 0;

    ws_utf8_init(&u);
    while (at < len && ok) {
        size_t n = 1 + next_rand(&seed) % 7;

        if (n > len - at)
            n = len - at;
        ok = ws_utf8_feed(&u, in + at, n);
        at += n;
    }
    CHECK((ok && ws_utf8_complete(&u)) == ws_utf8_valid(in, len));
}

/* The server's frame, masked as a client would, must parse back to itself. */
static void round_trip(const uint8_t *in, size_t len, uint32_t seed)
{
    uint8_t          key[4];
    uint8_t         *frame, *masked = NULL;
    size_t           flen, hlen;
    struct ws_parser p;
    struct ws_event  ev;
    ssize_t          n;

    frame = ws_frame_build(WS_OP_BINARY, in, len, &flen);
    if (frame == NULL)
        return;
    hlen = flen - len;
    masked = malloc(flen + 4);
    if (masked == NULL)
        goto out;
    for (int i = 0; i < 4; i++)
        key[i] = (uint8_t)next_rand(&seed);
    memcpy(masked, frame, hlen);
    masked[1] |= 0x80;
    memcpy(masked + hlen, key, 4);
    for (size_t i = 0; i < len; i++)
        masked[hlen + 4 + i] = in[i] ^ key[i & 3];

    ws_parser_init(&p, len);
    n = ws_parser_feed(&p, masked, flen + 4, &ev);
    CHECK(n == (ssize_t)(flen + 4));
    CHECK(ev.type == WS_EV_BINARY && ev.len == len);
    CHECK(len == 0 || memcmp(ev.data, in, len) == 0);
    ws_parser_free(&p);
out:
    free(masked);
    free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char     accept[29];
    size_t   max;
    uint32_t seed;

    if (size < 2)
        return 0;
    /* High bit: a small limit (0..127) so 1009 paths are reachable; else
   * 1 MiB, which no fuzz input reaches. */
    max = (data[0] & 0x80) ? (size_t)(data[0] & 0x7F) : (size_t)1 << 20;
    seed = 0x9E3779B9u ^ ((uint32_t)data[1] << 8) ^ (uint32_t)size;
    data += 2;
    size -= 2;

    parse_both_ways(data, size, max, seed);
    utf8_both_ways(data, size, seed);
    if (ws_accept_key((const char *)data, size < 32 ? size : 32, accept) == 0)
        CHECK(size >= 24 && strlen(accept) == 28);
    round_trip(data, size, seed);
    return 0;
}
