/* wire_arena.h - the memory of one decoded message.
 *
 * Private to common/wire*.c. Everything a decoded cp_msg_t points to (its
 * arrays and NUL-terminated string copies) lives in one arena of chunks,
 * freed at once by cp_msg_free(). The arena counts the bytes it holds and
 * refuses to pass cp_wire_limits_t.max_decoded, so a hostile message cannot
 * make the decoder hold more than that.
 *
 * Thread: the decoding thread, then whoever owns the message. */
#ifndef CP_WIRE_ARENA_H
#define CP_WIRE_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cp__arena {
    struct cp__achunk *head;
    size_t             held;      /* bytes in chunks */
    size_t             limit;     /* max held (cp_wire_limits_t.max_decoded); 0 = none */
    bool               over;      /* last failure was the limit, not malloc */
} cp__arena_t;

/* align: 1 for string bytes, 8 for structs. Returns NULL on malloc failure
 * or past the limit (then a->over is set). Valid until cp__arena_free(). */
void *cp__arena_alloc(cp__arena_t *a, size_t n, size_t align);

/* Frees every chunk; the arena is then empty and reusable. */
void cp__arena_free(cp__arena_t *a);

#endif
