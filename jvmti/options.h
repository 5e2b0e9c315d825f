/* options.h - the agent's one options parser: -agentpath options and CPROF_*
 * environment variables.
 *
 * Syntax: comma-separated key=value pairs, e.g.
 *   relay=ws://127.0.0.1:7070,app=checkout,label.env=prod,cpu=10ms
 * Environment variables are read first, then the option string, so options
 * win. Environment names: CPROF_<KEY> with '.' as '_' and upper case
 * (CPROF_RELAY, CPROF_APP, CPROF_CPU, CPROF_ALLOC_MODE, ...), plus
 * CPROF_LABELS='env=prod;version=1.4' (';'-separated) for labels.
 *
 * Keys (defaults in brackets):
 *   relay      ws:// or wss:// URL of the relay [ws://127.0.0.1:7070]; path
 *              defaults to /ingest
 *   app        application name [main class or jar name]
 *   label.KEY  a label KEY=VALUE; repeatable (max CP_OPT_MAX_LABELS)
 *   cpu        CPU sampling interval (10ms, 1ms, 500us) or off [10ms]
 *   cpu.engine auto | perf | timer: perf_event_open cpu-clock per thread
 *              (full rate), or POSIX CPU timers (kernel tick: ~4 ms here)
 *              [auto = perf where permitted]  (issue 8, sampler.h)
 *   cpu.native on | off: native frames (libjvm, JNI, libc) walked in the
 *              handler and symbolised by the harvester [on]
 *   jit.kinds  on | off: tell compiled, inlined and interpreted Java frames
 *              apart, from the JIT's CompiledMethodLoad inline records; the
 *              JIT then builds a record for every compiled method (~5-10%
 *              more CPU on compile-heavy programs such as javac) [off: Java
 *              frames have kind "Java"; the JIT's debug info at
 *              non-safepoints is switched on through DebugNonSafepoints]
 *   wall       wall-clock sampling interval or off [off]
 *   flush      upload period [10s]
 *   buffer     max bytes of unsent data (8m, 512k) [8m]
 *   token      auth token sent in hello [""]; token=@FILE reads it from FILE
 *              (first line, so it stays out of `ps`)
 *   tls.ca     PEM file of CAs trusted for a wss:// relay, besides the
 *              system store [""]
 *   tls.insecure true | false: accept any relay certificate (warns) [false]
 *   tls.cert   PEM client certificate for relays that demand one [""]
 *   tls.key    PEM private key of tls.cert [""]
 *   log        stderr | off | file path [stderr]
 *   loglevel   error | warn | info | debug [warn]
 *   alloc      allocation sampling interval in bytes (512k) or off [off]  (issue 4)
 *   alloc.mode allocation sampler mode, free text for the alloc module [""]
 *   lock       lock contention threshold (duration, e.g. 10ms) or off [off]
 *   gc         on | off: GC pause, heap and thread-state series (gc.h) [on]
 *   overhead   N% (0.1% to 50%, e.g. 1%, 0.5%) or off: the agent's CPU
 *              budget, a share of the JVM's CPU it keeps over every minute
 *              by stretching its sampling intervals (overhead.h) [1%]
 *   memory     SIZE (16m to 1g): the agent's memory budget for its
 *              dictionaries, send buffer and sample ring together [32m]
 *   context.http on | off | eager: HTTP server entry points set the endpoint
 *              label and trace/span from traceparent (ctxhook.h) [on]; on
 *              hooks classes from the first HTTP API class on, eager from
 *              the JVM's start (each CDS class then costs a read)
 *   context.executors on | off (true | false): executor tasks run under
 *              their submitter's context (ctxhook.h) [off]
 *   context.vthreads on | off: context per virtual thread on JDK 21+
 *              (mount/unmount events; each mount then costs a VM call,
 *              ctx_vthread.h) [on]
 *   command    start | stop | detach [start]: on a (re-)attach, "detach"
 *              stops sampling, flushes the last window, disconnects and
 *              leaves the JVM as if the agent were idle (the .so stays
 *              mapped: HotSpot never unloads agents); "stop" pauses
 *              sampling but stays connected; "start" (re)starts.
 *   python     off | on | children: sample the Python stacks of the JVM's
 *              Python descendants from outside (process_vm_readv; pysample.h):
 *              "on" = PySpark daemons and workers, "children" = any [off]
 *   verdict    internal to `cprof attach`: the absolute path of a file
 *              the agent writes its verdict on this attach's options to
 *              (verdict.h); used once, never kept in the settings
 * Durations: integer + ns|us|ms|s|m; a bare number means ms.
 * Sizes: integer + b|k|m|g (or kb/mb/gb, kib/mib/gib); a bare number = bytes.
 *
 * An unknown key or a malformed value produces one warning line naming it
 * (through the warn callback) and is otherwise ignored; parsing continues.
 * The *_to variants also hand a verdict on every element to a judge
 * callback (applied, or refused and why), for `cprof attach`.
 *
 * Thread: any; no global state. Not signal-safe. The struct is plain data
 * (fixed arrays), so a copy is a struct assignment. */
#ifndef CP_OPTIONS_H
#define CP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CP_OPT_MAX_LABELS 32
#define CP_OPT_STR_MAX    512
#define CP_OPT_KEY_MAX    64
#define CP_OPT_VAL_MAX    256
#define CP_CTX_HTTP_EAGER 2       /* context.http=eager (ctxhook.h) */

typedef enum cp_opt_command {
    CP_CMD_START  = 0,
    CP_CMD_STOP   = 1,
    CP_CMD_DETACH = 2,
} cp_opt_command_t;

typedef enum cp_opt_loglevel {
    CP_LOG_ERROR = 0,
    CP_LOG_WARN  = 1,
    CP_LOG_INFO  = 2,
    CP_LOG_DEBUG = 3,
} cp_opt_loglevel_t;

typedef struct cp_opt_label {
    char key[CP_OPT_KEY_MAX];
    char value[CP_OPT_VAL_MAX];
} cp_opt_label_t;

typedef struct cp_options {
    char     relay[CP_OPT_STR_MAX];
    char     app[CP_OPT_VAL_MAX];       /* "" = detect (main class / jar) */
    cp_opt_label_t labels[CP_OPT_MAX_LABELS];
    uint32_t n_labels;
    int64_t  cpu_ns;                    /* 0 = off */
    int      cpu_engine;                /* CP_SAMPLER_ENGINE_*: 0 auto, 1 perf, 2 timer */
    int      cpu_native;                /* 1 = walk native frames (default) */
    int      jit_kinds;                 /* 1 = frame kinds from CompiledMethodLoad (default 0) */
    int64_t  wall_ns;                   /* 0 = off */
    int64_t  flush_ns;
    int64_t  buffer_bytes;
    char     token[CP_OPT_VAL_MAX];
    char     tls_ca[CP_OPT_STR_MAX];    /* "" = system store only */
    char     tls_cert[CP_OPT_STR_MAX];  /* client certificate (mutual TLS) */
    char     tls_key[CP_OPT_STR_MAX];
    int      tls_insecure;              /* 1 = skip verifying the relay (warned) */
    char     log[CP_OPT_STR_MAX];       /* "stderr", "off" or a path */
    int      loglevel;                  /* cp_opt_loglevel_t */
    int64_t  alloc_bytes;               /* 0 = off */
    char     alloc_mode[CP_OPT_KEY_MAX];
    int64_t  lock_ns;                   /* 0 = off */
    int      gc;                        /* 1 = GC/heap/thread series on (default) */
    int      context_http;              /* 1 = HTTP entry points set endpoint/trace (default; ctxhook.h), CP_CTX_HTTP_EAGER */
    int      context_executors;         /* 1 = executor tasks carry their submitter's context */
    int      context_vthreads;          /* 1 = context per virtual thread (default; ctx_vthread.h) */
    int      command;                   /* cp_opt_command_t */
    char     verdict[CP_OPT_STR_MAX];   /* verdict file of this attach; "" = none */
    int64_t  overhead_ppm;              /* CPU budget, ppm of the JVM's CPU; 0 = off (overhead.h) */
    int64_t  memory_bytes;              /* memory budget: dictionaries + buffers + rings (overhead.h) */
    int      python;                    /* cp_opt_python_t: Python children's stacks (issue 21) */
} cp_options_t;

typedef enum cp_opt_python {
    CP_PY_OFF      = 0,   /* default */
    CP_PY_SPARK    = 1,   /* "on": PySpark daemons and workers (python -m pyspark.daemon,
                           * pyspark.worker, cprof_pyspark...) among the JVM's descendants */
    CP_PY_CHILDREN = 2,   /* "children": every Python descendant of the JVM */
} cp_opt_python_t;

/* Receives one complete warning line (no trailing newline). */
typedef void (*cp_options_warn_fn)(void *ud, const char *line);

/* Receives the verdict on one element: src is "option", the environment
 * variable's name ("CPROF_CPU") or "CPROF_LABELS"; key and value as given
 * (value NULL for an element without '='); reason NULL when applied, else
 * why it was refused ("unknown option" for a key the agent does not know). */
typedef void (*cp_options_judge_fn)(void *ud, const char *src, const char *key,
                                    const char *value, const char *reason);

/* Where a parse reports: warning lines, verdicts; either may be NULL. */
typedef struct cp_options_sink {
    cp_options_warn_fn  warn;
    void               *warn_ud;
    cp_options_judge_fn judge;
    void               *judge_ud;
} cp_options_sink_t;

void cp_options_defaults(cp_options_t *o);

/* Applies "k=v,k=v" onto o (keys not mentioned keep their value). NULL or ""
 * is fine. Returns the number of warnings issued (0 = all good). */
int cp_options_parse(cp_options_t *o, const char *str, cp_options_warn_fn warn, void *ud);

/* Applies CPROF_* environment variables onto o. Returns warnings issued. */
int cp_options_from_env(cp_options_t *o, cp_options_warn_fn warn, void *ud);

/* The same two, reporting to a sink (warnings and per-element verdicts). */
int cp_options_parse_to(cp_options_t *o, const char *str, const cp_options_sink_t *s);
int cp_options_from_env_to(cp_options_t *o, const cp_options_sink_t *s);

/* How a verdict names an element, as the user wrote it: "cpu=bogus",
 * "nonsense", "CPROF_CPU=bogus", "CPROF_LABELS entry env=prod"; a token's
 * value shows as "(hidden)" (token=@FILE is shown). */
void cp_options_format_element(const char *src, const char *key, const char *value,
                               char *out /* OUT */, size_t outlen);

/* Sets (or replaces) one label; returns false when the table is full. */
bool cp_options_set_label(cp_options_t *o, const char *key, const char *value);

/* Parsers, exposed for tests and other modules. Return 0 or CP_EINVAL. */
int cp_options_parse_percent(const char *s, int64_t *ppm /* OUT */);  /* "1%", "0.5%", "1"; "off" -> 0 */
int cp_options_parse_duration(const char *s, int64_t *ns /* OUT */);  /* "off" -> 0 */
int cp_options_parse_size(const char *s, int64_t *bytes /* OUT */);   /* "off" -> 0 */

/* Short human text of the effective options, each once, for the log:
 * "relay=... app=... cpu=...". app: the name in use (the agent resolves
 * "" to the main class), or NULL for o->app / "(auto)". */
void cp_options_describe(const cp_options_t *o, const char *app, char *out, size_t outlen);

#endif
