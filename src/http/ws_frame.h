/*
 * ws_frame — WebSocket (RFC 6455) codec for the server side, with no sockets.
 *
 * What it provides
 *   - ws_accept_key():  the Sec-WebSocket-Accept value of the opening handshake.
 *   - struct ws_parser: a streaming frame parser. The connection feeds it the
 *     bytes it reads, split however the kernel delivered them (byte by byte
 *     works), and gets back one event at a time: a complete, reassembled
 *     text or binary message, a ping, a pong, a close, or an error that
 *     carries the close code the server must send before dropping the socket.
 *   - ws_utf8_*:        a UTF-8 validator, whole-buffer or incremental, that
 *     the parser uses to fail a bad text message at the first bad byte.
 *   - ws_frame_*:       the server's frame encoder (server frames are never
 *     masked).
 *
 * Feeding contract (ws_parser_feed)
 *   Call it with the unread bytes; it consumes bytes until it has one event
 *   to report or the input is exhausted, and returns how many it consumed.
 *   The caller acts on the event and calls again with the remaining bytes:
 *
 *       while (len > 0) {
 *           ssize_t n = ws_parser_feed(&c->ws, buf, len, &ev);
 *           if (n < 0) { send_close(ev.code, ev.data, ev.len); drop; break; }
 *           buf += n; len -= (size_t)n;
 *           if (ev.type != WS_EV_NONE) handle(&ev);   // may stop the loop
 *       }
 *
 *   - n >= 0 and ev.type == WS_EV_NONE: every byte was consumed (n == len)
 *     and more input is needed.
 *   - n >= 0 and an event: n bytes (n >= 1) were consumed, ending with the
 *     last byte of the frame that produced the event; the rest is unread.
 *   - n == -1: ev.type == WS_EV_ERROR, ev.code is the close code to send
 *     (1002 protocol, 1007 bad UTF-8, 1009 too big, 1011 out of memory) and
 *     ev.data/ev.len a short static ASCII reason suitable for the close
 *     frame. The error is sticky: every later feed returns -1 again.
 *   - After a WS_EV_CLOSE the parser ignores all further input (the RFC says
 *     nothing may follow a close frame): feeds consume everything and return
 *     WS_EV_NONE.
 *
 * Ownership and lifetime
 *   - The caller owns the struct ws_parser (normally embedded in the
 *     connection); the parser owns its message buffer and frees it in
 *     ws_parser_free(). Init never allocates, so it cannot fail.
 *   - ev.data points into the parser (message buffer or its inline control
 *     buffer) or at static storage. It stays valid until the next call to
 *     ws_parser_feed() or ws_parser_free(); copy what you need to keep.
 *     Text and binary messages are followed by a NUL byte not counted in
 *     ev.len, so a text message can be used as a C string.
 *   - Control frames (ping/pong/close) may arrive between the fragments of a
 *     data message; they are reported as they complete and do not disturb
 *     the message being reassembled.
 *
 * Limits
 *   max_message bounds a reassembled data message (all its fragments). A
 *   frame whose declared length would exceed it fails with 1009 as soon as
 *   the length field is read, before any of its payload is buffered. The
 *   message buffer grows with the bytes that actually arrive, so a client
 *   that declares a large frame and then stalls does not make the server
 *   allocate for it. Control frames use a 125-byte inline buffer.
 *
 * No extensions are negotiated (no permessage-deflate), so any RSV bit fails
 * with 1002.
 */
#ifndef GSS_HTTP_WS_FRAME_H
#define GSS_HTTP_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t */

enum ws_opcode {
    WS_OP_CONT = 0,
    WS_OP_TEXT = 1,
    WS_OP_BINARY = 2,
    WS_OP_CLOSE = 8,
    WS_OP_PING = 9,
    WS_OP_PONG = 10,
};

/* Close codes (RFC 6455 §7.4.1). 1005 is never sent on the wire; the parser
 * reports it for a close frame without a status code. */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

/* Largest payload of a control frame (RFC 6455 §5.5). */
#define WS_CONTROL_MAX 125

/* ---- handshake ---------------------------------------------------------- */

/* Computes Sec-WebSocket-Accept for the Sec-WebSocket-Key header value
 * (client_key, len bytes, surrounding whitespace already removed). The key
 * must be 24 base64 characters that decode to 16 bytes. Writes a 28-char
 * NUL-terminated string to out. Returns 0, or -1 for an invalid key (out is
 * then the empty string). */
int ws_accept_key(const char *client_key, size_t len, char out[29]);

/* ---- UTF-8 -------------------------------------------------------------- */

/* Incremental validator state: feed a byte stream in pieces, split anywhere.
 * Rejects overlong forms, surrogates (U+D800..U+DFFF) and code points above
 * U+10FFFF, at the first byte that makes the sequence impossible. */
struct ws_utf8 {
    uint8_t need; /* continuation bytes still expected for the current char */
    uint8_t lo;   /* allowed range of the next continuation byte; it is */
    uint8_t hi;   /* narrower than 80..BF right after some lead bytes */
    bool    bad;  /* sticky: an invalid byte was seen */
};

void ws_utf8_init(struct ws_utf8 *u);
/* Validates the next n bytes. Returns false as soon as they cannot be part
 * of valid UTF-8 (and on every later call). */
bool ws_utf8_feed(struct ws_utf8 *u, const uint8_t *s, size_t n);
/* True when everything fed so far is valid and ends on a character
 * boundary, i.e. the stream could end here. */
bool ws_utf8_complete(const struct ws_utf8 *u);
/* Whole-buffer check. */
bool ws_utf8_valid(const uint8_t *s, size_t n);

/* ---- parser ------------------------------------------------------------- */

enum ws_event_type {
    WS_EV_NONE = 0, /* nothing yet, feed more bytes */
    WS_EV_TEXT,     /* data/len: a complete text message, valid UTF-8 */
    WS_EV_BINARY,   /* data/len: a complete binary message */
    WS_EV_PING,     /* data/len: ping payload (<= 125), echo it in a pong */
    WS_EV_PONG,     /* data/len: pong payload */
    WS_EV_CLOSE,    /* code: peer's code (1005 if none); data/len: reason */
    WS_EV_ERROR,    /* code: close code to send; data/len: static reason */
};

struct ws_event {
    enum ws_event_type type;
    uint16_t           code; /* WS_EV_CLOSE and WS_EV_ERROR only, else 0 */
    const uint8_t     *data; /* never NULL when type != WS_EV_NONE; see lifetime */
    size_t             len;  /* bytes at data */
};

/* Parser state. The fields are private to ws_frame.c; the struct is public
 * only so that callers can embed it in their connection. */
struct ws_parser {
    size_t max_message; /* bytes; bound on a reassembled data message */

    /* Frame being read. The header is decoded one byte at a time so that any
   * split of the input behaves the same. */
    uint8_t  state;     /* enum ws__pstate in ws_frame.c */
    uint8_t  opcode;    /* of the current frame */
    bool     fin;       /* of the current frame */
    uint8_t  hdr_need;  /* extended-length or mask bytes still missing */
    uint8_t  mask[4];   /* client masking key of the current frame */
    uint64_t frame_len; /* declared payload length of the current frame */
    uint64_t frame_got; /* payload bytes of it consumed so far */

    /* Data message being reassembled across frames. msg is heap memory owned
   * by the parser, msg_cap bytes, NULL until the first payload byte. */
    uint8_t       *msg;
    size_t         msg_len;       /* bytes of the message received so far */
    size_t         msg_cap;       /* allocated bytes (room for a trailing NUL) */
    uint8_t        msg_opcode;    /* WS_OP_TEXT/BINARY while a message is open, else 0 */
    bool           msg_delivered; /* msg was handed out; emptied on the next feed */
    struct ws_utf8 utf8;          /* validator state of an open text message */

    /* Payload of the current control frame, unmasked in place. It has its own
   * buffer so a ping between fragments leaves msg untouched. */
    uint8_t ctl[WS_CONTROL_MAX];

    /* Set once the parser failed (sticky error event). */
    uint16_t    err_code;
    const char *err_reason;
};

/* Prepares p to parse a new connection's frames. max_message is the largest
 * data message accepted (bytes, after reassembly). Does not allocate. */
void ws_parser_init(struct ws_parser *p, size_t max_message);
/* Frees the message buffer. p may be re-initialised afterwards. */
void ws_parser_free(struct ws_parser *p);
/* Consumes input; see "Feeding contract" above. ev is always written. */
ssize_t ws_parser_feed(struct ws_parser *p, const uint8_t *data, size_t len, struct ws_event *ev);

/* True for codes a peer may send in a close frame (RFC 6455 §7.4): 1000-1003,
 * 1007-1014, 3000-4999. */
bool ws_close_code_valid(unsigned code);

/* ---- encoder (server to client, never masked) --------------------------- */

/* Writes the frame header for a payload of payload_len bytes into out and
 * returns its size (2, 4 or 10). Returns 0 for arguments no valid frame has:
 * an unknown opcode, a control frame that is fragmented or longer than 125
 * bytes, or a length with its top bit set. */
size_t ws_frame_header(uint8_t out[10], int opcode, bool fin, uint64_t payload_len);

/* Builds one complete (FIN) frame, header and payload in a single malloc'd
 * buffer of *out_len bytes that the caller frees. payload may be NULL when
 * len is 0. Returns NULL on invalid arguments (as for ws_frame_header) or
 * out of memory. */
uint8_t *ws_frame_build(int opcode, const void *payload, size_t len, size_t *out_len);

/* Builds a close frame with code and reason, as ws_frame_build. A code of 0
 * or 1005 gives a close frame with no payload. The reason is cut to the 123
 * bytes that fit, at a UTF-8 character boundary. */
uint8_t *ws_frame_build_close(uint16_t code, const char *reason, size_t reason_len, size_t *out_len);

#endif /* GSS_HTTP_WS_FRAME_H */
