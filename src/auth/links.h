/*
 * links: the customer's public link tokens (docs/money.md, "Public links").
 *
 * What it provides:
 *   - the link key (GSS_LINK_KEY: hex, at least 32 bytes), or a random key
 *     for this process when none is configured;
 *   - token derivation: a token is
 *         base64url(HMAC-SHA256(key, "gss-link-v1:" kind ":" nonce)[0..24))
 *     where kind is "invoice" or "rating" and nonce is the link's 16 raw
 *     bytes (public_links.nonce). 24 bytes are 192 bits: 32 base64url
 *     characters, no padding. The same key and nonce always give the same
 *     token, which is how a resend sends "the same links" without the
 *     tokens ever being stored, and how the outbox sender (which holds
 *     only link ids) builds the URLs;
 *   - the stored form of a token: SHA-256 of its 32 characters
 *     (public_links.token_hash), so a copy of the database opens nothing;
 *   - a syntax check for tokens that arrive in URLs, so that anything that
 *     cannot be a token is refused without a database lookup;
 *   - fresh nonces (getrandom(2), through core/crypto).
 *
 * Secrets: the key never leaves struct links (there is no getter) and is
 * wiped by links_wipe. Tokens are bearer credentials: callers must never
 * log them (the access log redacts them, http/server.c). Comparisons of a
 * derived hash against a stored one are constant-time (links_hash_eq).
 *
 * Memory: struct links is plain data the caller owns (embedded or
 * malloc'd); nothing here allocates. Errors: documented per function.
 * Threads: every function is safe from any thread; a struct links is only
 * read after links_init.
 */
#ifndef GSS_AUTH_LINKS_H
#define GSS_AUTH_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINKS_KEY_MIN     32  /* bytes (64 hex characters) */
#define LINKS_KEY_MAX     128 /* bytes; longer keys add nothing to HMAC-SHA256 */
#define LINKS_NONCE_LEN   16
#define LINKS_TOKEN_BYTES 24
#define LINKS_TOKEN_LEN   32 /* base64url characters of LINKS_TOKEN_BYTES */
#define LINKS_TOKEN_SIZE  (LINKS_TOKEN_LEN + 1)
#define LINKS_HASH_LEN    32 /* SHA-256 */

enum links_kind { LINKS_INVOICE, LINKS_RATING, LINKS_KIND_COUNT };

struct links {
    uint8_t key[LINKS_KEY_MAX];
    size_t  key_len;
    bool    ephemeral; /* made up by this process: links die with it */
};

/* Sets the key from hex (either case, an even number of characters, at
 * least 2 * LINKS_KEY_MIN of them). hex NULL or "": a random key of
 * LINKS_KEY_MIN bytes, l->ephemeral set, and 1 is returned so that the
 * caller can warn (tokens then change on every restart and differ between
 * processes). Returns 0 with a configured key, 1 with a random one, or -1
 * with err filled (malformed or too short a key, or no randomness); l is
 * then wiped. */
int links_init(struct links *l, const char *hex, char *err, size_t errlen);

/* Zeroes the key (for teardown). */
void links_wipe(struct links *l);

/* "invoice", "rating"; NULL when out of range. */
const char *links_kind_name(enum links_kind k);
/* The kind of a name, or -1. */
int links_kind_parse(const char *name);

/* A fresh random nonce. 0, or -1 if the kernel gave no randomness. */
int links_nonce(uint8_t nonce[LINKS_NONCE_LEN]);

/* The token of (kind, nonce) under l's key: LINKS_TOKEN_LEN characters and
 * a NUL. Returns 0, or -1 for a kind out of range (out is then ""). */
int links_token(const struct links *l, enum links_kind kind, const uint8_t nonce[LINKS_NONCE_LEN],
                char out[LINKS_TOKEN_SIZE]);

/* True when s[0..n) could be a token: exactly LINKS_TOKEN_LEN characters
 * of the base64url alphabet. Says nothing about whether it is one. */
bool links_token_syntax(const char *s, size_t n);

/* The stored form: SHA-256 of the token's n characters. */
void links_token_hash(const char *token, size_t n, uint8_t out[LINKS_HASH_LEN]);

/* Constant-time equality of two hashes. */
bool links_hash_eq(const uint8_t a[LINKS_HASH_LEN], const uint8_t b[LINKS_HASH_LEN]);

/* The hash the token of (kind, nonce) would have: links_token then
 * links_token_hash, with the token wiped afterwards. Returns 0 or -1 as
 * links_token. */
int links_expected_hash(const struct links *l, enum links_kind kind, const uint8_t nonce[LINKS_NONCE_LEN],
                        uint8_t out[LINKS_HASH_LEN]);

#endif
