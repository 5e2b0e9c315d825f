/* unwind.h - native frames from a signal context, without allocation.
 *
 * The handler records raw program counters of native code (libjvm, libc,
 * libz, JNI libraries): the interrupted pc, then a bounded frame-pointer
 * walk. Symbols are looked up later, on the harvester (symbols.h).
 *
 * Why a frame-pointer walk and not libunwind: libunwind's unw_step looks
 * up unwind tables through dl_iterate_phdr, which takes the loader's lock;
 * a signal landing inside dlopen would deadlock the thread. Frame pointers
 * are unreliable in optimised C/C++ (a leaf without a frame skips one
 * caller; a function using rbp as a general register ends the walk), so
 * every step is validated:
 *   - a pc must lie in an executable, file-backed mapping (the "native
 *     code" table below, rebuilt from /proc/self/maps off the handler);
 *     anything else - the JIT code cache, the interpreter, garbage - ends
 *     the walk. For a Java thread in native code this is exactly where
 *     the Java frames (reported by AsyncGetCallTrace) begin.
 *   - frame pointers must be 8-aligned, strictly increasing and within
 *     CP_UNWIND_STACK_SPAN bytes above the interrupted stack pointer.
 *   - a return address must follow a call instruction (x86-64 encodings of
 *     call rel32 / call indirect), so stale slots pointing into code are
 *     not taken for frames.
 *   - the leaf's caller is also looked for at [sp]: a leaf that has not
 *     pushed a frame (syscall wrappers, memcpy, libraries built without
 *     frame pointers) would otherwise hide it.
 * A fault while reading a bad frame is caught by the sampler's crash
 * guard (the walk runs inside it) and ends the walk with what it has.
 *
 * The table also holds anonymous executable mappings (the code cache), so
 * the sampler can check a pc it wants to hand to AsyncGetCallTrace
 * (cp_unwind_is_code) when it retries a failed sample from an adjusted
 * frame.
 *
 * The native-code table is double-buffered with a sequence number:
 * cp_unwind_refresh (any non-signal thread, serialised by a mutex)
 * fills the idle buffer and publishes it; the handler retries or gives up
 * when the sequence changed under it.
 *
 * x86-64 only; elsewhere cp_unwind_walk returns 0 frames. */
#ifndef CP_UNWIND_H
#define CP_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

#include "sigsafe.h"

#define CP_UNWIND_MAX_RANGES 2048
#define CP_UNWIND_STACK_SPAN (8u << 20)

/* Rebuilds the native-code table from /proc/self/maps. Returns the number
 * of ranges or a negative CP_E* code. Thread: any non-signal thread
 * (serialised by a mutex). */
int cp_unwind_refresh(void);

/* How many times a refresh published a table that differs from the one
 * before (libraries loaded or unloaded, the code cache grown). Any thread. */
unsigned long cp_unwind_generation(void);

/* How many walks started at an interrupted pc that lies in no mapping the
 * table knows: the thread was running it, so it is code mapped since the
 * last refresh (the harvester refreshes early when this moves). Any thread. */
unsigned long cp_unwind_unknown_pcs(void);

/* Async-signal-safe: reads the published table. true if pc is in an
 * executable file-backed mapping. */
CP_SIGSAFE bool cp_unwind_is_native(uint64_t pc);

/* Async-signal-safe. true if pc is in any executable mapping: native code
 * or anonymous code (the JVM's code cache: JIT code, interpreter, stubs). */
CP_SIGSAFE bool cp_unwind_is_code(uint64_t pc);

/* Async-signal-safe. true if ret is a plausible return address into
 * anonymous code (the code cache): the bytes before it are an x86-64 call
 * instruction (the same encodings the native walk accepts). */
CP_SIGSAFE bool cp_unwind_is_jit_call_site(uint64_t ret);
/* The same for native code (file-backed executable mappings). */
CP_SIGSAFE bool cp_unwind_is_native_call_site(uint64_t ret);

/* Async-signal-safe, no allocation. Walks native frames from the signal
 * context ucontext (the handler's third argument). Writes up to max pcs,
 * leaf first, into pcs (return addresses after the first) and counts them
 * in *n as it goes (so a fault mid-walk, caught by the caller's guard,
 * leaves a consistent prefix). Returns *n. */
CP_SIGSAFE int cp_unwind_walk(const void *ucontext, uint64_t *pcs, int max, volatile int *n);

/* Same walk from explicit registers (tests). */
CP_SIGSAFE int cp_unwind_walk_regs(uint64_t pc, uint64_t sp, uint64_t fp, uint64_t *pcs, int max,
                                   volatile int *n);

#endif
