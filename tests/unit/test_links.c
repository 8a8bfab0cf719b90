/*
 * Unit tests for auth/links: the token format against vectors computed
 * outside gssd, the key's parsing, the syntax check and the hashes.
 *
 * The vectors were computed with node's crypto (and the first one again
 * with openssl, which agreed):
 *
 *   const c = require('crypto');
 *   const key = Buffer.from('6c696e6b2d6b65792d666f722d7465737473206f6e6c792d2d2d2d2d2d2d2d21', 'hex');
 *   const nonce = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
 *   for (const k of ['invoice', 'rating']) {
 *     const mac = c.createHmac('sha256', key)
 *       .update(Buffer.concat([Buffer.from(`gss-link-v1:${k}:`), nonce])).digest();
 *     const tok = mac.subarray(0, 24).toString('base64url');
 *     console.log(k, tok, c.createHash('sha256').update(tok).digest('hex'));
 *   }
 *   // a 40-byte key of 0xab, a nonce of 16 x 0xff, kind rating
 *
 *   printf 'gss-link-v1:invoice:\x00\x01...\x0f' | openssl dgst -sha256 -mac HMAC \
 *     -macopt hexkey:6c69...21 -binary | head -c 24 | base64 | tr '+/' '-_'
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/links.h"
#include "core/crypto.h"

static const char    KEY_HEX[] = "6c696e6b2d6b65792d666f722d7465737473206f6e6c792d2d2d2d2d2d2d2d21";
static const uint8_t NONCE[LINKS_NONCE_LEN] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void test_known_answers(void **state)
{
    (void)state;
    struct links l;
    char         err[128], tok[LINKS_TOKEN_SIZE], hex[2 * LINKS_HASH_LEN + 1];
    uint8_t      h[LINKS_HASH_LEN];

    assert_int_equal(links_init(&l, KEY_HEX, err, sizeof(err)), 0);
    assert_false(l.ephemeral);
    assert_int_equal(l.key_len, 32);

    assert_int_equal(links_token(&l, LINKS_INVOICE, NONCE, tok), 0);
    assert_string_equal(tok, "4dY8uPQVNcxgHh6im3av6QZgRdpCt1IG");
    links_token_hash(tok, strlen(tok), h);
    crypto_hex(h, sizeof(h), hex);
    assert_string_equal(hex, "2bacf94326786a976f53b3d87dc069947de2cbaccca7c96af36f3618c6117766");

    assert_int_equal(links_token(&l, LINKS_RATING, NONCE, tok), 0);
    assert_string_equal(tok, "6QwEgSbAtKS74-pf3L9PM_k6k_vWY2M0");
    assert_int_equal(links_expected_hash(&l, LINKS_RATING, NONCE, h), 0);
    crypto_hex(h, sizeof(h), hex);
    assert_string_equal(hex, "8332f6631b1010c2816e206d49d5ae0f80cb4b4c5943d8c943ad53d3a8feee00");

    /* a longer key, in upper case, and another nonce */
    char    big[2 * 40 + 1];
    uint8_t n2[LINKS_NONCE_LEN];
    memset(n2, 0xff, sizeof(n2));
    for (int i = 0; i < 40; i++)
        memcpy(big + 2 * i, "AB", 2);
    big[80] = '\0';
    assert_int_equal(links_init(&l, big, err, sizeof(err)), 0);
    assert_int_equal(l.key_len, 40);
    assert_int_equal(links_token(&l, LINKS_RATING, n2, tok), 0);
    assert_string_equal(tok, "4JVxqtpcNgyCPTIp87P-ZaudVp8UkMB9");
    links_wipe(&l);
    assert_int_equal(l.key_len, 0);
    assert_int_equal(links_token(&l, LINKS_RATING, n2, tok), -1); /* a wiped key signs nothing */
}

static void test_key_parsing(void **state)
{
    (void)state;
    struct links l;
    char         err[128];

    /* 31 bytes: too short */
    assert_int_equal(links_init(&l, "00112233445566778899aabbccddeeff00112233445566778899aabbccddee", err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "GSS_LINK_KEY"));
    /* odd length, non-hex */
    assert_int_equal(
        links_init(&l, "6c696e6b2d6b65792d666f722d7465737473206f6e6c792d2d2d2d2d2d2d2d2", err, sizeof(err)), -1);
    assert_int_equal(
        links_init(&l, "zz696e6b2d6b65792d666f722d7465737473206f6e6c792d2d2d2d2d2d2d2d21", err, sizeof(err)), -1);
    assert_int_equal(l.key_len, 0);
    /* 129 bytes: too long */
    char *huge = malloc(2 * 129 + 1);
    memset(huge, 'a', 2 * 129);
    huge[2 * 129] = '\0';
    assert_int_equal(links_init(&l, huge, err, sizeof(err)), -1);
    huge[2 * 128] = '\0';
    assert_int_equal(links_init(&l, huge, err, sizeof(err)), 0);
    free(huge);

    /* unset: a random key per process, flagged, and two of them differ */
    struct links a, b;
    char         ta[LINKS_TOKEN_SIZE], tb[LINKS_TOKEN_SIZE];
    assert_int_equal(links_init(&a, NULL, err, sizeof(err)), 1);
    assert_int_equal(links_init(&b, "", err, sizeof(err)), 1);
    assert_true(a.ephemeral && b.ephemeral);
    assert_int_equal(a.key_len, LINKS_KEY_MIN);
    assert_int_equal(links_token(&a, LINKS_INVOICE, NONCE, ta), 0);
    assert_int_equal(links_token(&b, LINKS_INVOICE, NONCE, tb), 0);
    assert_string_not_equal(ta, tb);
    /* but one key is stable */
    assert_int_equal(links_token(&a, LINKS_INVOICE, NONCE, tb), 0);
    assert_string_equal(ta, tb);
}

static void test_kinds_and_nonces(void **state)
{
    (void)state;
    struct links l;
    char         err[64], t1[LINKS_TOKEN_SIZE], t2[LINKS_TOKEN_SIZE];
    assert_int_equal(links_init(&l, KEY_HEX, err, sizeof(err)), 0);

    assert_string_equal(links_kind_name(LINKS_INVOICE), "invoice");
    assert_string_equal(links_kind_name(LINKS_RATING), "rating");
    assert_null(links_kind_name(LINKS_KIND_COUNT));
    assert_null(links_kind_name((enum links_kind) - 1));
    assert_int_equal(links_kind_parse("invoice"), LINKS_INVOICE);
    assert_int_equal(links_kind_parse("rating"), LINKS_RATING);
    assert_int_equal(links_kind_parse("Rating"), -1);
    assert_int_equal(links_kind_parse(NULL), -1);
    assert_int_equal(links_token(&l, LINKS_KIND_COUNT, NONCE, t1), -1);
    assert_string_equal(t1, "");

    /* fresh nonces differ, and so do their tokens */
    uint8_t n1[LINKS_NONCE_LEN], n2[LINKS_NONCE_LEN];
    assert_int_equal(links_nonce(n1), 0);
    assert_int_equal(links_nonce(n2), 0);
    assert_memory_not_equal(n1, n2, LINKS_NONCE_LEN);
    assert_int_equal(links_token(&l, LINKS_INVOICE, n1, t1), 0);
    assert_int_equal(links_token(&l, LINKS_INVOICE, n2, t2), 0);
    assert_string_not_equal(t1, t2);
    assert_int_equal(strlen(t1), LINKS_TOKEN_LEN);
    assert_true(links_token_syntax(t1, strlen(t1)));
}

static void test_syntax(void **state)
{
    (void)state;
    assert_true(links_token_syntax("4dY8uPQVNcxgHh6im3av6QZgRdpCt1IG", 32));
    assert_true(links_token_syntax("--------------------------------", 32));
    assert_true(links_token_syntax("________________________________", 32));
    assert_false(links_token_syntax("4dY8uPQVNcxgHh6im3av6QZgRdpCt1I", 31));
    assert_false(links_token_syntax("4dY8uPQVNcxgHh6im3av6QZgRdpCt1IGx", 33));
    assert_false(links_token_syntax("4dY8uPQVNcxgHh6im3av6QZgRdpCt1I=", 32));
    assert_false(links_token_syntax("4dY8uPQVNcxgHh6im3av6QZgRdpCt1I+", 32));
    assert_false(links_token_syntax("4dY8uPQVNcxgHh6im3av6QZgRdpCt1I/", 32));
    assert_false(links_token_syntax("4dY8uPQVNcxgHh6im3av6QZgRdpCt1I%", 32));
    assert_false(links_token_syntax("4dY8uPQVNcxgHh6im3av6QZgRdpCt1I.", 32));
    assert_false(links_token_syntax("4dY8uPQVNcxgHh6im3av6QZgRdpCt1\xc3\xa9", 32));
    /* a NUL inside the length counts as a bad character */
    assert_false(links_token_syntax("4dY8uPQVNcxgHh6im3av6QZgRdpCt1I\0", 32));
    assert_false(links_token_syntax("", 0));
    assert_false(links_token_syntax(NULL, 32));
}

static void test_hash_eq(void **state)
{
    (void)state;
    uint8_t a[LINKS_HASH_LEN], b[LINKS_HASH_LEN];
    links_token_hash("4dY8uPQVNcxgHh6im3av6QZgRdpCt1IG", 32, a);
    memcpy(b, a, sizeof(a));
    assert_true(links_hash_eq(a, b));
    b[31] ^= 1;
    assert_false(links_hash_eq(a, b));
    b[31] ^= 1;
    b[0] ^= 0x80;
    assert_false(links_hash_eq(a, b));
    /* the hash is SHA-256 of the characters, nothing added */
    uint8_t c[LINKS_HASH_LEN];
    crypto_sha256("4dY8uPQVNcxgHh6im3av6QZgRdpCt1IG", 32, c);
    assert_memory_equal(a, c, LINKS_HASH_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),    cmocka_unit_test(test_key_parsing),
        cmocka_unit_test(test_kinds_and_nonces), cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_hash_eq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
