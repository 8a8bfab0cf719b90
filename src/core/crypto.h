/*
 * crypto.h — small, allocation-free crypto helpers for gssd.
 *
 * What it provides:
 *   - random bytes from the kernel (getrandom(2)),
 *   - SHA-256, SHA-1 and HMAC-SHA256 (mbedTLS 3.6 mbedcrypto),
 *   - hex and base64 (standard with padding, and base64url without padding)
 *     codecs with explicit output capacities,
 *   - a constant-time equality test,
 *   - session tokens: 256 random bits as base64url, and the hex SHA-256 of a
 *     token, which is the only form that sessions ever store (DESIGN.md §3),
 *     so a leaked Redis dump does not hand out live sessions.
 *
 * Ownership: every function writes into caller-provided buffers; nothing here
 * allocates, keeps state or blocks (except crypto_random before the kernel's
 * pool is first initialised, which never happens after boot).
 * All functions are thread-safe, so they may run in the libuv threadpool.
 *
 * Errors: functions returning int give -1 on error (bad input, too little
 * room) and otherwise 0 or a length, as documented on each. The digest
 * functions cannot fail with valid arguments; a failure inside mbedTLS would
 * mean a broken build, and they abort() rather than hand back a digest that
 * is not one (an all-zero HMAC that a caller compares against is a forgery
 * waiting to happen).
 */
#ifndef GSS_CORE_CRYPTO_H
#define GSS_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_SHA1_LEN   20

/* Session tokens: 32 random bytes -> 43 base64url characters, plus NUL. */
#define CRYPTO_TOKEN_BYTES 32
#define CRYPTO_TOKEN_LEN   43
#define CRYPTO_TOKEN_SIZE  (CRYPTO_TOKEN_LEN + 1)
/* Hex of a SHA-256: 64 characters plus NUL. */
#define CRYPTO_TOKEN_HASH_SIZE (2 * CRYPTO_SHA256_LEN + 1)

/* Encoded lengths, without the NUL that the encoders also write. */
#define CRYPTO_B64_ENCODED_LEN(n)    ((((size_t)(n) + 2) / 3) * 4)
#define CRYPTO_B64URL_ENCODED_LEN(n) (((size_t)(n)*4 + 2) / 3)
/* An upper bound on the decoded size of n base64 characters of either kind. */
#define CRYPTO_B64_DECODED_MAX(n) (((size_t)(n) / 4) * 3 + 2)

/* Fill buf with n bytes from getrandom(2), retrying on EINTR and short
 * reads. Returns 0, or -1 (errno set) if the kernel refuses. */
int crypto_random(void *buf, size_t n);

void crypto_sha256(const void *data, size_t n, uint8_t out[CRYPTO_SHA256_LEN]);
/* SHA-1 is here only for protocols that mandate it (the WebSocket handshake's
 * Sec-WebSocket-Accept); never use it for anything that must resist forgery. */
/* Incremental SHA-256 (uploads are hashed while they stream). */
struct crypto_sha256_ctx {
    void *impl; /* owned: mbedtls_sha256_context */
};
void crypto_sha256_begin(struct crypto_sha256_ctx *c);
void crypto_sha256_update(struct crypto_sha256_ctx *c, const void *data, size_t n);
/* Writes the digest and frees the context; also fine to call just to free. */
void crypto_sha256_end(struct crypto_sha256_ctx *c, uint8_t out[CRYPTO_SHA256_LEN]);

void crypto_sha1(const void *data, size_t n, uint8_t out[CRYPTO_SHA1_LEN]);
void crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t n, uint8_t out[CRYPTO_SHA256_LEN]);

/* Lowercase hex of n bytes into out, which must hold 2n+1 bytes; always
 * NUL-terminated. */
void crypto_hex(const uint8_t *in, size_t n, char *out);
/* Decode n hex characters (either case; n must be even) into out, which must
 * hold n/2 bytes. Returns the number of bytes written (n/2), or -1 on an odd
 * length or a non-hex character (out may then be partly written). */
int crypto_unhex(const char *in, size_t n, uint8_t *out);

/*
 * Base64. The encoders write the text and a NUL, and need
 * cap >= CRYPTO_B64[URL]_ENCODED_LEN(n) + 1; they return the text length
 * (without the NUL), or -1 if cap is too small (out is then "" if cap > 0).
 *
 * The decoders take n characters (no NUL needed), write at most cap bytes,
 * and return the decoded length, or -1 on a character outside the alphabet,
 * a malformed length, bad padding, non-zero unused trailing bits, or too
 * small a cap. Being strict means every byte string has exactly one accepted
 * encoding, so encoded values can be compared as strings.
 *
 *   crypto_b64_*     RFC 4648 §4 alphabet (+ /), padded with '=' to a
 *                    multiple of 4; the decoder requires that padding.
 *   crypto_b64url_*  RFC 4648 §5 alphabet (- _), never padded; the decoder
 *                    rejects '='.
 */
int crypto_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
int crypto_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);
int crypto_b64url_encode(const uint8_t *in, size_t n, char *out, size_t cap);
int crypto_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* true if the n bytes at a and b are equal. Its time depends only on n, never
 * on the contents, so comparing a secret against attacker input leaks
 * nothing about where they differ. */
bool crypto_eq(const void *a, const void *b, size_t n);

/* A fresh session token: CRYPTO_TOKEN_BYTES random bytes as base64url without
 * padding, CRYPTO_TOKEN_LEN characters and a NUL. Returns 0, or -1 if no
 * randomness could be had (out is then ""). */
int crypto_token(char out[CRYPTO_TOKEN_SIZE]);

/* hex(sha256(token[0..len))) into out: 64 lowercase hex characters and a NUL.
 * This is the key under which a session is stored (gss:sess:<token-hash>). */
void crypto_token_hash(const char *token, size_t len, char out[CRYPTO_TOKEN_HASH_SIZE]);

#endif /* GSS_CORE_CRYPTO_H */
