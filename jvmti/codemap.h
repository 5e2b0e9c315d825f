/* codemap.h - tells compiled, inlined and interpreted Java frames apart.
 *
 * AsyncGetCallTrace names methods and bcis but not how a frame runs. The
 * JIT tells us through CompiledMethodLoad: for every pc of a new nmethod,
 * the scope chain (method, bci) from the innermost inlined method out to the
 * nmethod's root method. Each full chain is remembered as a 64-bit hash.
 * A sampled stack (leaf first) is then split greedily into the longest
 * chains found: in a chain, every frame but the outermost is INLINED, the
 * outermost is COMPILED; a frame in no chain is INTERPRETED. Native methods
 * stay NATIVE.
 *
 * Approximate by design: an interpreted frame whose (method, bci) equals a
 * compiled one's is reported compiled; chains of unloaded nmethods are kept
 * (harmless). At most CP_CODEMAP_MAX chains are kept (then counted, not
 * added), bounding memory to 2 MiB.
 *
 * Thread: cp_codemap_add from the JVMTI CompiledMethodLoad callback (compiler
 * threads, or the caller of GenerateEvents); cp_codemap_classify from the
 * harvester. A mutex guards the set (compile events are rare). Not
 * signal-safe. */
#ifndef CP_CODEMAP_H
#define CP_CODEMAP_H

#include <jvmti.h>
#include <stdbool.h>
#include <stdint.h>

#include "ring.h"

#define CP_CODEMAP_MAX (128u * 1024u)

/* compile_info: the CompiledMethodLoad callback's argument (jvmticmlr.h
 * records); NULL or records without inline info are ignored. */
void cp_codemap_add(const void *compile_info);

/* Frame kinds are told apart only while active (jit.kinds=on, when the
 * agent enables CompiledMethodLoad); inactive, classify says "Java" (0)
 * for every Java frame and "native" for native methods. Any thread. */
void cp_codemap_set_active(bool on);

/* Fills kinds[0..n) (cp_frame_kind_t) for frames[0..n) (leaf first). */
void cp_codemap_classify(const cp_ring_frame_t *frames, int n, uint8_t *kinds /* OUT */);

/* Chains remembered, and chains not added because the map was full. */
void cp_codemap_stats(uint64_t *chains /* OUT */, uint64_t *dropped /* OUT */);

#endif
