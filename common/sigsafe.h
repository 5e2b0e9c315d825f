/* sigsafe.h - markers for the signal-safety discipline (see STYLE.md §4).
 *
 * CP_SIGSAFE marks a function that may run inside the SIGPROF handler:
 * no malloc, no locks, no stdio, no JNI/JVMTI (except AsyncGetCallTrace),
 * errno preserved. scripts/check-sigsafe.sh greps for it. */
#ifndef CP_SIGSAFE_H
#define CP_SIGSAFE_H

#define CP_SIGSAFE /* async-signal-safe */
#define CP_TLS __thread __attribute__((tls_model("initial-exec")))
#define CP_LIKELY(x)   __builtin_expect(!!(x), 1)
#define CP_UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
