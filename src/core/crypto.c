/*
 * crypto.c — see crypto.h for the contract.
 *
 * Digests come from mbedcrypto's one-shot functions, which keep no global
 * state and need no psa_crypto_init() for the legacy SHA/HMAC code, so they
 * are safe from any thread. The codecs are our own: mbedTLS has no base64url
 * and its hex helpers are internal.
 */
#include "core/crypto.h"

#include "core/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>

int crypto_random(void *buf, size_t n)
{
    uint8_t *p = buf;

    /* getrandom() returns at most 32 MiB - 1 per call and may be cut short
     * by a signal once more than 256 bytes are asked for, so keep going. */
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

void crypto_sha256(const void *data, size_t n, uint8_t out[CRYPTO_SHA256_LEN])
{
    if (mbedtls_sha256(data, n, out, 0) != 0)
        abort(); /* cannot happen with the software implementation */
}

void crypto_sha256_begin(struct crypto_sha256_ctx *c)
{
    mbedtls_sha256_context *m = xmalloc(sizeof(*m));
    mbedtls_sha256_init(m);
    if (mbedtls_sha256_starts(m, 0) != 0)
        abort();
    c->impl = m;
}

void crypto_sha256_update(struct crypto_sha256_ctx *c, const void *data, size_t n)
{
    if (c->impl && n && mbedtls_sha256_update(c->impl, data, n) != 0)
        abort();
}

void crypto_sha256_end(struct crypto_sha256_ctx *c, uint8_t out[CRYPTO_SHA256_LEN])
{
    if (!c->impl)
        return;
    if (out && mbedtls_sha256_finish(c->impl, out) != 0)
        abort();
    mbedtls_sha256_free(c->impl);
    free(c->impl);
    c->impl = NULL;
}

void crypto_sha1(const void *data, size_t n, uint8_t out[CRYPTO_SHA1_LEN])
{
    if (mbedtls_sha1(data, n, out) != 0)
        abort();
}

void crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t n, uint8_t out[CRYPTO_SHA256_LEN])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

    /* A missing SHA-256 or a failing HMAC means mbedcrypto was built without
     * what DESIGN.md requires; stop rather than return a fake MAC. */
    if (md == NULL || mbedtls_md_hmac(md, key, klen, data, n, out) != 0)
        abort();
}

void crypto_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int crypto_unhex(const char *in, size_t n, uint8_t *out)
{
    /* The return type caps what we can report; 1 GiB of hex is no input. */
    if (n % 2 != 0 || n / 2 > (size_t)INT32_MAX)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_val((unsigned char)in[2 * i]);
        int lo = hex_val((unsigned char)in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(n / 2);
}

/* ---- base64 ------------------------------------------------------------ */

static const char b64_std_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* One encoder for both alphabets; pad says whether to fill the last group
 * with '='. */
static int b64_encode(const char *alpha, bool pad, const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t need = pad ? CRYPTO_B64_ENCODED_LEN(n) : CRYPTO_B64URL_ENCODED_LEN(n);
    size_t i = 0, o = 0;

    if (n > (size_t)INT32_MAX / 2 || cap < need + 1) {
        if (cap > 0)
            out[0] = '\0';
        return -1;
    }
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return (int)o;
}

/* Value of one base64 character in the given alphabet, or -1. Not constant
 * time: nothing we decode is a secret whose bits an attacker could time. */
static int b64_val(unsigned char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static int b64_decode(bool url, const char *in, size_t n, uint8_t *out, size_t cap)
{
    size_t len = n, i, o = 0, out_len;
    int    v[4];

    if (n > (size_t)INT32_MAX)
        return -1;
    if (!url) {
        /* Padded form: whole groups of four, at most two '=' at the end. */
        if (n % 4 != 0)
            return -1;
        if (len > 0 && in[len - 1] == '=')
            len--;
        if (len > 0 && in[len - 1] == '=')
            len--;
    }
    /* One leftover character cannot carry a whole byte. */
    if (len % 4 == 1)
        return -1;
    out_len = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
    if (out_len > cap)
        return -1;

    for (i = 0; i + 4 <= len; i += 4) {
        for (int k = 0; k < 4; k++)
            if ((v[k] = b64_val((unsigned char)in[i + k], url)) < 0)
                return -1;
        out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
        out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
        out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
    }
    if (len - i >= 2) {
        size_t rest = len - i;
        for (size_t k = 0; k < rest; k++)
            if ((v[k] = b64_val((unsigned char)in[i + k], url)) < 0)
                return -1;
        out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
        if (rest == 2) {
            /* The low 4 bits of the second character are unused and must be
             * zero, or two strings would decode to the same bytes. */
            if ((v[1] & 15) != 0)
                return -1;
        } else {
            out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
            if ((v[2] & 3) != 0)
                return -1;
        }
    }
    return (int)o;
}

int crypto_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    return b64_encode(b64_std_alpha, true, in, n, out, cap);
}

int crypto_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    return b64_decode(false, in, n, out, cap);
}

int crypto_b64url_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    return b64_encode(b64_url_alpha, false, in, n, out, cap);
}

int crypto_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    return b64_decode(true, in, n, out, cap);
}

/* ---- comparison and tokens -------------------------------------------- */

bool crypto_eq(const void *a, const void *b, size_t n)
{
    /* volatile keeps the compiler from turning the loop into an early-exit
     * memcmp; OR-ing the differences touches every byte whatever they are. */
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t                 diff = 0;

    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

int crypto_token(char out[CRYPTO_TOKEN_SIZE])
{
    uint8_t raw[CRYPTO_TOKEN_BYTES];
    int     rc = -1;

    out[0] = '\0';
    if (crypto_random(raw, sizeof raw) != 0)
        goto fail;
    if (crypto_b64url_encode(raw, sizeof raw, out, CRYPTO_TOKEN_SIZE) != CRYPTO_TOKEN_LEN)
        goto fail;
    rc = 0;
fail:
    /* The raw bytes are the token; leave no copy on the stack. */
    mbedtls_platform_zeroize(raw, sizeof raw);
    return rc;
}

void crypto_token_hash(const char *token, size_t len, char out[CRYPTO_TOKEN_HASH_SIZE])
{
    uint8_t digest[CRYPTO_SHA256_LEN];

    crypto_sha256(token, len, digest);
    crypto_hex(digest, sizeof digest, out);
}
