/* ctxhook.h - automatic request context: HTTP server entry points and
 * executors, by class-file rewriting at class load (docs/context.md).
 *
 *   context.http=on (default), eager: the methods through which a server hands a
 *     request to user code are wrapped in dev.cprof.Http.enter/exit
 *     (classfile_wrap.c): com.sun.net.httpserver.Filter$Chain.doFilter and
 *     any class's handle(HttpExchange), HttpServlet.service(ServletRequest,
 *     ServletResponse) of javax.servlet and jakarta.servlet. The shim sets
 *     the label endpoint ("GET /orders/{n}") and, from a W3C traceparent
 *     header, the trace and span ids, for the request's duration.
 *   context.executors=true (default false): the task argument of
 *     ThreadPoolExecutor.execute, ScheduledThreadPoolExecutor.execute/
 *     schedule*, ForkJoinPool.execute/submit is wrapped (dev.cprof.Exec),
 *     so the task runs under its submitter's context.
 *
 * Start-up: the shim's classes are defined in the boot loader (shim.h: no
 * class path change, so CDS stays on and the JVM prints no warning), and
 * the context natives registered, only when the first hooked class loads.
 * With context.http=on the hook itself (a ClassFileLoadHook, which makes
 * HotSpot read each CDS-shared class's bytes to hand them over) is on only
 * from the first class of an HTTP API package (com.sun.net.httpserver,
 * javax.servlet, jakarta.servlet): a JVM that runs no HTTP server pays one
 * GetClassSignature per class it loads. context.http=eager and
 * context.executors=on hook from VMInit; an attach hooks at once. Classes
 * loaded before the hook (an attach to a running server; a servlet class
 * that is the first of its package: warned) are not wrapped, since
 * wrapping adds a method, which only a first load may do.
 *
 * Own jvmtiEnv without the retransform capability: its change becomes the
 * class's original bytes for the environments that retransform (alloc.c,
 * lock.c), so they never undo it.
 *
 * Thread: start/stop from the agent lifecycle (serialised by it); the hook
 * runs on any Java thread that loads a class. Not signal-safe. */
#ifndef CP_CTXHOOK_H
#define CP_CTXHOOK_H

#include <jni.h>
#include <stdint.h>

#include "options.h"

/* Applies o->context_http / o->context_executors (later calls change
 * which hooks apply to classes loaded from then on). Returns 0 or
 * CP_EUNSUPP (no JVMTI env; logged). */
int cp_ctxhook_start(JavaVM *vm, const cp_options_t *o);

/* Stops rewriting classes loaded from now on; wrapped classes stay
 * wrapped (the shim's Http/Exec do nothing once the context API is off). */
void cp_ctxhook_stop(void);

typedef struct cp_ctxhook_report {
    uint64_t wrapped;     /* HTTP entry methods wrapped */
    uint64_t executors;   /* executor classes rewritten */
    uint64_t skipped;     /* hooked classes left unchanged (rewriter refused, loader cannot see the shim) */
} cp_ctxhook_report_t;

void cp_ctxhook_report(cp_ctxhook_report_t *r /* OUT */);

#endif
