#!/usr/bin/env bash
# scripts/check-sigsafe.sh - static check of the signal-safety discipline.
#
# Every function marked CP_SIGSAFE (see common/sigsafe.h) may run inside the
# SIGPROF handler. This script reads jvmti/ and common/ and fails when such a
# function calls:
#   - something known to be unsafe in a handler (malloc/free, stdio, locks,
#     JNI/JVMTI, the agent's logger), or
#   - another function of this project that is not itself marked CP_SIGSAFE
#     (so the marking is transitive and cannot silently rot).
# Calls to other outside functions must be on the allow-list below (libc
# calls that are async-signal-safe, compiler builtins); anything else fails
# too, so a new call has to be looked at once and listed here.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 - "$@" <<'PY'
import glob, re, sys

SRC = sorted(glob.glob("jvmti/*.[ch]") + glob.glob("common/*.[ch]"))
BANNED = re.compile(r"^(malloc|calloc|realloc|free|strdup|strndup|printf|fprintf|sprintf|snprintf|"
                    r"vsnprintf|puts|fputs|fwrite|fopen|fclose|fflush|perror|syslog|"
                    r"pthread_mutex_\w+|pthread_rwlock_\w+|pthread_cond_\w+|pthread_create|"
                    r"sem_wait|dlopen|dlsym|dladdr|exit|abort|cp_log\w*|cp_xmalloc|"
                    r"Get\w+|Set\w+|Call\w+|New\w+|Find\w+|Raw\w+)$")
# libc / kernel / compiler calls that are safe in a handler (POSIX.1-2008
# async-signal-safe list, plus memcpy/memset/strlen which touch only their args).
ALLOWED = set("""syscall getpid gettid getppid clock_gettime sigaction sigemptyset sigaddset
sigprocmask pthread_sigmask signal sigsetjmp siglongjmp __sigsetjmp setjmp longjmp raise kill tgkill
write read memcpy memmove memset memcmp strlen strcmp strncmp errno pthread_self
timer_settime timer_gettime ioctl sched_yield abs labs llabs prctl
__builtin_expect __builtin_frame_address __builtin_return_address __builtin_unreachable
__atomic_load_n __atomic_store_n __atomic_fetch_add __atomic_fetch_sub __atomic_exchange_n
__atomic_compare_exchange_n __atomic_add_fetch __atomic_sub_fetch __atomic_thread_fence
__atomic_signal_fence __sync_synchronize atomic_load atomic_store atomic_fetch_add
atomic_fetch_sub atomic_load_explicit atomic_store_explicit atomic_fetch_add_explicit
atomic_fetch_sub_explicit atomic_exchange_explicit atomic_compare_exchange_strong_explicit
atomic_compare_exchange_weak_explicit atomic_compare_exchange_strong atomic_thread_fence
atomic_signal_fence atomic_exchange""".split())
KEYWORDS = set("if else do while for switch return sizeof defined _Static_assert __attribute__ "
               "static_assert alignof _Alignof typeof __typeof__ offsetof va_arg".split())

def strip(text):
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)

defs = {}     # name -> (file, line, sigsafe, body)
FUNC = re.compile(r"^([A-Za-z_][\w \t\*]*?)\b([A-Za-z_]\w*)\s*\(([^;{}]*)\)\s*\{", re.M)
for path in SRC:
    text = strip(open(path).read())
    for m in FUNC.finditer(text):
        head, name = m.group(1), m.group(2)
        if name in KEYWORDS or re.search(r"\b(else|return)\b", head):
            continue
        i, depth = m.end() - 1, 0
        for j in range(i, len(text)):
            if text[j] == "{": depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0: break
        body = text[i:j + 1]
        line = text.count("\n", 0, m.start()) + 1
        sig = "CP_SIGSAFE" in head
        if name in defs and defs[name][2] and not sig:
            sig = True   # header prototype carried the mark
        defs[name] = (path, line, sig or defs.get(name, (0, 0, False))[2], body)
# prototypes marked in headers count too
marked = set()
for path in SRC:
    for m in re.finditer(r"CP_SIGSAFE[^;{(]*?\b(\w+)\s*\(", strip(open(path).read())):
        marked.add(m.group(1))

errors, checked = [], 0
filetext = {p: strip(open(p).read()) for p in SRC}
# Calls through a struct member: lowercase members are function pointers we
# own (e.g. a chained sa_sigaction); Capitalised ones are JNI/JVMTI functions.
# No JNI call is allowed, GetEnv included: it reads HotSpot's
# Thread::current through libjvm's dynamic TLS (__tls_get_addr, which may
# malloc on a thread that never touched it; JDK-8132510). Handlers take the
# JNIEnv from the agent's thread table.
MEMBER = re.compile(r"(?:->|\.)\s*([A-Za-z_]\w*)\s*\(")
CALL = re.compile(r"(?<![\w.>])([A-Za-z_]\w*)\s*\(")
for name, (path, line, sig, body) in sorted(defs.items()):
    if not (sig or name in marked):
        continue
    checked += 1
    where = "%s:%d %s()" % (path, line, name)
    for c in sorted(set(MEMBER.findall(body))):
        if c[0].isupper():
            errors.append("%s calls JNI/JVMTI %s(), which is not async-signal-safe" % (where, c))
    for c in sorted(set(CALL.findall(body))):
        if c in KEYWORDS or c.isupper() or c in ALLOWED or c == name or re.match(r"^atomic_\w+$", c):
            continue
        if BANNED.match(c) and c not in defs:
            errors.append("%s calls %s(), which is not async-signal-safe" % (where, c))
        elif c in marked:
            continue
        elif c in defs:
            if not defs[c][2]:
                errors.append("%s calls %s() (%s:%d), which is not marked CP_SIGSAFE"
                              % (where, c, defs[c][0], defs[c][1]))
        elif re.search(r"\b%s\s*(=[^=]|;|\[|,)" % c, filetext[path]) or \
             re.search(r"\(\s*\*\s*%s\s*\)" % c, filetext[path]):
            continue   # a variable holding a function pointer (e.g. AsyncGetCallTrace)
        else:
            errors.append("%s calls %s(): not on the allow-list of handler-safe calls" % (where, c))
for e in errors:
    print("check-sigsafe:", e)
print("check-sigsafe: %d CP_SIGSAFE functions checked, %d problems" % (checked, len(errors)))
sys.exit(1 if errors else 0)
PY
