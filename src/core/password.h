/*
 * password.h — argon2id password hashing for gssd (libargon2).
 *
 * What it provides:
 *   - password_hash / password_verify: argon2id with a 16-byte random salt
 *     and a 32-byte hash, stored in argon2's standard encoded form
 *       $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<hash b64>
 *     so every stored hash carries its own parameters: they can be raised
 *     later and old hashes still verify; password_needs_rehash() tells the
 *     login path when to re-hash a just-verified password with the new ones.
 *   - password_verify_dummy: the same work as a real verify, for logins with
 *     an unknown username, so response time does not reveal which usernames
 *     exist.
 *   - *_async variants that run the hashing in a worker pool (core/workers.h),
 *     because one argon2id call (64 MiB, 3 passes) takes long enough to stall
 *     every socket on gssd's single loop.
 *   - password_policy_check: the length rule for new passwords.
 *
 * Threads: the synchronous functions are thread-safe (they are what the
 * pool threads run). The *_async functions must be called on the loop
 * thread of the pool they are given, and their callbacks run on that thread.
 *
 * Concurrency is that of the struct workers the caller passes (one pool for
 * argon2, of its own, so logins neither wait behind PDF rendering or libuv's
 * threadpool nor delay them): at most its thread count of hashes run at once
 * (with the default parameters: that many times 64 MiB of memory), and at
 * most its max_queue are in flight. When it is full the *_async functions
 * return WORKERS_EFULL and queue nothing: answer 503 with Retry-After.
 *
 * Secrets: passwords are never logged by this module, and never should be by
 * callers. Async jobs own copies of the password and wipe them before
 * freeing. The sync functions do not copy the password.
 *
 * Errors: 0 / -1 for the sync functions unless stated; libuv-style negative
 * codes for the async ones.
 */
#ifndef GSS_CORE_PASSWORD_H
#define GSS_CORE_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/workers.h"

/* argon2id cost parameters, as recorded in the encoded hash. */
struct password_params {
    uint32_t t_cost;      /* passes over memory */
    uint32_t m_cost_kib;  /* memory in KiB */
    uint32_t parallelism; /* lanes (and threads used by one hash) */
};

/* Production defaults (RFC 9106's second recommended option: 64 MiB, t=3). */
#define PASSWORD_T_COST_DEFAULT      3
#define PASSWORD_M_COST_DEFAULT      65536
#define PASSWORD_PARALLELISM_DEFAULT 1

/* With GSS_ARGON2_FAST=1 in the environment the defaults become these cheap
 * ones, so test suites can create many users quickly. Never set it in
 * production. */
#define PASSWORD_FAST_ENV    "GSS_ARGON2_FAST"
#define PASSWORD_T_COST_FAST 1
#define PASSWORD_M_COST_FAST 1024

/* Upper limits accepted when hashing and when verifying a stored string.
 * They exist so a corrupted or tampered row cannot make one login allocate
 * gigabytes or loop for minutes; they are far above anything we configure. */
#define PASSWORD_T_COST_MAX      64
#define PASSWORD_M_COST_MAX      (1024u * 1024u) /* 1 GiB */
#define PASSWORD_PARALLELISM_MAX 16

#define PASSWORD_SALT_LEN 16
#define PASSWORD_HASH_LEN 32
/* Enough for any encoded string within the limits above, with its NUL. */
#define PASSWORD_ENCODED_MAX 128

/* Policy for new passwords, in bytes (not characters: UTF-8 counts as sent). */
#define PASSWORD_MIN_LEN 8
#define PASSWORD_MAX_LEN 128

/* The parameters new hashes should use: the defaults above, or the fast ones
 * when GSS_ARGON2_FAST=1. Reads the environment on each call. */
void password_params_default(struct password_params *out);

/* 0 if the password may be set: PASSWORD_MIN_LEN..PASSWORD_MAX_LEN bytes and
 * no NUL byte (a NUL would silently cut the password short for any code that
 * treats it as a C string). -1 otherwise. Existing passwords are not
 * re-checked at login. */
int password_policy_check(const char *pw, size_t len);

/* Hash pw[0..len) with params p (NULL: password_params_default()) and a fresh
 * random salt, writing the NUL-terminated encoded string into out.
 * cap should be PASSWORD_ENCODED_MAX. Returns 0, or -1 on invalid params
 * (outside the limits above, or m < 8*p as argon2 requires), too small a
 * cap, no randomness or no memory; out is then "" if cap > 0. */
int password_hash(const char *pw, size_t len, const struct password_params *p, char *out, size_t cap);

/* Check pw[0..len) against an encoded argon2id string.
 * Returns 1 on a match, 0 on a mismatch, -1 if encoded is malformed, not
 * argon2id version 19, beyond the limits above, or hashing failed. */
int password_verify(const char *encoded, const char *pw, size_t len);

/* true if encoded should be replaced by a fresh hash made with p: its memory,
 * passes or lanes are below p's, its salt or hash is shorter than ours, or it
 * cannot be parsed at all. Call after a successful verify, when the plain
 * password is at hand. */
bool password_needs_rehash(const char *encoded, const struct password_params *p);

/* Do the work of one password_verify() against a hash made once, on first
 * use, from a random password with password_params_default(), and throw the
 * result away. Use it when the username is unknown. Thread-safe; the first
 * call also pays for making that hash (see password_dummy_prepare()). */
void password_verify_dummy(const char *pw, size_t len);

/* Make the dummy hash now (e.g. at start-up, after the environment is final)
 * so the first unknown-user login is not slower than the rest. Optional. */
void password_dummy_prepare(void);

/* Callback of password_hash_async: status 0 and the encoded string (valid
 * only during the call; copy it), or a negative libuv code with encoded NULL:
 * UV_ECANCELED if the pool was closed before the job ran, UV_ENOMEM, UV_EIO
 * (no randomness) or UV_EINVAL if hashing failed. */
typedef void (*password_hash_cb)(void *ud, int status, const char *encoded);

/* Callback of password_verify_async: 1 match, 0 mismatch (and always 0 for a
 * dummy verify), -1 malformed hash or failure, UV_ECANCELED if the pool was
 * closed before the job ran (the password was never checked: not a failed
 * login). Every value but 1 means "not verified". */
typedef void (*password_verify_cb)(void *ud, int result);

/* Queue password_hash() on pool w. The job copies pw and p, so the caller
 * may free them at once. Returns 0 when queued: cb will then run exactly
 * once on the loop thread, later, even if cancelled. Otherwise nothing was
 * queued and cb will not run:
 *   WORKERS_EFULL  the pool is full: answer 503 with Retry-After: 1;
 *   UV_ECANCELED   the pool is closing (shutdown): answer 503;
 *   UV_EINVAL      bad arguments or params; UV_ENOMEM. */
int password_hash_async(struct workers *w, const char *pw, size_t len, const struct password_params *p,
                        password_hash_cb cb, void *ud);

/* Queue password_verify() on pool w; with encoded NULL, queue
 * password_verify_dummy() instead, whose result is 0. The job copies encoded
 * and pw. Return value and callback guarantee as for password_hash_async. */
int password_verify_async(struct workers *w, const char *encoded, const char *pw, size_t len, password_verify_cb cb,
                          void *ud);

#endif /* GSS_CORE_PASSWORD_H */
