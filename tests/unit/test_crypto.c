/*
 * Unit tests for core/crypto: known-answer vectors for the digests and
 * codecs, rejection of bad input, and the token helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"

/* Hex of a digest, for comparing against published vectors. */
static void hexof(const uint8_t *d, size_t n, char *out)
{
    crypto_hex(d, n, out);
}

static void test_sha256_kat(void **state)
{
    (void)state;
    uint8_t d[CRYPTO_SHA256_LEN];
    char    hex[2 * CRYPTO_SHA256_LEN + 1];

    /* FIPS 180-2 appendix B.1 and B.2. */
    crypto_sha256("abc", 3, d);
    hexof(d, sizeof d, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    crypto_sha256(m2, strlen(m2), d);
    hexof(d, sizeof d, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    crypto_sha256("", 0, d);
    hexof(d, sizeof d, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha1_kat(void **state)
{
    (void)state;
    uint8_t d[CRYPTO_SHA1_LEN];
    char    hex[2 * CRYPTO_SHA1_LEN + 1];

    crypto_sha1("abc", 3, d);
    hexof(d, sizeof d, hex);
    assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

/* RFC 6455 §1.3: the handshake example, SHA-1 then standard base64 — the one
 * use gssd has for SHA-1. */
static void test_websocket_accept_kat(void **state)
{
    (void)state;
    const char *in = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t     d[CRYPTO_SHA1_LEN];
    char        b64[CRYPTO_B64_ENCODED_LEN(CRYPTO_SHA1_LEN) + 1];

    crypto_sha1(in, strlen(in), d);
    assert_int_equal(crypto_b64_encode(d, sizeof d, b64, sizeof b64), 28);
    assert_string_equal(b64, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_hmac_sha256_kat(void **state)
{
    (void)state;
    uint8_t d[CRYPTO_SHA256_LEN];
    char    hex[2 * CRYPTO_SHA256_LEN + 1];

    /* RFC 4231 test case 2. */
    const char *data = "what do ya want for nothing?";
    crypto_hmac_sha256("Jefe", 4, data, strlen(data), d);
    hexof(d, sizeof d, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    /* RFC 4231 test case 6: a key longer than the block size is hashed first. */
    uint8_t key[131];
    memset(key, 0xaa, sizeof key);
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    crypto_hmac_sha256(key, sizeof key, d6, strlen(d6), d);
    hexof(d, sizeof d, hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_hex_round_trip(void **state)
{
    (void)state;
    uint8_t in[256], back[256];
    char    hex[2 * sizeof in + 1];

    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)i;
    crypto_hex(in, sizeof in, hex);
    assert_int_equal(strlen(hex), 2 * sizeof in);
    assert_memory_equal(hex, "000102030405", 12);
    assert_string_equal(hex + 2 * 250, "fafbfcfdfeff");
    assert_int_equal(crypto_unhex(hex, strlen(hex), back), (int)sizeof in);
    assert_memory_equal(in, back, sizeof in);

    /* Uppercase is accepted on input. */
    uint8_t b[2];
    assert_int_equal(crypto_unhex("ABcd", 4, b), 2);
    assert_int_equal(b[0], 0xab);
    assert_int_equal(b[1], 0xcd);

    /* Empty in, empty out. */
    char empty[1];
    crypto_hex(in, 0, empty);
    assert_string_equal(empty, "");
    assert_int_equal(crypto_unhex("", 0, b), 0);
}

static void test_hex_bad(void **state)
{
    (void)state;
    uint8_t b[8];

    assert_int_equal(crypto_unhex("abc", 3, b), -1); /* odd length */
    assert_int_equal(crypto_unhex("zz", 2, b), -1);  /* not hex */
    assert_int_equal(crypto_unhex("0g", 2, b), -1);
    assert_int_equal(crypto_unhex("00 1", 4, b), -1); /* space */
    assert_int_equal(crypto_unhex("0\0", 2, b), -1);  /* NUL inside n */
    assert_int_equal(crypto_unhex("-1", 2, b), -1);
}

/* RFC 4648 §10 vectors, in both alphabets. */
static const struct {
    const char *plain, *b64, *b64url;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_b64_rfc4648(void **state)
{
    (void)state;
    char    enc[32];
    uint8_t dec[32];

    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        const uint8_t *p = (const uint8_t *)rfc4648[i].plain;
        size_t         n = strlen(rfc4648[i].plain);

        assert_int_equal(crypto_b64_encode(p, n, enc, sizeof enc), strlen(rfc4648[i].b64));
        assert_string_equal(enc, rfc4648[i].b64);
        assert_int_equal(CRYPTO_B64_ENCODED_LEN(n), strlen(rfc4648[i].b64));
        assert_int_equal(crypto_b64_decode(enc, strlen(enc), dec, sizeof dec), n);
        assert_memory_equal(dec, p, n);

        assert_int_equal(crypto_b64url_encode(p, n, enc, sizeof enc), strlen(rfc4648[i].b64url));
        assert_string_equal(enc, rfc4648[i].b64url);
        assert_int_equal(CRYPTO_B64URL_ENCODED_LEN(n), strlen(rfc4648[i].b64url));
        assert_int_equal(crypto_b64url_decode(enc, strlen(enc), dec, sizeof dec), n);
        assert_memory_equal(dec, p, n);
    }
}

/* The two alphabets differ only in characters 62 and 63. */
static void test_b64_alphabets(void **state)
{
    (void)state;
    const uint8_t in[] = {0xfb, 0xff, 0xbf};
    char          enc[8];
    uint8_t       dec[8];

    assert_int_equal(crypto_b64_encode(in, 3, enc, sizeof enc), 4);
    assert_string_equal(enc, "+/+/");
    assert_int_equal(crypto_b64url_encode(in, 3, enc, sizeof enc), 4);
    assert_string_equal(enc, "-_-_");
    assert_int_equal(crypto_b64url_decode("-_-_", 4, dec, sizeof dec), 3);
    assert_memory_equal(dec, in, 3);
    assert_int_equal(crypto_b64_decode("+/+/", 4, dec, sizeof dec), 3);
    assert_memory_equal(dec, in, 3);

    /* Each rejects the other's specials. */
    assert_int_equal(crypto_b64url_decode("+/+/", 4, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64_decode("-_-_", 4, dec, sizeof dec), -1);

    /* Round trip of every byte value. */
    uint8_t all[256], back[256];
    char    big[CRYPTO_B64_ENCODED_LEN(256) + 1];
    for (size_t i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    int n = crypto_b64url_encode(all, sizeof all, big, sizeof big);
    assert_int_equal(n, CRYPTO_B64URL_ENCODED_LEN(256));
    assert_int_equal(crypto_b64url_decode(big, (size_t)n, back, sizeof back), 256);
    assert_memory_equal(all, back, 256);
    n = crypto_b64_encode(all, sizeof all, big, sizeof big);
    assert_int_equal(n, CRYPTO_B64_ENCODED_LEN(256));
    assert_int_equal(crypto_b64_decode(big, (size_t)n, back, sizeof back), 256);
    assert_memory_equal(all, back, 256);
}

static void test_b64_reject(void **state)
{
    (void)state;
    uint8_t dec[16];

    /* url: no padding, no foreign characters, no impossible length. */
    assert_int_equal(crypto_b64url_decode("Zg==", 4, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64url_decode("Zm9v!", 5, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64url_decode("Zm9vY", 5, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64url_decode("Zm 9v", 5, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64url_decode("Zm\n9v", 5, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64url_decode("Zm9\0", 4, dec, sizeof dec), -1);
    /* Non-zero unused bits: "Zh" would also mean "f". */
    assert_int_equal(crypto_b64url_decode("Zh", 2, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64url_decode("Zm9", 3, dec, sizeof dec), -1);

    /* std: padding required and only at the end. */
    assert_int_equal(crypto_b64_decode("Zg", 2, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64_decode("Zg=", 3, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64_decode("Z===", 4, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64_decode("Zg=A", 4, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64_decode("Zg==Zg==", 8, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64_decode("====", 4, dec, sizeof dec), -1);
    assert_int_equal(crypto_b64_decode("Zh==", 4, dec, sizeof dec), -1);
}

static void test_b64_capacity(void **state)
{
    (void)state;
    const uint8_t in[] = "foobar";
    char          enc[9];
    uint8_t       dec[6];

    /* Encoding "foobar" needs 8 characters and a NUL. */
    assert_int_equal(crypto_b64_encode(in, 6, enc, 8), -1);
    assert_string_equal(enc, "");
    assert_int_equal(crypto_b64_encode(in, 6, enc, 9), 8);
    assert_int_equal(crypto_b64url_encode(in, 5, enc, 7), -1);
    assert_int_equal(crypto_b64url_encode(in, 5, enc, 8), 7);
    assert_int_equal(crypto_b64url_encode(in, 0, enc, 0), -1);
    assert_int_equal(crypto_b64url_encode(in, 0, enc, 1), 0);

    /* Decoding stops at cap. */
    assert_int_equal(crypto_b64_decode("Zm9vYmFy", 8, dec, 5), -1);
    assert_int_equal(crypto_b64_decode("Zm9vYmFy", 8, dec, 6), 6);
    assert_int_equal(crypto_b64url_decode("Zm9vYmE", 7, dec, 4), -1);
    assert_int_equal(crypto_b64url_decode("Zm9vYmE", 7, dec, 5), 5);
    assert_true(CRYPTO_B64_DECODED_MAX(7) >= 5);
    assert_true(CRYPTO_B64_DECODED_MAX(8) >= 6);
}

static void test_eq(void **state)
{
    (void)state;
    uint8_t a[64], b[64];

    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(crypto_eq(a, b, sizeof a));
    assert_true(crypto_eq(a, b, 0));
    b[63] ^= 0x01;
    assert_false(crypto_eq(a, b, sizeof a));
    assert_true(crypto_eq(a, b, 63));
    b[63] = a[63];
    b[0] ^= 0x80;
    assert_false(crypto_eq(a, b, sizeof a));
}

static void test_random(void **state)
{
    (void)state;
    /* Larger than 256 bytes, so getrandom may return short and we loop. */
    enum { N = 70000 };
    uint8_t *a = calloc(1, N), *b = calloc(1, N);
    assert_non_null(a);
    assert_non_null(b);

    assert_int_equal(crypto_random(a, N), 0);
    assert_int_equal(crypto_random(b, N), 0);
    assert_false(crypto_eq(a, b, N));
    /* Every byte value should appear in 70 kB of random data. */
    int seen[256] = {0};
    for (size_t i = 0; i < N; i++)
        seen[a[i]] = 1;
    for (int v = 0; v < 256; v++)
        assert_int_equal(seen[v], 1);
    assert_int_equal(crypto_random(a, 0), 0);
    free(a);
    free(b);
}

static void test_token(void **state)
{
    (void)state;
    char    t1[CRYPTO_TOKEN_SIZE], t2[CRYPTO_TOKEN_SIZE];
    uint8_t raw[CRYPTO_TOKEN_BYTES];

    assert_int_equal(crypto_token(t1), 0);
    assert_int_equal(crypto_token(t2), 0);
    assert_int_equal(strlen(t1), 43);
    assert_int_equal(strlen(t2), 43);
    assert_string_not_equal(t1, t2);
    for (size_t i = 0; i < 43; i++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", t1[i]));
    /* It decodes back to 32 bytes, so it is canonical base64url. */
    assert_int_equal(crypto_b64url_decode(t1, 43, raw, sizeof raw), CRYPTO_TOKEN_BYTES);
}

static void test_token_hash(void **state)
{
    (void)state;
    char    tok[CRYPTO_TOKEN_SIZE], h[CRYPTO_TOKEN_HASH_SIZE], want[CRYPTO_TOKEN_HASH_SIZE];
    uint8_t d[CRYPTO_SHA256_LEN];

    /* Known answer: the hash of "abc" is SHA-256("abc") in hex. */
    crypto_token_hash("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    assert_int_equal(crypto_token(tok), 0);
    crypto_token_hash(tok, strlen(tok), h);
    crypto_sha256(tok, strlen(tok), d);
    crypto_hex(d, sizeof d, want);
    assert_string_equal(h, want);
    assert_int_equal(strlen(h), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_kat),
        cmocka_unit_test(test_sha1_kat),
        cmocka_unit_test(test_websocket_accept_kat),
        cmocka_unit_test(test_hmac_sha256_kat),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_hex_bad),
        cmocka_unit_test(test_b64_rfc4648),
        cmocka_unit_test(test_b64_alphabets),
        cmocka_unit_test(test_b64_reject),
        cmocka_unit_test(test_b64_capacity),
        cmocka_unit_test(test_eq),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_token_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
