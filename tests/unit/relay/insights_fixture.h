/* insights_fixture.h - synthetic profiles for the insights engine tests:
 * stacks written as "root;caller;leaf" strings with values, turned into a
 * cp_profile_t (names interned, kinds guessed from the name: "[alloc] C"
 * allocation leaf, "[lock] C" lock leaf, "[unknown_Java]"/"[truncated]"
 * failure, other "[..]" thread roots, "*.step" inlined, everything else
 * JIT-compiled Java).
 *
 * Thread: the test's own. */
#ifndef CP_TEST_INSIGHTS_FIXTURE_H
#define CP_TEST_INSIGHTS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "insights.h"

typedef struct ifx_stack {
    const char *frames;   /* "a;b;c", root first */
    uint64_t    value;
} ifx_stack_t;

/* Builds p (caller frees with cp_profile_free); unit copied. */
void ifx_profile(cp_profile_t *p, const ifx_stack_t *s, size_t n, const char *unit);
/* Appends n single-sample stacks of value q (JIT-thread stacks, as real
 * profiles have many stacks seen once). */
void ifx_singles(cp_profile_t *p, int n, uint64_t q);
/* Appends one stack to p (new names interned). */
void ifx_add(cp_profile_t *p, const char *frames, uint64_t value);
/* One window holding all of p's stacks (stacks/values: room for p->n_stacks). */
cp_store_window_t ifx_window(const cp_profile_t *p, int64_t start_ms, int64_t instance, uint32_t *stacks,
                             uint64_t *values);
/* Runs an engine over one type with one window of everything; caller
 * destroys. */
cp_insights_t *ifx_run(const char *type, const cp_profile_t *p);

#endif
