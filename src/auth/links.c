/*
 * links.c — see links.h for the contract.
 *
 * The digests and codecs are core/crypto's (mbedTLS underneath); this file
 * only fixes the format: the message that is MACed, the cut to 24 bytes,
 * and what a token looks like in a URL.
 */
#include "auth/links.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "core/crypto.h"

/* The domain-separation prefix: a MAC made for a link can never be taken
 * for a MAC of anything else this key might one day sign, and a v2 format
 * can change it. */
#define LINKS_MSG_PREFIX "gss-link-v1:"

static const char *const kind_names[LINKS_KIND_COUNT] = {"invoice", "rating"};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

int links_init(struct links *l, const char *hex, char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    if (!hex || !hex[0]) {
        if (crypto_random(l->key, LINKS_KEY_MIN) < 0) {
            links_wipe(l);
            set_err(err, errlen, "GSS_LINK_KEY: no randomness for a process key");
            return -1;
        }
        l->key_len = LINKS_KEY_MIN;
        l->ephemeral = true;
        return 1;
    }
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 < LINKS_KEY_MIN || n / 2 > LINKS_KEY_MAX) {
        set_err(err, errlen, "GSS_LINK_KEY: 64 to 256 hex characters (32 to 128 bytes) are required");
        return -1;
    }
    if (crypto_unhex(hex, n, l->key) != (int)(n / 2)) {
        links_wipe(l);
        set_err(err, errlen, "GSS_LINK_KEY: not hex");
        return -1;
    }
    l->key_len = n / 2;
    return 0;
}

void links_wipe(struct links *l)
{
    mbedtls_platform_zeroize(l, sizeof(*l));
}

const char *links_kind_name(enum links_kind k)
{
    return (unsigned)k < LINKS_KIND_COUNT ? kind_names[k] : NULL;
}

int links_kind_parse(const char *name)
{
    if (!name)
        return -1;
    for (int k = 0; k < LINKS_KIND_COUNT; k++)
        if (strcmp(kind_names[k], name) == 0)
            return k;
    return -1;
}

int links_nonce(uint8_t nonce[LINKS_NONCE_LEN])
{
    return crypto_random(nonce, LINKS_NONCE_LEN);
}

int links_token(const struct links *l, enum links_kind kind, const uint8_t nonce[LINKS_NONCE_LEN],
                char out[LINKS_TOKEN_SIZE])
{
    const char *name = links_kind_name(kind);
    out[0] = '\0';
    if (!name || l->key_len == 0)
        return -1;
    /* "gss-link-v1:" kind ":" then the nonce's raw bytes */
    uint8_t msg[sizeof(LINKS_MSG_PREFIX) + 16 + LINKS_NONCE_LEN];
    size_t  pl = sizeof(LINKS_MSG_PREFIX) - 1, nl = strlen(name), m = 0;
    memcpy(msg, LINKS_MSG_PREFIX, pl);
    m += pl;
    memcpy(msg + m, name, nl);
    m += nl;
    msg[m++] = ':';
    memcpy(msg + m, nonce, LINKS_NONCE_LEN);
    m += LINKS_NONCE_LEN;

    uint8_t mac[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256(l->key, l->key_len, msg, m, mac);
    int rc = crypto_b64url_encode(mac, LINKS_TOKEN_BYTES, out, LINKS_TOKEN_SIZE);
    mbedtls_platform_zeroize(mac, sizeof(mac));
    return rc == LINKS_TOKEN_LEN ? 0 : -1;
}

bool links_token_syntax(const char *s, size_t n)
{
    if (!s || n != LINKS_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

void links_token_hash(const char *token, size_t n, uint8_t out[LINKS_HASH_LEN])
{
    crypto_sha256(token, n, out);
}

bool links_hash_eq(const uint8_t a[LINKS_HASH_LEN], const uint8_t b[LINKS_HASH_LEN])
{
    return crypto_eq(a, b, LINKS_HASH_LEN);
}

int links_expected_hash(const struct links *l, enum links_kind kind, const uint8_t nonce[LINKS_NONCE_LEN],
                        uint8_t out[LINKS_HASH_LEN])
{
    char tok[LINKS_TOKEN_SIZE];
    if (links_token(l, kind, nonce, tok) < 0)
        return -1;
    links_token_hash(tok, LINKS_TOKEN_LEN, out);
    mbedtls_platform_zeroize(tok, sizeof(tok));
    return 0;
}
