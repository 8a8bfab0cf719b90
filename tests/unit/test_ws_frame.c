/*
 * Unit tests for src/http/ws_frame.c: handshake key, UTF-8 validator, frame
 * parser (RFC 6455 §5.7 examples, every error with its close code, every
 * split of the input) and the server-side encoder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/ws_frame.h"

static const uint8_t rfc_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ---- helpers ------------------------------------------------------------ */

/* Builds a client frame: b0 is the raw first byte (FIN, RSV, opcode), key
 * NULL for an unmasked frame, lenform 0 for the minimal length encoding or
 * 2/4/10 to force a header size (non-minimal encodings). Returns its size. */
static size_t cframe_ex(uint8_t *out, uint8_t b0, const void *payload, size_t len, const uint8_t *key, int lenform)
{
    const uint8_t *src = payload;
    size_t         o = 0;

    if (lenform == 0)
        lenform = len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;
    out[o++] = b0;
    if (lenform == 2) {
        out[o++] = (uint8_t)len;
    } else if (lenform == 4) {
        out[o++] = 126;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    } else {
        out[o++] = 127;
        for (int i = 0; i < 8; i++)
            out[o++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    if (key != NULL) {
        out[1] |= 0x80;
        memcpy(out + o, key, 4);
        o += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[o + i] = key ? src[i] ^ key[i & 3] : src[i];
    return o + len;
}

static size_t cframe(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    return cframe_ex(out, b0, payload, len, rfc_key, 0);
}

/* Turns an unmasked server frame into the frame a client would send with
 * the same content: sets the mask bit, inserts key, masks the payload. */
static size_t client_mask(uint8_t *out, const uint8_t *frame, size_t len, const uint8_t key[4])
{
    size_t hlen = 2;

    if ((frame[1] & 0x7F) == 126)
        hlen = 4;
    else if ((frame[1] & 0x7F) == 127)
        hlen = 10;
    memcpy(out, frame, hlen);
    out[1] |= 0x80;
    memcpy(out + hlen, key, 4);
    for (size_t i = hlen; i < len; i++)
        out[i + 4] = frame[i] ^ key[(i - hlen) & 3];
    return len + 4;
}

#define MAX_EVENTS 64

struct rec {
    enum ws_event_type type;
    uint16_t           code;
    size_t             len;
    uint8_t           *data; /* owned copy */
};

struct recs {
    struct rec ev[MAX_EVENTS];
    size_t     n;
    bool       failed; /* an error event ended the stream */
};

static void recs_free(struct recs *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->ev[i].data);
    r->n = 0;
    r->failed = false;
}

static void recs_add(struct recs *r, const struct ws_event *ev)
{
    struct rec *e;

    assert_true(r->n < MAX_EVENTS);
    assert_non_null(ev->data);
    e = &r->ev[r->n++];
    e->type = ev->type;
    e->code = ev->code;
    e->len = ev->len;
    e->data = malloc(ev->len + 1);
    assert_non_null(e->data);
    memcpy(e->data, ev->data, ev->len);
    /* Data messages promise a trailing NUL. */
    if (ev->type == WS_EV_TEXT || ev->type == WS_EV_BINARY)
        assert_int_equal(ev->data[ev->len], 0);
    if (ev->type == WS_EV_TEXT)
        assert_true(ws_utf8_valid(ev->data, ev->len));
}

/* Feeds one chunk the way a connection would, recording every event and
 * checking the return-value contract. Returns false after an error. */
static bool feed_chunk(struct ws_parser *p, const uint8_t *d, size_t len, struct recs *r)
{
    struct ws_event ev;

    while (len > 0) {
        ssize_t n = ws_parser_feed(p, d, len, &ev);

        if (n < 0) {
            assert_int_equal(n, -1);
            assert_int_equal(ev.type, WS_EV_ERROR);
            recs_add(r, &ev);
            r->failed = true;
            /* Sticky: the same error again. */
            n = ws_parser_feed(p, d, len, &ev);
            assert_int_equal(n, -1);
            assert_int_equal(ev.type, WS_EV_ERROR);
            assert_int_equal(ev.code, r->ev[r->n - 1].code);
            return false;
        }
        assert_true((size_t)n <= len);
        if (ev.type == WS_EV_NONE) {
            assert_int_equal((size_t)n, len);
        } else {
            assert_true(n >= 1);
            recs_add(r, &ev);
        }
        d += n;
        len -= (size_t)n;
    }
    return true;
}

/* Feeds in[0..len) cut at the given offsets (ascending). */
static void run_cuts(const uint8_t *in, size_t len, size_t max, const size_t *cuts, size_t ncuts, struct recs *r)
{
    struct ws_parser p;
    size_t           at = 0;

    memset(r, 0, sizeof *r);
    ws_parser_init(&p, max);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;

        if (!feed_chunk(&p, in + at, end - at, r))
            break;
        at = end;
    }
    ws_parser_free(&p);
}

static void run(const uint8_t *in, size_t len, size_t max, struct recs *r)
{
    run_cuts(in, len, max, NULL, 0, r);
}

static void recs_assert_equal(const struct recs *a, const struct recs *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->failed, b->failed);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->ev[i].type, b->ev[i].type);
        assert_int_equal(a->ev[i].code, b->ev[i].code);
        assert_int_equal(a->ev[i].len, b->ev[i].len);
        assert_memory_equal(a->ev[i].data, b->ev[i].data, a->ev[i].len);
    }
}

static void byte_by_byte(const uint8_t *in, size_t len, size_t max, struct recs *r)
{
    struct ws_parser p;

    memset(r, 0, sizeof *r);
    ws_parser_init(&p, max);
    for (size_t i = 0; i < len; i++)
        if (!feed_chunk(&p, in + i, 1, r))
            break;
    ws_parser_free(&p);
}

/* The events must not depend on how the input is split: byte by byte, at
 * every single cut point, and for short inputs at every pair of cuts. Long
 * inputs get every cut near both ends and a stride through the middle. */
static void assert_split_invariant(const uint8_t *in, size_t len, size_t max)
{
    struct recs whole, other;

    run(in, len, max, &whole);
    byte_by_byte(in, len, max, &other);
    recs_assert_equal(&whole, &other);
    recs_free(&other);
    for (size_t c = 0; c <= len; c++) {
        if (len > 4096 && c > 300 && c + 300 < len && c % 997 != 0)
            continue;
        run_cuts(in, len, max, &c, 1, &other);
        recs_assert_equal(&whole, &other);
        recs_free(&other);
    }
    if (len <= 80) {
        for (size_t a = 0; a <= len; a++) {
            for (size_t b = a; b <= len; b++) {
                size_t cuts[2] = {a, b};

                run_cuts(in, len, max, cuts, 2, &other);
                recs_assert_equal(&whole, &other);
                recs_free(&other);
            }
        }
    }
    recs_free(&whole);
}

/* Runs in and checks it produced exactly one error with code, split any way. */
static void expect_error(const uint8_t *in, size_t len, size_t max, uint16_t code)
{
    struct recs r;

    run(in, len, max, &r);
    assert_true(r.failed);
    assert_int_equal(r.ev[r.n - 1].type, WS_EV_ERROR);
    if (r.ev[r.n - 1].code != code)
        fail_msg("expected close code %u, got %u (%.*s)", code, r.ev[r.n - 1].code, (int)r.ev[r.n - 1].len,
                 (const char *)r.ev[r.n - 1].data);
    assert_true(r.ev[r.n - 1].len > 0);
    recs_free(&r);
    assert_split_invariant(in, len, max);
}

static void expect_one(const struct recs *r, size_t i, enum ws_event_type type, const void *data, size_t len)
{
    assert_true(i < r->n);
    assert_int_equal(r->ev[i].type, type);
    assert_int_equal(r->ev[i].len, len);
    if (len > 0)
        assert_memory_equal(r->ev[i].data, data, len);
}

/* ---- handshake ---------------------------------------------------------- */

static void test_accept_key_rfc(void **state)
{
    char        out[29];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";

    assert_int_equal(ws_accept_key(key, strlen(key), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_accept_key_invalid(void **state)
{
    static const char *bad[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ=",   /* 23 chars */
        "dGhlIHNhbXBsZSBub25jZQ===", /* 25 chars */
        "dGhlIHNhbXBsZSBub25jZQAA",  /* 24 chars, decodes to 18 bytes */
        "dGhlIHNhbXBsZSBub25jZ===",  /* padding too early */
        "dGhlIHNhbXBs*SBub25jZQ==",  /* not base64 */
        "dGhlIHNhbXBs ZSBub25jZQ=",  /* whitespace inside */
        " dGhlIHNhbXBsZSBub25jZQ=",  /* whitespace around */
        "dGhlIHNhbXBsZSBub25jZQ=\n",
    };
    char out[29];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(out, 'x', sizeof out);
        assert_int_equal(ws_accept_key(bad[i], strlen(bad[i]), out), -1);
        assert_string_equal(out, "");
    }
    assert_int_equal(ws_accept_key(NULL, 0, out), -1);
    /* A NUL inside the declared length is not base64 either. */
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25j\0Q==", 24, out), -1);
}

/* ---- UTF-8 -------------------------------------------------------------- */

struct u8vec {
    const char *s;
    size_t      n;
    bool        ok;
};

#define V(str, ok)                                                                                                     \
    {                                                                                                                  \
        str, sizeof(str) - 1, ok                                                                                       \
    }

static const struct u8vec u8vecs[] = {
    V("", true),
    V("plain ascii, long enough for the word-at-a-time path", true),
    V("\xC2\xA2", true),                                     /* U+00A2 */
    V("\xDF\xBF", true),                                     /* U+07FF */
    V("\xE0\xA0\x80", true),                                 /* U+0800, smallest 3-byte */
    V("\xE2\x82\xAC", true),                                 /* euro sign */
    V("\xED\x9F\xBF", true),                                 /* U+D7FF, just below surrogates */
    V("\xEE\x80\x80", true),                                 /* U+E000, just above */
    V("\xEF\xBF\xBF", true),                                 /* U+FFFF */
    V("\xF0\x90\x80\x80", true),                             /* U+10000, smallest 4-byte */
    V("\xF0\x9F\x98\x80", true),                             /* emoji */
    V("\xF4\x8F\xBF\xBF", true),                             /* U+10FFFF, the last one */
    V("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", true), /* "kosme" */
    V("\xC0\x80", false),                                    /* overlong NUL */
    V("\xC1\xBF", false),                                    /* overlong 2-byte */
    V("\xE0\x80\x80", false),                                /* overlong 3-byte */
    V("\xE0\x9F\xBF", false),                                /* overlong U+07FF */
    V("\xF0\x80\x80\x80", false),                            /* overlong 4-byte */
    V("\xF0\x8F\xBF\xBF", false),                            /* overlong U+FFFF */
    V("\xED\xA0\x80", false),                                /* U+D800 */
    V("\xED\xBF\xBF", false),                                /* U+DFFF */
    V("\xED\xA0\x80\xED\xB0\x80", false),                    /* surrogate pair as CESU-8 */
    V("\xF4\x90\x80\x80", false),                            /* U+110000 */
    V("\xF5\x80\x80\x80", false),
    V("\xF8\x88\x80\x80\x80", false), /* 5-byte form */
    V("\xFE", false),
    V("\xFF", false),
    V("\x80", false), /* lone continuation */
    V("\xBF", false),
    V("\xC2", false), /* truncated */
    V("\xE2\x82", false),
    V("\xF0\x9F\x98", false),
    V("\xC2\x41", false), /* continuation missing */
    V("\xE2\x28\xA1", false),
    V("abcdefghijklmnopqrstuvw\xFFxyz", false), /* after an ASCII run */
    V("abcdefgh\xC3\xA9ijklmnop\xE9", false),
};

static void test_utf8_vectors(void **state)
{
    for (size_t i = 0; i < sizeof u8vecs / sizeof u8vecs[0]; i++) {
        const struct u8vec *v = &u8vecs[i];
        struct ws_utf8      u;
        bool                ok = true;

        if (ws_utf8_valid((const uint8_t *)v->s, v->n) != v->ok)
            fail_msg("vector %zu: expected %s", i, v->ok ? "valid" : "invalid");
        /* Byte by byte through the incremental form gives the same verdict. */
        ws_utf8_init(&u);
        for (size_t j = 0; j < v->n && ok; j++)
            ok = ws_utf8_feed(&u, (const uint8_t *)v->s + j, 1);
        assert_int_equal(ok && ws_utf8_complete(&u), v->ok);
    }
}

/* Reference decoder, written from the definition rather than as a state
 * machine: decode the bit pattern, then reject overlongs, surrogates and
 * out-of-range values. Returns the sequence length, or 0 if invalid. */
static size_t ref_utf8_one(const uint8_t *s, size_t n)
{
    uint32_t cp;
    size_t   len;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
        return 0;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return len;
}

static bool ref_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t l = ref_utf8_one(s + i, n - i);

        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

/* Every 1-, 2- and 3-byte string, and every 4-byte string whose last two
 * bytes come from a set that covers all byte classes, against the reference. */
static void test_utf8_exhaustive(void **state)
{
    static const uint8_t edge[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF};
    uint8_t              s[4];

    for (unsigned a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        assert_int_equal(ws_utf8_valid(s, 1), ref_utf8_valid(s, 1));
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            assert_int_equal(ws_utf8_valid(s, 2), ref_utf8_valid(s, 2));
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                if (ws_utf8_valid(s, 3) != ref_utf8_valid(s, 3))
                    fail_msg("mismatch on %02x %02x %02x", a, b, c);
                if (a < 0xF0 || a > 0xF7)
                    continue;
                for (size_t d = 0; d < sizeof edge; d++) {
                    s[3] = edge[d];
                    if (ws_utf8_valid(s, 4) != ref_utf8_valid(s, 4))
                        fail_msg("mismatch on %02x %02x %02x %02x", a, b, c, s[3]);
                }
            }
        }
    }
}

/* A multi-byte character split across feeds validates like the whole. */
static void test_utf8_incremental_split(void **state)
{
    static const uint8_t s[] = "a\xF0\x9F\x98\x80"
                               "b\xE2\x82\xAC"
                               "c\xC3\xA9";
    size_t               n = sizeof s - 1;

    for (size_t cut = 0; cut <= n; cut++) {
        struct ws_utf8 u;

        ws_utf8_init(&u);
        assert_true(ws_utf8_feed(&u, s, cut));
        assert_true(ws_utf8_feed(&u, s + cut, n - cut));
        assert_true(ws_utf8_complete(&u));
    }
    /* An invalid byte is reported on the feed that contains it. */
    {
        struct ws_utf8 u;

        ws_utf8_init(&u);
        assert_true(ws_utf8_feed(&u, (const uint8_t *)"ok \xE2\x82", 5));
        assert_false(ws_utf8_complete(&u));
        assert_false(ws_utf8_feed(&u, (const uint8_t *)"x", 1));
        assert_false(ws_utf8_feed(&u, (const uint8_t *)"y", 1)); /* sticky */
        assert_false(ws_utf8_complete(&u));
    }
}

/* ---- parser: RFC 6455 §5.7 examples ------------------------------------- */

static void test_rfc_masked_hello(void **state)
{
    static const uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct recs          r;

    run(in, sizeof in, 1024, &r);
    assert_int_equal(r.n, 1);
    expect_one(&r, 0, WS_EV_TEXT, "Hello", 5);
    recs_free(&r);
    assert_split_invariant(in, sizeof in, 1024);
}

static void test_rfc_unmasked_refused(void **state)
{
    /* The unmasked examples are server-to-client; a server must refuse them. */
    static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};

    expect_error(hello, sizeof hello, 1024, WS_CLOSE_PROTOCOL);
    expect_error(frag, sizeof frag, 1024, WS_CLOSE_PROTOCOL);
    expect_error(ping, sizeof ping, 1024, WS_CLOSE_PROTOCOL);
}

static void test_rfc_fragmented(void **state)
{
    uint8_t     in[64];
    size_t      n = 0;
    struct recs r;

    n += cframe(in + n, 0x01, "Hel", 3);
    n += cframe(in + n, 0x80, "lo", 2);
    run(in, n, 1024, &r);
    assert_int_equal(r.n, 1);
    expect_one(&r, 0, WS_EV_TEXT, "Hello", 5);
    recs_free(&r);
    assert_split_invariant(in, n, 1024);
}

static void test_rfc_ping_pong(void **state)
{
    /* The RFC's pong example is masked with the same key as "Hello". */
    static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    uint8_t              in[64];
    size_t               n = 0;
    struct recs          r;

    n += cframe(in + n, 0x89, "Hello", 5);
    memcpy(in + n, pong, sizeof pong);
    n += sizeof pong;
    run(in, n, 1024, &r);
    assert_int_equal(r.n, 2);
    expect_one(&r, 0, WS_EV_PING, "Hello", 5);
    expect_one(&r, 1, WS_EV_PONG, "Hello", 5);
    recs_free(&r);
    assert_split_invariant(in, n, 1024);
}

static void check_binary_length(size_t len, const uint8_t *want_hdr, size_t want_hlen)
{
    uint8_t     hdr[10];
    uint8_t    *payload = malloc(len);
    uint8_t    *in = malloc(len + 14);
    size_t      n;
    struct recs r;

    assert_non_null(payload);
    assert_non_null(in);
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)(i * 7 + (i >> 8));
    /* Our encoder writes exactly the RFC's header. */
    assert_int_equal(ws_frame_header(hdr, WS_OP_BINARY, true, len), want_hlen);
    assert_memory_equal(hdr, want_hdr, want_hlen);
    /* The client's masked form parses back to the payload. */
    n = cframe(in, 0x82, payload, len);
    assert_int_equal(n, want_hlen + 4 + len);
    run(in, n, len, &r);
    assert_int_equal(r.n, 1);
    expect_one(&r, 0, WS_EV_BINARY, payload, len);
    recs_free(&r);
    assert_split_invariant(in, n, len);
    free(payload);
    free(in);
}

static void test_rfc_lengths(void **state)
{
    static const uint8_t h256[] = {0x82, 0x7E, 0x01, 0x00};
    static const uint8_t h64k[] = {0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};

    check_binary_length(256, h256, sizeof h256);
    check_binary_length(65536, h64k, sizeof h64k);
}

/* ---- parser: behaviour -------------------------------------------------- */

static void test_interleaved_control(void **state)
{
    uint8_t     in[128];
    size_t      n = 0;
    struct recs r;

    n += cframe(in + n, 0x01, "Hel", 3);
    n += cframe(in + n, 0x89, "p1", 2);
    n += cframe(in + n, 0x8A, "", 0);
    n += cframe(in + n, 0x00, "l", 1);
    n += cframe(in + n, 0x89, "p2", 2);
    n += cframe(in + n, 0x80, "o", 1);
    n += cframe(in + n, 0x02, "\x00\x01", 2);
    n += cframe(in + n, 0x89, "", 0);
    n += cframe(in + n, 0x80, "\x02", 1);
    run(in, n, 1024, &r);
    assert_int_equal(r.n, 6);
    expect_one(&r, 0, WS_EV_PING, "p1", 2);
    expect_one(&r, 1, WS_EV_PONG, "", 0);
    expect_one(&r, 2, WS_EV_PING, "p2", 2);
    expect_one(&r, 3, WS_EV_TEXT, "Hello", 5);
    expect_one(&r, 4, WS_EV_PING, "", 0);
    expect_one(&r, 5, WS_EV_BINARY, "\x00\x01\x02", 3);
    recs_free(&r);
    assert_split_invariant(in, n, 1024);
}

/* Event pointers stay valid until the next feed, and the buffer is reused
 * (or released, after a big message) without leaking one into the next. */
static void test_message_lifetime(void **state)
{
    size_t           big = 40000;
    uint8_t         *payload = malloc(big);
    uint8_t         *in = malloc(big + 64);
    struct ws_parser p;
    struct ws_event  ev;
    size_t           n = 0, at = 0;
    ssize_t          k;

    assert_non_null(payload);
    assert_non_null(in);
    memset(payload, 'z', big);
    n += cframe(in + n, 0x81, "first", 5);
    n += cframe(in + n, 0x82, payload, big);
    n += cframe(in + n, 0x81, "second", 6);
    ws_parser_init(&p, big);

    k = ws_parser_feed(&p, in, n, &ev);
    assert_int_equal(ev.type, WS_EV_TEXT);
    assert_string_equal((const char *)ev.data, "first");
    at += (size_t)k;
    k = ws_parser_feed(&p, in + at, n - at, &ev);
    assert_int_equal(ev.type, WS_EV_BINARY);
    assert_int_equal(ev.len, big);
    assert_memory_equal(ev.data, payload, big);
    at += (size_t)k;
    k = ws_parser_feed(&p, in + at, n - at, &ev);
    assert_int_equal(ev.type, WS_EV_TEXT);
    assert_int_equal(ev.len, 6);
    assert_string_equal((const char *)ev.data, "second");
    at += (size_t)k;
    assert_int_equal(at, n);
    k = ws_parser_feed(&p, in + at, 0, &ev);
    assert_int_equal(k, 0);
    assert_int_equal(ev.type, WS_EV_NONE);
    ws_parser_free(&p);
    free(payload);
    free(in);
}

static void test_zero_length_messages(void **state)
{
    uint8_t     in[64];
    size_t      n = 0;
    struct recs r;

    n += cframe(in + n, 0x81, "", 0);
    n += cframe(in + n, 0x02, "", 0);
    n += cframe(in + n, 0x00, "", 0);
    n += cframe(in + n, 0x80, "", 0);
    run(in, n, 0, &r);
    assert_int_equal(r.n, 2);
    expect_one(&r, 0, WS_EV_TEXT, "", 0);
    expect_one(&r, 1, WS_EV_BINARY, "", 0);
    recs_free(&r);
    assert_split_invariant(in, n, 0);
}

static void test_nonminimal_length(void **state)
{
    uint8_t     in[64];
    size_t      n = 0;
    struct recs r;

    n += cframe_ex(in + n, 0x81, "abc", 3, rfc_key, 4);
    n += cframe_ex(in + n, 0x82, "defgh", 5, rfc_key, 10);
    run(in, n, 1024, &r);
    assert_int_equal(r.n, 2);
    expect_one(&r, 0, WS_EV_TEXT, "abc", 3);
    expect_one(&r, 1, WS_EV_BINARY, "defgh", 5);
    recs_free(&r);
    assert_split_invariant(in, n, 1024);
}

/* ---- parser: protocol errors (1002) ------------------------------------- */

static void test_error_reserved_bits(void **state)
{
    uint8_t in[32];

    for (uint8_t rsv = 0x10; rsv <= 0x70; rsv += 0x10) {
        size_t n = cframe(in, (uint8_t)(0x81 | rsv), "x", 1);

        expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
        n = cframe(in, (uint8_t)(0x89 | rsv), "x", 1);
        expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
    }
}

static void test_error_unknown_opcode(void **state)
{
    static const uint8_t ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    uint8_t              in[32];

    for (size_t i = 0; i < sizeof ops; i++) {
        size_t n = cframe(in, (uint8_t)(0x80 | ops[i]), "x", 1);

        expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
    }
}

static void test_error_unmasked(void **state)
{
    uint8_t in[32];
    size_t  n = cframe_ex(in, 0x82, "abc", 3, NULL, 0);

    expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
    /* Also when a valid masked frame came first. */
    n = cframe(in, 0x81, "ok", 2);
    n += cframe_ex(in + n, 0x81, "no", 2, NULL, 0);
    expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
}

static void test_error_control_frames(void **state)
{
    uint8_t big[126];
    uint8_t in[200];
    size_t  n;

    memset(big, 'a', sizeof big);
    for (uint8_t op = WS_OP_CLOSE; op <= WS_OP_PONG; op++) {
        /* Fragmented control frame. */
        n = cframe(in, op, "", 0);
        expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
        /* Payload over 125 bytes, minimal and 64-bit encodings. */
        n = cframe(in, (uint8_t)(0x80 | op), big, 126);
        expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
        n = cframe_ex(in, (uint8_t)(0x80 | op), big, 5, rfc_key, 4);
        expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
        /* 125 is fine for ping and pong. */
        if (op != WS_OP_CLOSE) {
            struct recs r;

            n = cframe(in, (uint8_t)(0x80 | op), big, 125);
            run(in, n, 0, &r);
            assert_int_equal(r.n, 1);
            expect_one(&r, 0, op == WS_OP_PING ? WS_EV_PING : WS_EV_PONG, big, 125);
            recs_free(&r);
        }
    }
}

static void test_error_fragmentation(void **state)
{
    uint8_t in[64];
    size_t  n;

    /* Continuation with no message started. */
    n = cframe(in, 0x80, "x", 1);
    expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
    n = cframe(in, 0x00, "x", 1);
    expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
    /* ... nor after a message that already finished. */
    n = cframe(in, 0x81, "a", 1);
    n += cframe(in + n, 0x80, "b", 1);
    expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
    /* New data frame while a fragmented one is open. */
    n = cframe(in, 0x01, "a", 1);
    n += cframe(in + n, 0x81, "b", 1);
    expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
    n = cframe(in, 0x02, "a", 1);
    n += cframe(in + n, 0x89, "", 0); /* a ping in between changes nothing */
    n += cframe(in + n, 0x01, "b", 1);
    expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
}

static void test_error_64bit_top_bit(void **state)
{
    uint8_t          in[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 0x37, 0xfa, 0x21, 0x3d};
    struct ws_parser p;
    struct ws_event  ev;

    expect_error(in, sizeof in, SIZE_MAX, WS_CLOSE_PROTOCOL);
    /* Refused at the first length byte, before the rest arrives. */
    ws_parser_init(&p, SIZE_MAX);
    assert_int_equal(ws_parser_feed(&p, in, 3, &ev), -1);
    assert_int_equal(ev.code, WS_CLOSE_PROTOCOL);
    ws_parser_free(&p);
}

/* ---- parser: close frames ----------------------------------------------- */

static size_t close_frame(uint8_t *out, unsigned code, const char *reason, size_t rlen)
{
    uint8_t payload[WS_CONTROL_MAX];

    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    memcpy(payload + 2, reason, rlen);
    return cframe(out, 0x88, payload, rlen + 2);
}

static void test_close_frames(void **state)
{
    static const unsigned ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                  1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const unsigned bad[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 6000, 65535};
    uint8_t               in[160];
    size_t                n;
    struct recs           r;

    n = close_frame(in, 1000, "bye", 3);
    run(in, n, 1024, &r);
    assert_int_equal(r.n, 1);
    assert_false(r.failed);
    expect_one(&r, 0, WS_EV_CLOSE, "bye", 3);
    assert_int_equal(r.ev[0].code, 1000);
    recs_free(&r);
    assert_split_invariant(in, n, 1024);

    /* No payload: 1005. */
    n = cframe(in, 0x88, "", 0);
    run(in, n, 1024, &r);
    assert_int_equal(r.n, 1);
    expect_one(&r, 0, WS_EV_CLOSE, "", 0);
    assert_int_equal(r.ev[0].code, WS_CLOSE_NO_STATUS);
    recs_free(&r);

    /* A 1-byte payload cannot hold a code. */
    n = cframe(in, 0x88, "\x03", 1);
    expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_true(ws_close_code_valid(ok[i]));
        n = close_frame(in, ok[i], "", 0);
        run(in, n, 1024, &r);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].type, WS_EV_CLOSE);
        assert_int_equal(r.ev[0].code, ok[i]);
        recs_free(&r);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(ws_close_code_valid(bad[i]));
        n = close_frame(in, bad[i], "", 0);
        expect_error(in, n, 1024, WS_CLOSE_PROTOCOL);
    }

    /* The reason must be UTF-8 too; a valid multi-byte one passes. */
    n = close_frame(in, 1000, "\xCE\xBA\xE1\xBD\xB9", 5);
    run(in, n, 1024, &r);
    expect_one(&r, 0, WS_EV_CLOSE, "\xCE\xBA\xE1\xBD\xB9", 5);
    recs_free(&r);
    n = close_frame(in, 1000, "ok\xED\xA0\x80", 5);
    expect_error(in, n, 1024, WS_CLOSE_INVALID_DATA);
    n = close_frame(in, 1000, "\xC2", 1);
    expect_error(in, n, 1024, WS_CLOSE_INVALID_DATA);
}

/* Nothing is parsed after a close, not even garbage. */
static void test_close_then_ignored(void **state)
{
    uint8_t     in[64];
    size_t      n = 0;
    struct recs r;

    n += cframe(in + n, 0x01, "half", 4); /* an open message is dropped */
    n += close_frame(in + n, 1001, "", 0);
    memcpy(in + n, "\xFF\xFF\x00garbage", 10);
    n += 10;
    run(in, n, 1024, &r);
    assert_int_equal(r.n, 1);
    assert_false(r.failed);
    assert_int_equal(r.ev[0].type, WS_EV_CLOSE);
    assert_int_equal(r.ev[0].code, 1001);
    recs_free(&r);
    assert_split_invariant(in, n, 1024);
}

/* ---- parser: UTF-8 in text messages (1007) ------------------------------ */

static void test_text_utf8(void **state)
{
    uint8_t     in[256];
    size_t      n;
    struct recs r;

    /* Multi-byte characters in one frame. */
    n = cframe(in, 0x81, "\xF0\x9F\x98\x80 caf\xC3\xA9", 10);
    run(in, n, 1024, &r);
    expect_one(&r, 0, WS_EV_TEXT, "\xF0\x9F\x98\x80 caf\xC3\xA9", 10);
    recs_free(&r);

    /* A character cut across fragments completes in the next one, with a
   * ping in between for good measure. */
    n = cframe(in, 0x01, "x\xE2\x82", 3);
    n += cframe(in + n, 0x89, "", 0);
    n += cframe(in + n, 0x00, "\xAC", 1);
    n += cframe(in + n, 0x80, "", 0); /* an empty final fragment ends it */
    run(in, n, 1024, &r);
    assert_int_equal(r.n, 2);
    expect_one(&r, 0, WS_EV_PING, "", 0);
    expect_one(&r, 1, WS_EV_TEXT, "x\xE2\x82\xAC", 4);
    recs_free(&r);
    assert_split_invariant(in, n, 1024);

    /* Truncated at the end of the message. */
    n = cframe(in, 0x81, "ab\xE2\x82", 4);
    expect_error(in, n, 1024, WS_CLOSE_INVALID_DATA);
    n = cframe(in, 0x01, "ab", 2);
    n += cframe(in + n, 0x80, "\xF0\x9F\x98", 3);
    expect_error(in, n, 1024, WS_CLOSE_INVALID_DATA);

    /* Invalid sequences. */
    n = cframe(in, 0x81, "\xC0\xAF", 2); /* overlong '/' */
    expect_error(in, n, 1024, WS_CLOSE_INVALID_DATA);
    n = cframe(in, 0x81, "a\xED\xA0\x80z", 5); /* surrogate */
    expect_error(in, n, 1024, WS_CLOSE_INVALID_DATA);
    n = cframe(in, 0x81, "\xF4\x90\x80\x80", 4); /* > U+10FFFF */
    expect_error(in, n, 1024, WS_CLOSE_INVALID_DATA);

    /* Binary messages are not checked. */
    n = cframe(in, 0x82, "\xFF\xC0\xED\xA0\x80", 5);
    run(in, n, 1024, &r);
    expect_one(&r, 0, WS_EV_BINARY, "\xFF\xC0\xED\xA0\x80", 5);
    recs_free(&r);
}

/* A bad byte fails the message at once: inside a frame whose tail has not
 * arrived, and in a middle fragment before the message is complete. */
static void test_text_utf8_fail_fast(void **state)
{
    uint8_t          payload[1000];
    uint8_t          in[1100];
    struct ws_parser p;
    struct ws_event  ev;
    size_t           n;

    memset(payload, 'a', sizeof payload);
    payload[100] = 0xFF;
    n = cframe(in, 0x81, payload, sizeof payload);
    ws_parser_init(&p, 4096);
    /* Header (8 bytes) and 101 payload bytes: the 0xFF is the last one. */
    assert_int_equal(ws_parser_feed(&p, in, 8 + 100, &ev), 8 + 100);
    assert_int_equal(ev.type, WS_EV_NONE);
    assert_int_equal(ws_parser_feed(&p, in + 108, 1, &ev), -1);
    assert_int_equal(ev.type, WS_EV_ERROR);
    assert_int_equal(ev.code, WS_CLOSE_INVALID_DATA);
    ws_parser_free(&p);
    expect_error(in, n, 4096, WS_CLOSE_INVALID_DATA);

    /* Fragments "ok", "\xF4\x90" (impossible after F4), then the rest. */
    n = cframe(in, 0x01, "ok", 2);
    size_t first = n;
    n += cframe(in + n, 0x00, "\xF4\x90", 2);
    ws_parser_init(&p, 4096);
    assert_int_equal(ws_parser_feed(&p, in, first, &ev), (ssize_t)first);
    assert_int_equal(ws_parser_feed(&p, in + first, n - first, &ev), -1);
    assert_int_equal(ev.code, WS_CLOSE_INVALID_DATA);
    ws_parser_free(&p);
}

/* ---- parser: size limit (1009) ------------------------------------------ */

static void test_max_message(void **state)
{
    uint8_t          payload[300];
    uint8_t          in[400];
    struct ws_parser p;
    struct ws_event  ev;
    struct recs      r;
    size_t           n;

    memset(payload, 'm', sizeof payload);
    /* Exactly the limit passes. */
    n = cframe(in, 0x82, payload, 10);
    run(in, n, 10, &r);
    expect_one(&r, 0, WS_EV_BINARY, payload, 10);
    recs_free(&r);
    /* One more fails on the declared length: 2 header bytes are enough. */
    n = cframe(in, 0x82, payload, 11);
    expect_error(in, n, 10, WS_CLOSE_TOO_BIG);
    ws_parser_init(&p, 10);
    assert_int_equal(ws_parser_feed(&p, in, 2, &ev), -1);
    assert_int_equal(ev.code, WS_CLOSE_TOO_BIG);
    ws_parser_free(&p);
    /* Same with a 16-bit length: fails once the length is known. */
    n = cframe(in, 0x81, payload, 300);
    ws_parser_init(&p, 299);
    assert_int_equal(ws_parser_feed(&p, in, 3, &ev), 3);
    assert_int_equal(ws_parser_feed(&p, in + 3, 1, &ev), -1);
    assert_int_equal(ev.code, WS_CLOSE_TOO_BIG);
    ws_parser_free(&p);
    /* A huge declared 64-bit length, with no payload at all. */
    {
        static const uint8_t huge[] = {0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0};

        expect_error(huge, sizeof huge, 1 << 20, WS_CLOSE_TOO_BIG);
    }
    /* Fragments add up: 6 + 4 fits 10, 6 + 5 does not. */
    n = cframe(in, 0x02, payload, 6);
    n += cframe(in + n, 0x80, payload, 4);
    run(in, n, 10, &r);
    expect_one(&r, 0, WS_EV_BINARY, payload, 10);
    recs_free(&r);
    n = cframe(in, 0x01, payload, 6);
    n += cframe(in + n, 0x00, payload, 0);
    n += cframe(in + n, 0x80, payload, 5);
    expect_error(in, n, 10, WS_CLOSE_TOO_BIG);
    /* Control frames do not count against the message limit. */
    n = cframe(in, 0x01, payload, 6);
    n += cframe(in + n, 0x89, payload, 100);
    n += cframe(in + n, 0x80, payload, 4);
    run(in, n, 10, &r);
    assert_int_equal(r.n, 2);
    expect_one(&r, 0, WS_EV_PING, payload, 100);
    expect_one(&r, 1, WS_EV_TEXT, payload, 10);
    recs_free(&r);
    assert_split_invariant(in, n, 10);
    /* After a delivered message the count starts over. */
    n = cframe(in, 0x82, payload, 10);
    n += cframe(in + n, 0x82, payload, 10);
    run(in, n, 10, &r);
    assert_int_equal(r.n, 2);
    recs_free(&r);
}

/* ---- encoder ------------------------------------------------------------ */

static void test_frame_header(void **state)
{
    uint8_t h[10];

    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, true, 0), 2);
    assert_memory_equal(h, "\x81\x00", 2);
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, false, 125), 2);
    assert_memory_equal(h, "\x01\x7D", 2);
    assert_int_equal(ws_frame_header(h, WS_OP_CONT, true, 126), 4);
    assert_memory_equal(h, "\x80\x7E\x00\x7E", 4);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, 65535), 4);
    assert_memory_equal(h, "\x82\x7E\xFF\xFF", 4);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, 65536), 10);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, UINT64_C(0x0123456789ABCDEF)), 10);
    assert_memory_equal(h, "\x82\x7F\x01\x23\x45\x67\x89\xAB\xCD\xEF", 10);
    assert_int_equal(ws_frame_header(h, WS_OP_PING, true, 125), 2);
    assert_memory_equal(h, "\x89\x7D", 2);
    assert_int_equal(ws_frame_header(h, WS_OP_PONG, true, 0), 2);
    assert_memory_equal(h, "\x8A\x00", 2);
    /* Frames that cannot exist. */
    assert_int_equal(ws_frame_header(h, WS_OP_PING, true, 126), 0);
    assert_int_equal(ws_frame_header(h, WS_OP_CLOSE, false, 2), 0);
    assert_int_equal(ws_frame_header(h, 3, true, 1), 0);
    assert_int_equal(ws_frame_header(h, 16, true, 1), 0);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, UINT64_C(1) << 63), 0);
}

static void round_trip(int opcode, size_t len)
{
    static const uint8_t keys[][4] = {{0x00, 0x00, 0x00, 0x00}, {0x37, 0xfa, 0x21, 0x3d}, {0xff, 0x01, 0x80, 0x7f}};
    uint8_t             *payload = malloc(len + 1);
    uint8_t             *frame, *masked;
    size_t               flen;

    assert_non_null(payload);
    for (size_t i = 0; i < len; i++)
        payload[i] = opcode == WS_OP_TEXT ? (uint8_t)('a' + i % 26) : (uint8_t)(i * 131 + 17);
    frame = ws_frame_build(opcode, payload, len, &flen);
    assert_non_null(frame);
    assert_int_equal(flen, (len < 126 ? 2 : len <= 0xFFFF ? 4 : 10) + len);
    assert_int_equal(frame[0], 0x80 | opcode);
    assert_int_equal(frame[1] & 0x80, 0); /* never masked */
    masked = malloc(flen + 4);
    assert_non_null(masked);
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        size_t             mlen = client_mask(masked, frame, flen, keys[k]);
        struct recs        r;
        enum ws_event_type want = opcode == WS_OP_TEXT     ? WS_EV_TEXT
                                  : opcode == WS_OP_BINARY ? WS_EV_BINARY
                                  : opcode == WS_OP_PING   ? WS_EV_PING
                                                           : WS_EV_PONG;

        run(masked, mlen, len, &r);
        assert_int_equal(r.n, 1);
        expect_one(&r, 0, want, payload, len);
        recs_free(&r);
        /* Odd splits exercise the unmasking at every key phase. */
        {
            size_t cuts[3] = {mlen / 3 + 1, mlen / 2 + 3, mlen - 5};

            if (mlen > 20) {
                struct recs r2;

                run_cuts(masked, mlen, len, cuts, 3, &r2);
                assert_int_equal(r2.n, 1);
                expect_one(&r2, 0, want, payload, len);
                recs_free(&r2);
            }
        }
    }
    free(masked);
    free(frame);
    free(payload);
}

static void test_encoder_round_trip(void **state)
{
    static const size_t lens[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 125, 126, 127, 1000, 4097, 65535, 65536, 70001};
    static const size_t clens[] = {0, 1, 2, 9, 124, 125};

    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        round_trip(WS_OP_TEXT, lens[i]);
        round_trip(WS_OP_BINARY, lens[i]);
    }
    for (size_t i = 0; i < sizeof clens / sizeof clens[0]; i++) {
        round_trip(WS_OP_PING, clens[i]);
        round_trip(WS_OP_PONG, clens[i]);
    }
    {
        size_t flen = 99;

        assert_null(ws_frame_build(WS_OP_PING, "x", 126, &flen));
        assert_int_equal(flen, 0);
    }
}

static void test_close_build(void **state)
{
    uint8_t    *frame;
    uint8_t     masked[140];
    char        reason[200];
    size_t      flen, mlen;
    struct recs r;

    frame = ws_frame_build_close(WS_CLOSE_NORMAL, "bye", 3, &flen);
    assert_non_null(frame);
    assert_int_equal(flen, 7);
    assert_memory_equal(frame,
                        "\x88\x05\x03\xE8"
                        "bye",
                        7);
    mlen = client_mask(masked, frame, flen, rfc_key);
    run(masked, mlen, 0, &r);
    expect_one(&r, 0, WS_EV_CLOSE, "bye", 3);
    assert_int_equal(r.ev[0].code, 1000);
    recs_free(&r);
    free(frame);

    /* No code: empty payload, read back as 1005. */
    frame = ws_frame_build_close(0, "ignored", 7, &flen);
    assert_non_null(frame);
    assert_int_equal(flen, 2);
    assert_memory_equal(frame, "\x88\x00", 2);
    free(frame);
    frame = ws_frame_build_close(WS_CLOSE_NO_STATUS, NULL, 0, &flen);
    assert_int_equal(flen, 2);
    free(frame);
    frame = ws_frame_build_close(WS_CLOSE_GOING_AWAY, "x", 1, &flen);
    assert_int_equal(flen, 5);
    assert_memory_equal(frame, "\x88\x03\x03\xE9x", 5);
    free(frame);
    frame = ws_frame_build_close(WS_CLOSE_TOO_BIG, NULL, 0, &flen);
    assert_int_equal(flen, 4);
    assert_memory_equal(frame, "\x88\x02\x03\xF1", 4);
    free(frame);

    /* A long reason is cut to 123 bytes without splitting a character:
   * 122 ASCII bytes then a 2-byte char that would straddle the limit. */
    memset(reason, 'r', 122);
    memcpy(reason + 122, "\xC3\xA9tail", 6);
    frame = ws_frame_build_close(WS_CLOSE_POLICY, reason, 128, &flen);
    assert_non_null(frame);
    assert_int_equal(frame[1], 2 + 122);
    mlen = client_mask(masked, frame, flen, rfc_key);
    run(masked, mlen, 0, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].type, WS_EV_CLOSE);
    assert_int_equal(r.ev[0].code, WS_CLOSE_POLICY);
    assert_int_equal(r.ev[0].len, 122);
    recs_free(&r);
    free(frame);
    /* 121 ASCII then the 2-byte char fits exactly. */
    memset(reason, 'r', 121);
    memcpy(reason + 121, "\xC3\xA9tail", 6);
    frame = ws_frame_build_close(WS_CLOSE_POLICY, reason, 127, &flen);
    assert_int_equal(frame[1], 2 + 123);
    free(frame);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc),
        cmocka_unit_test(test_accept_key_invalid),
        cmocka_unit_test(test_utf8_vectors),
        cmocka_unit_test(test_utf8_exhaustive),
        cmocka_unit_test(test_utf8_incremental_split),
        cmocka_unit_test(test_rfc_masked_hello),
        cmocka_unit_test(test_rfc_unmasked_refused),
        cmocka_unit_test(test_rfc_fragmented),
        cmocka_unit_test(test_rfc_ping_pong),
        cmocka_unit_test(test_rfc_lengths),
        cmocka_unit_test(test_interleaved_control),
        cmocka_unit_test(test_message_lifetime),
        cmocka_unit_test(test_zero_length_messages),
        cmocka_unit_test(test_nonminimal_length),
        cmocka_unit_test(test_error_reserved_bits),
        cmocka_unit_test(test_error_unknown_opcode),
        cmocka_unit_test(test_error_unmasked),
        cmocka_unit_test(test_error_control_frames),
        cmocka_unit_test(test_error_fragmentation),
        cmocka_unit_test(test_error_64bit_top_bit),
        cmocka_unit_test(test_close_frames),
        cmocka_unit_test(test_close_then_ignored),
        cmocka_unit_test(test_text_utf8),
        cmocka_unit_test(test_text_utf8_fail_fast),
        cmocka_unit_test(test_max_message),
        cmocka_unit_test(test_frame_header),
        cmocka_unit_test(test_encoder_round_trip),
        cmocka_unit_test(test_close_build),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
