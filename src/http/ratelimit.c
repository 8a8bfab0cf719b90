/*
 * ratelimit.c — see ratelimit.h for the contract.
 *
 * Layout: one array of entries, allocated once. Each entry sits in a hash
 * chain (hnext) and in a doubly linked recency list (prev/next, most
 * recent at the head), all by 32-bit index, so that finding, refreshing
 * and evicting are a few index moves and nothing is allocated after
 * ratelimit_new.
 */
#include "http/ratelimit.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"

#define NIL UINT32_MAX
/* Beyond this the 32-bit indices would not do; no deployment needs it. */
#define RL_MAX_CAPACITY (1u << 24)

struct rl_entry {
    uint8_t  key[RATELIMIT_KEY_LEN];
    double   level;      /* tokens at last_ms; may be negative (debt) */
    uint64_t last_ms;    /* when level was last brought up to date */
    uint32_t hnext;      /* next in the hash chain */
    uint32_t prev, next; /* recency list: prev is more recent */
};

struct ratelimit {
    struct rl_entry *e;     /* cap entries; [0, count) in use */
    uint32_t        *heads; /* nbuckets chain heads */
    uint32_t         cap, count, mask;
    uint32_t         mru, lru; /* ends of the recency list */
    double           per_ms, burst;
    uint64_t         seed, evictions;
};

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* A seeded mix of the two halves (the finaliser of splitmix64 after each):
 * cheap, and without the seed an outsider cannot aim addresses at one
 * chain. */
static uint32_t bucket_of(const struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN])
{
    uint64_t h = rl->seed;
    for (int i = 0; i < 2; i++) {
        h ^= load64(key + 8 * i);
        h += 0x9e3779b97f4a7c15ull;
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
        h ^= h >> 31;
    }
    return (uint32_t)h & rl->mask;
}

struct ratelimit *ratelimit_new(size_t capacity, double per_min, double burst, uint64_t seed)
{
    if (capacity < 1 || capacity > RL_MAX_CAPACITY || !(per_min >= 1) || !(burst >= 1))
        return NULL;
    struct ratelimit *rl = xcalloc(1, sizeof(*rl));
    uint32_t          nb = 1;
    while (nb < capacity)
        nb <<= 1; /* one chain per entry on average at most */
    rl->e = xcalloc(capacity, sizeof(*rl->e));
    rl->heads = xmalloc(nb * sizeof(*rl->heads));
    for (uint32_t i = 0; i < nb; i++)
        rl->heads[i] = NIL;
    rl->cap = (uint32_t)capacity;
    rl->mask = nb - 1;
    rl->mru = rl->lru = NIL;
    rl->per_ms = per_min / 60000.0;
    rl->burst = burst;
    if (seed == 0 && crypto_random(&seed, sizeof(seed)) < 0)
        seed = 0x2545f4914f6cdd1dull; /* no randomness: still a working table */
    rl->seed = seed;
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    free(rl->e);
    free(rl->heads);
    free(rl);
}

static uint32_t find(const struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN])
{
    for (uint32_t i = rl->heads[bucket_of(rl, key)]; i != NIL; i = rl->e[i].hnext)
        if (memcmp(rl->e[i].key, key, RATELIMIT_KEY_LEN) == 0)
            return i;
    return NIL;
}

static void lru_unlink(struct ratelimit *rl, uint32_t i)
{
    struct rl_entry *x = &rl->e[i];
    if (x->prev != NIL)
        rl->e[x->prev].next = x->next;
    else
        rl->mru = x->next;
    if (x->next != NIL)
        rl->e[x->next].prev = x->prev;
    else
        rl->lru = x->prev;
    x->prev = x->next = NIL;
}

static void lru_push_front(struct ratelimit *rl, uint32_t i)
{
    struct rl_entry *x = &rl->e[i];
    x->prev = NIL;
    x->next = rl->mru;
    if (rl->mru != NIL)
        rl->e[rl->mru].prev = i;
    rl->mru = i;
    if (rl->lru == NIL)
        rl->lru = i;
}

static void chain_remove(struct ratelimit *rl, uint32_t i)
{
    uint32_t *link = &rl->heads[bucket_of(rl, rl->e[i].key)];
    while (*link != NIL && *link != i)
        link = &rl->e[*link].hnext;
    if (*link == i)
        *link = rl->e[i].hnext;
    rl->e[i].hnext = NIL;
}

/* The level at now_ms of entry x, refilled but capped at burst. A time
 * before last_ms (another clock's reading) refills nothing. */
static double level_at(const struct ratelimit *rl, const struct rl_entry *x, uint64_t now_ms)
{
    double lvl = x->level;
    if (now_ms > x->last_ms)
        lvl += (double)(now_ms - x->last_ms) * rl->per_ms;
    return lvl > rl->burst ? rl->burst : lvl;
}

/* key's entry, brought up to date at now_ms and made the most recent; a
 * new one (full) when key is not in the table, in the place of the least
 * recent when the table is full. */
static struct rl_entry *get(struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN], uint64_t now_ms)
{
    uint32_t i = find(rl, key);
    if (i != NIL) {
        struct rl_entry *x = &rl->e[i];
        x->level = level_at(rl, x, now_ms);
        if (now_ms > x->last_ms)
            x->last_ms = now_ms;
        if (rl->mru != i) {
            lru_unlink(rl, i);
            lru_push_front(rl, i);
        }
        return x;
    }
    if (rl->count < rl->cap) {
        i = rl->count++;
    } else {
        i = rl->lru;
        lru_unlink(rl, i);
        chain_remove(rl, i);
        rl->evictions++;
    }
    struct rl_entry *x = &rl->e[i];
    memcpy(x->key, key, RATELIMIT_KEY_LEN);
    x->level = rl->burst;
    x->last_ms = now_ms;
    uint32_t b = bucket_of(rl, key);
    x->hnext = rl->heads[b];
    rl->heads[b] = i;
    lru_push_front(rl, i);
    return x;
}

int64_t ratelimit_take(struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN], double cost, uint64_t now_ms)
{
    struct rl_entry *x = get(rl, key, now_ms);
    if (x->level >= cost) {
        x->level -= cost;
        return 0;
    }
    double secs = ceil((cost - x->level) / rl->per_ms / 1000.0);
    if (!(secs >= 1))
        secs = 1;
    if (secs > 86400.0 * 365)
        secs = 86400.0 * 365;
    return (int64_t)secs;
}

void ratelimit_charge(struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN], double cost, uint64_t now_ms)
{
    struct rl_entry *x = get(rl, key, now_ms);
    x->level -= cost;
}

double ratelimit_level(const struct ratelimit *rl, const uint8_t key[RATELIMIT_KEY_LEN], uint64_t now_ms)
{
    uint32_t i = find(rl, key);
    return i == NIL ? rl->burst : level_at(rl, &rl->e[i], now_ms);
}

size_t ratelimit_count(const struct ratelimit *rl)
{
    return rl->count;
}

uint64_t ratelimit_evictions(const struct ratelimit *rl)
{
    return rl->evictions;
}

bool ratelimit_key_from_text(const char *addr, uint8_t key[RATELIMIT_KEY_LEN])
{
    struct in_addr  v4;
    struct in6_addr v6;
    memset(key, 0, RATELIMIT_KEY_LEN);
    if (!addr)
        return false;
    if (inet_pton(AF_INET, addr, &v4) == 1) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &v4, 4);
        return true;
    }
    if (inet_pton(AF_INET6, addr, &v6) != 1)
        return false;
    memcpy(key, &v6, RATELIMIT_KEY_LEN);
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(key, mapped, sizeof(mapped)) != 0)
        memset(key + 8, 0, 8); /* per /64 */
    return true;
}
