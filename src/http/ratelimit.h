/*
 * ratelimit: token buckets per client address, for the customer's public
 * routes (docs/money.md, "Rate limit").
 *
 * Each address has a bucket of at most `burst` tokens that refills at
 * `per_min` tokens a minute. ratelimit_take asks for tokens before a
 * request is served; ratelimit_charge takes more afterwards (a token that
 * matched no link), and may leave the bucket in debt, so that a guesser
 * waits longer. A bucket never seen before starts full.
 *
 * The table is bounded: `capacity` addresses, all allocated by
 * ratelimit_new, so a request never allocates. A new address when the
 * table is full takes the place of the least recently seen one. That one
 * has had the longest to refill, so it is the bucket most likely to be
 * full already, and a full bucket is one that forgets nothing when it is
 * dropped. (An attacker with more addresses than the table holds can push
 * others out early; that costs them a fresh address per eviction, and the
 * limit is a courtesy against guessing, not the secret: tokens have 192
 * bits.) Lookups are a hash into chains, with a random seed per table so
 * that chosen addresses cannot pile into one chain; every operation is
 * O(1) on average.
 *
 * Keys are 16 bytes: an IPv6 address, or an IPv4 address mapped into IPv6
 * (ratelimit_key_from_text builds one; IPv6 addresses count per /64, the
 * block one subscriber usually holds).
 *
 * Time is passed in (milliseconds on any monotonic clock), so tests drive
 * it. Memory: the table owns its arrays; ratelimit_free releases them.
 * Threads: loop thread only (no locking).
 */
#ifndef GSS_HTTP_RATELIMIT_H
#define GSS_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_KEY_LEN 16

struct ratelimit;

/* A table of `capacity` buckets (at least 1), refilling per_min tokens a
 * minute up to burst (both >= 1). seed randomises the hash; 0 picks a
 * random one. Returns NULL for bad arguments. */
struct ratelimit *ratelimit_new(size_t capacity, double per_min, double burst, uint64_t seed);
void              ratelimit_free(struct ratelimit *rl);

/* Takes `cost` tokens from key's bucket at now_ms when it has them:
 * returns 0. Otherwise takes nothing and returns the whole seconds (>= 1)
 * after which it will have them (the Retry-After). */
int64_t ratelimit_take(struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN], double cost, uint64_t now_ms);

/* Takes `cost` tokens whatever the level: the bucket may go below zero. */
void ratelimit_charge(struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN], double cost, uint64_t now_ms);

/* The bucket's level at now_ms (burst for an address not in the table),
 * for tests and metrics. Changes nothing. */
double ratelimit_level(const struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN], uint64_t now_ms);

/* Addresses in the table, and how many were evicted to make room. */
size_t   ratelimit_count(const struct ratelimit *rl);
uint64_t ratelimit_evictions(const struct ratelimit *rl);

/* The key of a textual address ("203.0.113.7", "2001:db8::1"): IPv4 as
 * ::ffff:a.b.c.d, IPv6 with its last 64 bits zeroed (v4-mapped ones kept
 * whole). false if the text is not an address. */
bool ratelimit_key_from_text(const char *addr, uint8_t key[RATELIMIT_KEY_LEN]);

#endif
