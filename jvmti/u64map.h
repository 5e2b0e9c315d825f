/* u64map.h - a small open-addressing map from uint64 keys to uint64 values,
 * for the harvester's caches and its window (no deletes except clear).
 *
 * Layout: keys[] holds key + 1 (0 = empty), vals[] the values; capacity a
 * power of two, grown x2 at half full. Iterate with
 *   for (i = 0; i < m.cap; i++) if (m.keys[i]) use(m.keys[i] - 1, m.vals[i]);
 * The key UINT64_MAX cannot be stored (it would read as empty).
 *
 * Thread: none; callers serialise. Not signal-safe (allocates). */
#ifndef CP_U64MAP_H
#define CP_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cp_u64map {
    uint64_t *keys;     /* key + 1; 0 = empty */
    uint64_t *vals;
    size_t cap, n;
} cp_u64map_t;         /* zero-initialised = empty */

/* A 64-bit mixer (murmur3's finaliser): the map's hash, also for keys. */
static inline uint64_t cp_u64map_mix(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* The value slot for key, inserted as 0 if new (*created says which);
 * NULL without memory. The pointer is valid until the next insert. */
uint64_t *cp_u64map_slot(cp_u64map_t *m, uint64_t key, bool *created /* OUT */);

/* The value slot for key, or NULL. */
uint64_t *cp_u64map_find(const cp_u64map_t *m, uint64_t key);

/* Empties the map, keeping its memory. */
void cp_u64map_clear(cp_u64map_t *m);

/* Frees the map's memory; it is empty and usable again. */
void cp_u64map_free(cp_u64map_t *m);

#endif
