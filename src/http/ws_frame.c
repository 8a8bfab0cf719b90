/*
 * WebSocket codec: handshake key, UTF-8 validation, frame parser, encoder.
 * The contract is in ws_frame.h.
 */
#include "http/ws_frame.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>

/* ---- handshake ---------------------------------------------------------- */

/* RFC 6455 §1.3: the fixed GUID appended to the client's key. */
static const char ws__guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool ws__is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int ws_accept_key(const char *client_key, size_t len, char out[29])
{
    unsigned char joined[24 + sizeof ws__guid - 1];
    unsigned char raw[18];
    unsigned char digest[20];
    size_t        olen = 0;

    out[0] = '\0';
    /* 16 bytes are exactly 22 base64 characters plus "==" padding; checking
   * the shape first keeps mbedTLS's more lenient decoder (it skips
   * whitespace) from accepting anything else. */
    if (client_key == NULL || len != 24)
        return -1;
    for (size_t i = 0; i < 22; i++)
        if (!ws__is_b64(client_key[i]))
            return -1;
    if (client_key[22] != '=' || client_key[23] != '=')
        return -1;
    if (mbedtls_base64_decode(raw, sizeof raw, &olen, (const unsigned char *)client_key, len) != 0 || olen != 16)
        return -1;

    memcpy(joined, client_key, 24);
    memcpy(joined + 24, ws__guid, sizeof ws__guid - 1);
    if (mbedtls_sha1(joined, sizeof joined, digest) != 0)
        return -1;
    if (mbedtls_base64_encode((unsigned char *)out, 29, &olen, digest, sizeof digest) != 0 || olen != 28) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* ---- UTF-8 -------------------------------------------------------------- */

void ws_utf8_init(struct ws_utf8 *u)
{
    u->need = 0;
    u->lo = 0x80;
    u->hi = 0xBF;
    u->bad = false;
}

bool ws_utf8_feed(struct ws_utf8 *u, const uint8_t *s, size_t n)
{
    uint8_t need = u->need, lo = u->lo, hi = u->hi;
    size_t  i = 0;

    if (u->bad)
        return false;
    while (i < n) {
        uint8_t c = s[i];

        if (need == 0) {
            if (c < 0x80) {
                /* Chat traffic is mostly ASCII: skip it a word at a time. memcpy
         * keeps the load legal at any alignment. */
                i++;
                while (n - i >= 8) {
                    uint64_t w;
                    memcpy(&w, s + i, 8);
                    if (w & UINT64_C(0x8080808080808080))
                        break;
                    i += 8;
                }
                continue;
            }
            /* The lead byte decides the length and, for the edge cases, the
       * range of the first continuation byte (RFC 3629 §4): E0 and F0
       * would otherwise allow overlong forms, ED surrogates, F4 code
       * points above U+10FFFF. C0, C1 and F5..FF can never start a
       * valid sequence. */
            lo = 0x80;
            hi = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
            } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                if (c == 0xE0)
                    lo = 0xA0;
                else if (c == 0xED)
                    hi = 0x9F;
            } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                if (c == 0xF0)
                    lo = 0x90;
                else if (c == 0xF4)
                    hi = 0x8F;
            } else {
                goto fail;
            }
        } else {
            if (c < lo || c > hi)
                goto fail;
            need--;
            lo = 0x80;
            hi = 0xBF;
        }
        i++;
    }
    u->need = need;
    u->lo = lo;
    u->hi = hi;
    return true;

fail:
    u->bad = true;
    return false;
}

bool ws_utf8_complete(const struct ws_utf8 *u)
{
    return !u->bad && u->need == 0;
}

bool ws_utf8_valid(const uint8_t *s, size_t n)
{
    struct ws_utf8 u;

    ws_utf8_init(&u);
    return ws_utf8_feed(&u, s, n) && ws_utf8_complete(&u);
}

/* ---- parser ------------------------------------------------------------- */

enum ws__pstate {
    WS__PS_B0,      /* expecting FIN/RSV/opcode */
    WS__PS_B1,      /* expecting MASK/7-bit length */
    WS__PS_EXTLEN,  /* reading a 16- or 64-bit extended length */
    WS__PS_MASK,    /* reading the 4-byte masking key */
    WS__PS_PAYLOAD, /* reading payload */
    WS__PS_CLOSED,  /* a close frame was delivered; input is ignored */
    WS__PS_FAILED,  /* an error was reported; it is repeated */
};

/* Step results inside the parser. */
enum {
    WS__MORE = 0,  /* keep reading */
    WS__FRAME = 1, /* the current frame is complete */
    WS__FAIL = -1, /* p->err_* set, state FAILED */
};

/* A message buffer larger than this is released after its message was
 * delivered, so one big message does not pin memory on an idle socket. */
#define WS__KEEP_CAP 16384u
/* First allocation for a message buffer; most board messages fit. */
#define WS__MIN_CAP 256u

static const uint8_t ws__empty[1];

void ws_parser_init(struct ws_parser *p, size_t max_message)
{
    memset(p, 0, sizeof *p);
    /* Keeps msg_len + n + 1 from ever overflowing. */
    if (max_message > SIZE_MAX / 2)
        max_message = SIZE_MAX / 2;
    p->max_message = max_message;
    p->state = WS__PS_B0;
    ws_utf8_init(&p->utf8);
}

void ws_parser_free(struct ws_parser *p)
{
    free(p->msg);
    p->msg = NULL;
    p->msg_len = 0;
    p->msg_cap = 0;
}

static int ws__fail(struct ws_parser *p, uint16_t code, const char *reason)
{
    p->state = WS__PS_FAILED;
    p->err_code = code;
    p->err_reason = reason;
    return WS__FAIL;
}

static ssize_t ws__error_event(const struct ws_parser *p, struct ws_event *ev)
{
    ev->type = WS_EV_ERROR;
    ev->code = p->err_code;
    ev->data = (const uint8_t *)p->err_reason;
    ev->len = strlen(p->err_reason);
    return -1;
}

bool ws_close_code_valid(unsigned code)
{
    /* 1004 is reserved, 1005/1006/1015 must never be on the wire, the rest of
   * 1016-2999 is reserved for future RFCs; 3000-4999 belong to
   * applications and libraries. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/* First header byte: everything that can be judged from it is judged now,
 * so a bad frame fails before its length or payload arrives. */
static int ws__on_b0(struct ws_parser *p, uint8_t b)
{
    uint8_t op = b & 0x0F;

    p->fin = (b & 0x80) != 0;
    p->opcode = op;
    if (b & 0x70)
        return ws__fail(p, WS_CLOSE_PROTOCOL, "reserved bits set");
    switch (op) {
    case WS_OP_CONT:
        if (p->msg_opcode == 0)
            return ws__fail(p, WS_CLOSE_PROTOCOL, "continuation without message");
        break;
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        if (p->msg_opcode != 0)
            return ws__fail(p, WS_CLOSE_PROTOCOL, "new message inside fragmented message");
        break;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!p->fin)
            return ws__fail(p, WS_CLOSE_PROTOCOL, "fragmented control frame");
        break;
    default: return ws__fail(p, WS_CLOSE_PROTOCOL, "unknown opcode");
    }
    p->state = WS__PS_B1;
    return WS__MORE;
}

/* Called once the payload length is known, before any payload is read. */
static int ws__on_length(struct ws_parser *p)
{
    if (p->opcode & 0x08) {
        /* Control frames are already limited to 125 bytes by ws__on_b1. */
        if (p->opcode == WS_OP_CLOSE && p->frame_len == 1)
            return ws__fail(p, WS_CLOSE_PROTOCOL, "close frame with 1-byte payload");
    } else {
        /* What the message already holds counts: fragments add up. */
        size_t have = p->opcode == WS_OP_CONT ? p->msg_len : 0;

        if (p->frame_len > p->max_message - have)
            return ws__fail(p, WS_CLOSE_TOO_BIG, "message too big");
    }
    p->hdr_need = 4;
    p->state = WS__PS_MASK;
    return WS__MORE;
}

static int ws__on_b1(struct ws_parser *p, uint8_t b)
{
    uint8_t len7 = b & 0x7F;

    /* RFC 6455 §5.1: a server must fail a connection on an unmasked frame. */
    if (!(b & 0x80))
        return ws__fail(p, WS_CLOSE_PROTOCOL, "unmasked client frame");
    p->frame_len = 0;
    p->frame_got = 0;
    if (len7 == 126 || len7 == 127) {
        if (p->opcode & 0x08)
            return ws__fail(p, WS_CLOSE_PROTOCOL, "control frame too long");
        p->hdr_need = len7 == 126 ? 2 : 8;
        p->state = WS__PS_EXTLEN;
        return WS__MORE;
    }
    p->frame_len = len7;
    return ws__on_length(p);
}

static int ws__on_extlen(struct ws_parser *p, uint8_t b)
{
    /* Only the first byte of a 64-bit length can carry the top bit. Lengths
   * that would have fit a shorter form are accepted (§5.2 says "minimal
   * number of bytes MUST be used", but refusing them buys nothing). */
    if (p->hdr_need == 8 && (b & 0x80))
        return ws__fail(p, WS_CLOSE_PROTOCOL, "64-bit length with top bit set");
    p->frame_len = (p->frame_len << 8) | b;
    if (--p->hdr_need > 0)
        return WS__MORE;
    return ws__on_length(p);
}

static int ws__on_mask(struct ws_parser *p, uint8_t b)
{
    p->mask[4 - p->hdr_need] = b;
    if (--p->hdr_need > 0)
        return WS__MORE;
    if (!(p->opcode & 0x08) && p->opcode != WS_OP_CONT) {
        /* A new data message starts with this frame. */
        p->msg_opcode = p->opcode;
        p->msg_len = 0;
        ws_utf8_init(&p->utf8);
    }
    if (p->frame_len == 0)
        return WS__FRAME;
    p->state = WS__PS_PAYLOAD;
    return WS__MORE;
}

/* Copies n bytes from src to dst while removing the client's mask. offset is
 * the position of src[0] within the frame payload, which selects where in
 * the 4-byte key to start. The bulk goes 8 bytes at a time through memcpy,
 * which compiles to plain loads and stores at any alignment. */
static void ws__unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], uint64_t offset)
{
    uint8_t  key[8];
    uint64_t k, w;
    size_t   i = 0;

    for (int j = 0; j < 8; j++)
        key[j] = mask[(offset + (unsigned)j) & 3];
    memcpy(&k, key, 8);
    for (; n - i >= 8; i += 8) {
        memcpy(&w, src + i, 8);
        w ^= k;
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ key[i & 3];
}

/* Makes room for n more message bytes plus the trailing NUL. The buffer
 * doubles with the bytes that really arrive, never beyond max_message, and
 * for a final frame never beyond the message's known final size. */
static int ws__msg_reserve(struct ws_parser *p, size_t n)
{
    size_t   need = p->msg_len + n + 1;
    size_t   bound, cap;
    uint8_t *nb;

    if (need <= p->msg_cap)
        return 0;
    if (p->fin)
        bound = p->msg_len + (size_t)(p->frame_len - p->frame_got) + 1;
    else
        bound = p->max_message + 1;
    cap = p->msg_cap ? p->msg_cap : WS__MIN_CAP;
    while (cap < need)
        cap *= 2;
    if (cap > bound)
        cap = bound;
    nb = realloc(p->msg, cap);
    if (nb == NULL)
        return -1;
    p->msg = nb;
    p->msg_cap = cap;
    return 0;
}

static int ws__on_payload(struct ws_parser *p, const uint8_t *src, size_t avail, size_t *used)
{
    uint64_t left = p->frame_len - p->frame_got;
    size_t   n = avail < left ? avail : (size_t)left;
    uint8_t *dst;

    *used = 0;
    if (p->opcode & 0x08) {
        dst = p->ctl + p->frame_got;
        ws__unmask(dst, src, n, p->mask, p->frame_got);
    } else {
        if (ws__msg_reserve(p, n) < 0)
            return ws__fail(p, WS_CLOSE_INTERNAL, "out of memory");
        dst = p->msg + p->msg_len;
        ws__unmask(dst, src, n, p->mask, p->frame_got);
        /* Validating what just arrived, not the finished message, fails a bad
     * text message at its first bad byte even inside a huge frame. */
        if (p->msg_opcode == WS_OP_TEXT && !ws_utf8_feed(&p->utf8, dst, n))
            return ws__fail(p, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
        p->msg_len += n;
    }
    p->frame_got += n;
    *used = n;
    return p->frame_got == p->frame_len ? WS__FRAME : WS__MORE;
}

static int ws__control_done(struct ws_parser *p, struct ws_event *ev)
{
    size_t len = (size_t)p->frame_len;

    ev->data = p->ctl;
    ev->len = len;
    switch (p->opcode) {
    case WS_OP_PING: ev->type = WS_EV_PING; break;
    case WS_OP_PONG: ev->type = WS_EV_PONG; break;
    default: /* WS_OP_CLOSE; a 1-byte payload was refused by ws__on_length */
        if (len == 0) {
            ev->code = WS_CLOSE_NO_STATUS;
        } else {
            ev->code = (uint16_t)(p->ctl[0] << 8 | p->ctl[1]);
            if (!ws_close_code_valid(ev->code))
                return ws__fail(p, WS_CLOSE_PROTOCOL, "invalid close code");
            if (!ws_utf8_valid(p->ctl + 2, len - 2))
                return ws__fail(p, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in close reason");
            ev->data = p->ctl + 2;
            ev->len = len - 2;
        }
        ev->type = WS_EV_CLOSE;
        p->state = WS__PS_CLOSED;
        return WS__FRAME;
    }
    p->state = WS__PS_B0;
    return WS__FRAME;
}

/* The current frame is complete: report what it finished, if anything. */
static int ws__frame_done(struct ws_parser *p, struct ws_event *ev)
{
    if (p->opcode & 0x08)
        return ws__control_done(p, ev);
    p->state = WS__PS_B0;
    if (!p->fin)
        return WS__MORE;
    if (p->msg_opcode == WS_OP_TEXT && !ws_utf8_complete(&p->utf8))
        return ws__fail(p, WS_CLOSE_INVALID_DATA, "truncated UTF-8 in text message");
    ev->type = p->msg_opcode == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
    if (p->msg != NULL) {
        p->msg[p->msg_len] = '\0';
        ev->data = p->msg;
    } else {
        ev->data = ws__empty;
    }
    ev->len = p->msg_len;
    p->msg_opcode = 0;
    p->msg_delivered = true;
    return WS__FRAME;
}

ssize_t ws_parser_feed(struct ws_parser *p, const uint8_t *data, size_t len, struct ws_event *ev)
{
    size_t i = 0;
    int    rc;

    memset(ev, 0, sizeof *ev);
    ev->type = WS_EV_NONE;
    if (p->state == WS__PS_FAILED)
        return ws__error_event(p, ev);
    if (p->state == WS__PS_CLOSED)
        return len > SSIZE_MAX ? SSIZE_MAX : (ssize_t)len;
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    if (p->msg_delivered) {
        /* The caller is done with the last message (see lifetime rules). */
        p->msg_delivered = false;
        p->msg_len = 0;
        if (p->msg_cap > WS__KEEP_CAP) {
            free(p->msg);
            p->msg = NULL;
            p->msg_cap = 0;
        }
    }

    while (i < len) {
        size_t used;

        switch (p->state) {
        case WS__PS_B0: rc = ws__on_b0(p, data[i++]); break;
        case WS__PS_B1: rc = ws__on_b1(p, data[i++]); break;
        case WS__PS_EXTLEN: rc = ws__on_extlen(p, data[i++]); break;
        case WS__PS_MASK: rc = ws__on_mask(p, data[i++]); break;
        case WS__PS_PAYLOAD:
            rc = ws__on_payload(p, data + i, len - i, &used);
            i += used;
            break;
        default:
            /* CLOSED or FAILED are only entered together with an event, which
       * returns below before the loop comes back here. */
            rc = ws__fail(p, WS_CLOSE_INTERNAL, "parser state");
            break;
        }
        if (rc == WS__FRAME)
            rc = ws__frame_done(p, ev);
        if (rc == WS__FAIL)
            return ws__error_event(p, ev);
        if (ev->type != WS_EV_NONE)
            return (ssize_t)i;
    }
    return (ssize_t)i;
}

/* ---- encoder ------------------------------------------------------------ */

size_t ws_frame_header(uint8_t out[10], int opcode, bool fin, uint64_t payload_len)
{
    switch (opcode) {
    case WS_OP_CONT:
    case WS_OP_TEXT:
    case WS_OP_BINARY: break;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!fin || payload_len > WS_CONTROL_MAX)
            return 0;
        break;
    default: return 0;
    }
    if (payload_len >> 63)
        return 0;

    out[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}

uint8_t *ws_frame_build(int opcode, const void *payload, size_t len, size_t *out_len)
{
    uint8_t  hdr[10];
    size_t   hlen = ws_frame_header(hdr, opcode, true, len);
    uint8_t *buf;

    *out_len = 0;
    if (hlen == 0 || len > SIZE_MAX - hlen)
        return NULL;
    buf = malloc(hlen + len);
    if (buf == NULL)
        return NULL;
    memcpy(buf, hdr, hlen);
    if (len > 0)
        memcpy(buf + hlen, payload, len);
    *out_len = hlen + len;
    return buf;
}

uint8_t *ws_frame_build_close(uint16_t code, const char *reason, size_t reason_len, size_t *out_len)
{
    uint8_t payload[WS_CONTROL_MAX];

    if (code == 0 || code == WS_CLOSE_NO_STATUS)
        return ws_frame_build(WS_OP_CLOSE, NULL, 0, out_len);
    if (reason == NULL)
        reason_len = 0;
    if (reason_len > WS_CONTROL_MAX - 2) {
        /* Cut before a continuation byte so a multi-byte character is never
     * split: the peer must fail a close reason that is not UTF-8. */
        reason_len = WS_CONTROL_MAX - 2;
        while (reason_len > 0 && ((uint8_t)reason[reason_len] & 0xC0) == 0x80)
            reason_len--;
    }
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (reason_len > 0)
        memcpy(payload + 2, reason, reason_len);
    return ws_frame_build(WS_OP_CLOSE, payload, reason_len + 2, out_len);
}
