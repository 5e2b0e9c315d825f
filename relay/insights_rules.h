/* insights_rules.h - the insights rules as data: one table row per (rule,
 * profile type), the frame patterns each row matches, its thresholds, how
 * a saving is estimated and the fix text; and the table of package
 * prefixes that are not user code (JDK and frameworks), whose frames are
 * charged to the first user-code frame nearer the root.
 *
 * Pattern syntax (matched against a function name "pkg.Class.method", or
 * a synthetic frame's text such as "[alloc] java.lang.Integer"):
 *   "a.b.C.m"     the exact name
 *   "a.b.*"       any name starting with "a.b."; "a.b.C*" also takes
 *                 nested classes ("a.b.C$Inner.m")
 *   "*.m"         any name ending with ".m"
 *   "A > B"       a frame matching B deeper in the stack (nearer the leaf)
 *                 than a frame matching A (A and B use the forms above; the
 *                 separator is CP_IRULE_ORDER, spaces included, as names
 *                 such as "C.<init>" hold '>')
 * A row matches a stack when any of its patterns does and none of its
 * excludes does; the stack's whole value counts (inclusive time).
 *
 * Thread: any (read-only tables). */
#ifndef CP_RELAY_INSIGHTS_RULES_H
#define CP_RELAY_INSIGHTS_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a row finds its candidates. */
typedef enum {
    CP_IRULE_PATTERN = 0,   /* the stacks its patterns match: one candidate */
    CP_IRULE_HOT_LEAF,      /* one candidate per hot leaf function (self time) */
    CP_IRULE_HOT_SITE,      /* one candidate per hot user-code site nearest the leaf */
    CP_IRULE_LOCK_CLASS,    /* one candidate per lock class (the "[lock] C" leaf) */
    CP_IRULE_QUALITY,       /* failed / truncated samples, too few, inlining unseen */
    CP_IRULE_SERIES,        /* a series rule (insights_series.c) */
} cp_irule_kind_t;

/* What the thresholds compare. */
typedef enum {
    CP_IMETRIC_SHARE = 0,   /* matched value / the type's total */
    CP_IMETRIC_RATE,        /* matched value per second of the range, in the saving unit */
} cp_irule_metric_t;

#define CP_IRULE_MAX_PATTERNS 24
#define CP_IRULE_ORDER " > "   /* "A > B": B below A */

typedef struct cp_irule {
    const char *id;
    const char *title;
    const char *type;                 /* profile type, or "gc" / "threads" for series rules */
    cp_irule_kind_t   kind;
    cp_irule_metric_t metric;
    double info, warn;                /* thresholds on the metric */
    /* saving = matched cost rate x fixable, in unit: "cores" for cpu,
     * "bytes/s" for alloc, "threads" (blocked thread-seconds per second)
     * for lock and wall; series rules set their own */
    double fixable;
    const char *fix;
    const char *patterns[CP_IRULE_MAX_PATTERNS];   /* NULL-terminated */
    const char *excludes[12];                      /* NULL-terminated */
} cp_irule_t;

extern const cp_irule_t cp_irules[];
extern const size_t cp_n_irules;

/* NULL-terminated prefixes of code that is not the user's (JDK, common
 * frameworks and libraries), each ending with '.'. */
extern const char *const cp_irule_library_prefixes[];

/* Does name match one pattern form ("a.b.C.m", "a.b.*", "*.m"), not an
 * "A > B" pair. */
bool cp_irule_name_match(const char *pattern, size_t plen, const char *name, size_t nlen);
/* Is a frame of this name and kind (cp_frame_kind_t) user code: a Java
 * frame outside the library prefixes? */
bool cp_irule_is_user(const char *name, uint8_t kind);

#endif
