/* insights_rules.c - the insights rules table and the library prefix table
 * (syntax and meaning in insights_rules.h; thresholds and their reasons in
 * docs/insights.md, which lists the same numbers: change both together).
 *
 * Thresholds are shares of the profile type's total (all threads) unless
 * the row's metric is a rate. Where JDK Mission Control has a rule for the
 * same problem its defaults are the starting point (GC pause ratio 5/10 %,
 * long GC pause 1 s, autoboxing 20/80 % of allocation); rules JMC has no
 * counterpart for use "waste" thresholds: work that a one-line fix removes
 * (compiling the same regex, building the same ObjectMapper) is INFO at 1-2 %
 * and WARN at 3-5 % of the type; work that is often the job itself
 * (serialization, logging, a hot method) needs a much larger share.
 *
 * Thread: any (read-only). */
#include "insights_rules.h"

#include <string.h>

#include "stack_dict.h"

#define END NULL

const cp_irule_t cp_irules[] = {
    /* ---- CPU ------------------------------------------------------------ */
    {"hot-method", "One method takes a large share of the CPU", "cpu", CP_IRULE_HOT_LEAF, CP_IMETRIC_SHARE,
     0.15, 0.40, 0.30,
     "Look at what this method does per call and how often it is called (see the callers): a better "
     "algorithm or data structure, caching a result, or calling it less often. A CPU-bound batch job may "
     "legitimately spend its time here.",
     {END}, {END}},
    {"regex-compile", "Regular expressions compiled on every call", "cpu", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.02, 0.05, 0.90,
     "Compile the pattern once (a static final Pattern) and reuse it. String.split, replaceAll, "
     "replaceFirst and matches compile their regex argument on every call (split only skips it for a "
     "single plain character): use a precompiled Pattern's split/matcher instead.",
     {"java.util.regex.Pattern.compile", "java.util.regex.Pattern.<init>", END}, {END}},
    {"regex-compile", "Regular expressions compiled on every call", "alloc", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.02, 0.05, 0.90,
     "Compile the pattern once (a static final Pattern) and reuse it; String.split/replaceAll/matches "
     "compile their regex on every call.",
     {"java.util.regex.Pattern.compile", "java.util.regex.Pattern.<init>", END}, {END}},
    {"exception-cost", "Exceptions are created often (stack traces filled in)", "cpu", CP_IRULE_PATTERN,
     CP_IMETRIC_SHARE, 0.02, 0.05, 0.80,
     "Do not use exceptions for control flow (parsing, lookups, validation in a loop): test first "
     "(e.g. check the input before Integer.parseInt). For exceptions you must throw often, reuse a "
     "preallocated instance or override fillInStackTrace() (or use the (msg, cause, false, false) "
     "constructor) so no stack trace is captured.",
     {"java.lang.Throwable.fillInStackTrace", "*.fillInStackTrace", "java.lang.StackTraceElement.of",
      "java.lang.Throwable.getOurStackTrace", END},
     {END}},
    {"exception-cost", "Exceptions are created often (stack traces filled in)", "alloc", CP_IRULE_PATTERN,
     CP_IMETRIC_SHARE, 0.02, 0.05, 0.80,
     "Do not use exceptions for control flow; reuse a preallocated exception or skip the stack trace "
     "(override fillInStackTrace) where one is thrown often.",
     {"java.lang.Throwable.fillInStackTrace", "*.fillInStackTrace", "java.lang.Throwable.<init>",
      "java.lang.Exception.<init>", "java.lang.RuntimeException.<init>", "java.lang.StackTraceElement.of", END},
     {END}},
    {"logging-cost", "Logging takes a large share", "cpu", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.05, 0.15, 0.50,
     "Log less on hot paths: raise the level of chatty loggers, guard expensive messages with "
     "isDebugEnabled() or use parameterised messages ({} placeholders) so disabled messages cost "
     "nothing, avoid computing caller location (%L, %M, %C, includeLocation), and use an asynchronous "
     "appender.",
     {"org.slf4j.*", "ch.qos.logback.*", "org.apache.logging.log4j.*", "org.apache.log4j.*",
      "java.util.logging.*", "org.jboss.logging.*", "org.apache.commons.logging.*", "org.tinylog.*", END},
     {"java.util.logging.Logger.getLogger", "org.slf4j.LoggerFactory.getLogger",
      "org.apache.logging.log4j.LogManager.getLogger", END}},
    {"logging-cost", "Logging takes a large share", "alloc", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.05, 0.15, 0.50,
     "Log less on hot paths; use parameterised messages so disabled levels allocate nothing; prefer "
     "garbage-free layouts/appenders.",
     {"org.slf4j.*", "ch.qos.logback.*", "org.apache.logging.log4j.*", "org.apache.log4j.*",
      "java.util.logging.*", "org.jboss.logging.*", "org.apache.commons.logging.*", "org.tinylog.*", END},
     {"java.util.logging.Logger.getLogger", "org.slf4j.LoggerFactory.getLogger",
      "org.apache.logging.log4j.LogManager.getLogger", END}},
    {"recreated-objects", "Expensive objects are built again and again", "cpu", CP_IRULE_PATTERN,
     CP_IMETRIC_SHARE, 0.01, 0.03, 0.95,
     "These objects are meant to be built once and shared: keep the ObjectMapper / JAXBContext / "
     "SecureRandom / logger in a static final field, and the formatter in a static final "
     "DateTimeFormatter (thread-safe) or a ThreadLocal<SimpleDateFormat>.",
     {"com.fasterxml.jackson.databind.ObjectMapper.<init>", "javax.xml.bind.JAXBContext.newInstance",
      "jakarta.xml.bind.JAXBContext.newInstance", "java.security.SecureRandom.<init>",
      "java.text.SimpleDateFormat.<init>", "java.text.DecimalFormat.<init>",
      "java.util.logging.Logger.getLogger", "org.slf4j.LoggerFactory.getLogger",
      "org.apache.logging.log4j.LogManager.getLogger", "javax.xml.parsers.DocumentBuilderFactory.newInstance",
      "javax.xml.parsers.SAXParserFactory.newInstance", "javax.xml.transform.TransformerFactory.newInstance",
      "javax.xml.xpath.XPathFactory.newInstance", "com.google.gson.Gson.<init>",
      "java.time.format.DateTimeFormatter.ofPattern", "javax.crypto.Cipher.getInstance",
      "java.security.MessageDigest.getInstance", "javax.net.ssl.SSLContext.getInstance", END},
     /* built once per class; or inside JDK formatting (MessageFormat makes
      * its own DecimalFormat per call: that is string-format's finding) */
     {"*.<clinit>", "java.text.MessageFormat.*", "java.util.Formatter.*", "java.lang.String.format", END}},
    {"recreated-objects", "Expensive objects are built again and again", "alloc", CP_IRULE_PATTERN,
     CP_IMETRIC_SHARE, 0.01, 0.03, 0.95,
     "Keep ObjectMapper, JAXBContext, SecureRandom, loggers and formatters in static final fields "
     "instead of building them per call.",
     {"com.fasterxml.jackson.databind.ObjectMapper.<init>", "javax.xml.bind.JAXBContext.newInstance",
      "jakarta.xml.bind.JAXBContext.newInstance", "java.security.SecureRandom.<init>",
      "java.text.SimpleDateFormat.<init>", "java.text.DecimalFormat.<init>",
      "java.util.logging.Logger.getLogger", "org.slf4j.LoggerFactory.getLogger",
      "org.apache.logging.log4j.LogManager.getLogger", "javax.xml.parsers.DocumentBuilderFactory.newInstance",
      "javax.xml.transform.TransformerFactory.newInstance", "com.google.gson.Gson.<init>",
      "java.time.format.DateTimeFormatter.ofPattern", END},
     {"*.<clinit>", "java.text.MessageFormat.*", "java.util.Formatter.*", "java.lang.String.format", END}},
    {"string-format", "String.format on a hot path", "cpu", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.03, 0.10, 0.80,
     "String.format parses its format string on every call: use a StringBuilder or string "
     "concatenation (compiled to invokedynamic concat), or format numbers directly.",
     {"java.lang.String.format", "java.lang.String.formatted", "java.util.Formatter.format",
      "java.text.MessageFormat.format", "java.io.PrintStream.printf", "java.io.PrintStream.format", END},
     {END}},
    {"string-format", "String.format on a hot path", "alloc", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.03, 0.10, 0.80,
     "String.format allocates a Formatter and parses its pattern per call: use a StringBuilder or "
     "concatenation.",
     {"java.lang.String.format", "java.lang.String.formatted", "java.util.Formatter.format",
      "java.text.MessageFormat.format", "java.io.PrintStream.printf", "java.io.PrintStream.format", END},
     {END}},
    {"serialization", "Serialization takes a large share", "cpu", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.10, 0.25, 0.50,
     "Serialize less (cache serialized forms, send only the fields needed), avoid java.io "
     "serialization (slow and unsafe) in favour of a binary codec, reuse ObjectMapper/ObjectWriter "
     "instances, and use streaming APIs for large documents.",
     {"java.io.ObjectOutputStream.*", "java.io.ObjectInputStream.*", "com.fasterxml.jackson.*",
      "com.google.gson.*", "javax.xml.bind.*", "jakarta.xml.bind.*", "org.json.*", "com.alibaba.fastjson.*",
      "com.esotericsoftware.kryo.*", "javax.json.*", "jakarta.json.*", END},
     {END}},
    {"serialization", "Serialization takes a large share", "alloc", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.10, 0.25, 0.50,
     "Serialize less, avoid java.io serialization, reuse writers and buffers, stream large documents.",
     {"java.io.ObjectOutputStream.*", "java.io.ObjectInputStream.*", "com.fasterxml.jackson.*",
      "com.google.gson.*", "javax.xml.bind.*", "jakarta.xml.bind.*", "org.json.*", "com.alibaba.fastjson.*",
      "com.esotericsoftware.kryo.*", "javax.json.*", "jakarta.json.*", END},
     {END}},
    {"collection-misuse", "Collections used in a costly way", "cpu", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.03, 0.10, 0.80,
     "LinkedList.get(i) walks the list: iterate, or use an ArrayList. ArrayList.remove/indexOf/contains "
     "scan and shift the array: use a HashSet/ArrayDeque or remove with removeIf. Presize HashMap, "
     "ArrayList and StringBuilder when the size is known (new HashMap<>(n * 4 / 3 + 1), new "
     "StringBuilder(n)).",
     {"java.util.LinkedList.node", "java.util.ArrayList.indexOf", "java.util.ArrayList.indexOfRange",
      "java.util.ArrayList.lastIndexOf", "java.util.ArrayList.contains", "java.util.ArrayList.remove",
      "java.util.ArrayList.fastRemove", "java.util.HashMap.resize", "java.util.ArrayList.grow",
      "java.lang.AbstractStringBuilder.ensureCapacityInternal > java.util.Arrays.copyOf",
      "java.lang.AbstractStringBuilder.newCapacity", END},
     {END}},
    {"collection-misuse", "Collections used in a costly way", "alloc", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.05, 0.15, 0.80,
     "Growing collections reallocate: presize HashMap, ArrayList and StringBuilder when the size is "
     "known.",
     {"java.util.HashMap.resize", "java.util.ArrayList.grow", "java.lang.AbstractStringBuilder.ensureCapacityInternal",
      "java.lang.AbstractStringBuilder.newCapacity", "java.util.ArrayDeque.grow", END},
     {END}},
    {"reflection-after-warmup", "Reflection on a hot path", "cpu", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.02, 0.05, 0.70,
     "Look methods and fields up once (cache the Method/Field, or better a MethodHandle in a static "
     "final field) instead of per call; Class.forName and getDeclaredMethod(s) are slow and allocate.",
     {"java.lang.Class.getMethod", "java.lang.Class.getDeclaredMethod", "java.lang.Class.getMethods",
      "java.lang.Class.getDeclaredMethods", "java.lang.Class.getDeclaredField", "java.lang.Class.getField",
      "java.lang.Class.getDeclaredFields", "java.lang.Class.getDeclaredConstructor", "java.lang.Class.forName",
      "java.lang.Class.newInstance", "java.lang.reflect.Method.invoke", "java.lang.reflect.Constructor.newInstance",
      "java.lang.reflect.Field.get", "java.lang.reflect.Field.set", END},
     /* start-up paths, where reflection belongs: class initialisation, class
      * loading, service loading, dependency-injection bootstraps */
     {"*.<clinit>", "java.lang.ClassLoader.loadClass", "java.util.ServiceLoader.*",
      "org.springframework.context.support.AbstractApplicationContext.refresh", "sun.launcher.*",
      /* serialization frameworks reflect internally: the serialization finding covers it */
      "java.io.ObjectInputStream.*", "java.io.ObjectOutputStream.*", "com.fasterxml.jackson.*", END}},
    {"tls-handshake", "TLS handshakes take a large share", "cpu", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.02, 0.05, 0.80,
     "Reuse connections (HTTP keep-alive, a connection pool), enable TLS session resumption, and do not "
     "create an SSLContext/SSLSocketFactory per request.",
     /* class prefixes without the dot: the work is in nested consumer and
      * producer classes (ClientHello$ClientHelloConsumer.consume, ...), and
      * an SSLEngine runs the expensive part in delegated tasks */
     {"sun.security.ssl.SSLSocketImpl.startHandshake", "sun.security.ssl.SSLHandshake*",
      "sun.security.ssl.HandshakeContext*", "sun.security.ssl.ClientHandshakeContext*",
      "sun.security.ssl.ServerHandshakeContext*", "sun.security.ssl.ClientHello*", "sun.security.ssl.ServerHello*",
      "sun.security.ssl.CertificateMessage*", "sun.security.ssl.CertificateVerify*",
      "sun.security.ssl.CertificateRequest*", "sun.security.ssl.EncryptedExtensions*",
      "sun.security.ssl.KeyShareExtension*", "sun.security.ssl.ECDHClientKeyExchange*",
      "sun.security.ssl.ECDHServerKeyExchange*", "sun.security.ssl.Finished*",
      "sun.security.ssl.TransportContext.kickstart", "sun.security.ssl.SSLEngineImpl.beginHandshake",
      "sun.security.ssl.SSLEngineImpl$DelegatedTask*", "io.netty.handler.ssl.SslHandler.handshake", END},
     {END}},
    {"tls-handshake", "TLS handshakes take a large share", "wall", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.02, 0.05, 0.80,
     "Reuse connections (keep-alive, pools) and TLS sessions instead of a handshake per request.",
     {"sun.security.ssl.SSLSocketImpl.startHandshake", "sun.security.ssl.SSLHandshake*",
      "sun.security.ssl.HandshakeContext*", "sun.security.ssl.TransportContext.kickstart",
      "sun.security.ssl.SSLEngineImpl$DelegatedTask*", END},
     {END}},
    {"boxing", "Primitive values boxed on a hot path", "cpu", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.03, 0.08, 0.80,
     "Avoid boxing in hot loops: use primitive arrays or primitive collections (e.g. int[] "
     "counters, LongAdder, fastutil/Eclipse Collections), and primitive streams (mapToInt).",
     {"java.lang.Integer.valueOf", "java.lang.Long.valueOf", "java.lang.Double.valueOf",
      "java.lang.Float.valueOf", "java.lang.Short.valueOf", "java.lang.Byte.valueOf",
      "java.lang.Character.valueOf", END},
     {END}},
    {"boxing", "Primitive values boxed on a hot path", "alloc", CP_IRULE_PATTERN, CP_IMETRIC_SHARE,
     0.20, 0.40, 0.90,
     "Boxed Integer/Long/Double objects dominate allocation: use primitive arrays or primitive "
     "collections instead of Map<Integer, ...>/List<Long>, and primitive streams.",
     {"[alloc] java.lang.Integer", "[alloc] java.lang.Long", "[alloc] java.lang.Double",
      "[alloc] java.lang.Float", "[alloc] java.lang.Short", "[alloc] java.lang.Byte",
      "[alloc] java.lang.Character", END},
     {END}},
    {"alloc-hotspot", "One code site allocates a large share of the memory", "alloc", CP_IRULE_HOT_SITE,
     CP_IMETRIC_SHARE, 0.20, 0.50, 0.50,
     "Allocate less here: reuse buffers, avoid temporary copies (substring, toArray, streams in hot "
     "loops), size collections up front. Allocation rate drives GC frequency.",
     {END}, {END}},
    /* ---- locks: thresholds on blocked threads (thread-seconds per second) */
    {"lock-contention", "Threads wait for a contended lock", "lock", CP_IRULE_LOCK_CLASS, CP_IMETRIC_RATE,
     0.05, 0.50, 0.80,
     "Hold the lock for less time (move work out of the synchronized block), split it (lock striping, "
     "per-key locks), or use a concurrent structure (ConcurrentHashMap, LongAdder, atomic fields).",
     {END}, {END}},
    {"legacy-sync", "Synchronized legacy classes are contended", "lock", CP_IRULE_PATTERN, CP_IMETRIC_RATE,
     0.02, 0.20, 0.90,
     "Replace Hashtable/Vector/StringBuffer/Collections.synchronized* with unsynchronized or concurrent "
     "classes (HashMap/ArrayList/StringBuilder when not shared, ConcurrentHashMap when shared); do not "
     "write to System.out/err on hot paths (PrintStream locks per call).",
     {"java.util.Hashtable.*", "java.util.Vector.*", "java.lang.StringBuffer.*", "java.util.Stack.*",
      "java.util.Collections$Synchronized*", "java.io.PrintStream.*", "java.util.Properties.*",
      "[lock] java.util.Hashtable", "[lock] java.util.Vector", "[lock] java.lang.StringBuffer",
      "[lock] java.io.PrintStream", "[lock] java.util.Collections$Synchronized*", END},
     {END}},
    /* ---- series (insights_series.c reads the numbers from here) --------- */
    {"gc-pause-ratio", "The application is paused for GC a large part of the time", "gc", CP_IRULE_SERIES,
     CP_IMETRIC_RATE, 0.05, 0.10, 0.80,
     "Reduce the allocation rate (see the alloc findings), give the heap more room (-Xmx, or a larger "
     "young generation), or use a low-pause collector (G1 with a pause target, ZGC, Shenandoah).",
     {END}, {END}},
    /* INFO past G1's default pause goal (MaxGCPauseMillis=200), WARN at 2.5x
     * it (JMC warns towards 1 s; a service's latency budget breaks sooner) */
    {"long-gc", "Long GC pauses", "gc", CP_IRULE_SERIES, CP_IMETRIC_RATE, 0.2, 0.5, 0.80,
     "Long pauses are usually full GCs: a heap too small for the live set, explicit System.gc() calls "
     "(remove them or run with -XX:+ExplicitGCInvokesConcurrent), humongous allocations, or a "
     "collector without concurrent old collection. Use G1/ZGC and size the heap above the live set.",
     {END}, {END}},
    {"long-gc", "Explicit System.gc() calls", "cpu", CP_IRULE_PATTERN, CP_IMETRIC_SHARE, 0.005, 0.02, 0.95,
     "Remove System.gc()/Runtime.gc() calls (each is a full, stop-the-world collection), or run with "
     "-XX:+ExplicitGCInvokesConcurrent / -XX:+DisableExplicitGC.",
     {"java.lang.System.gc", "java.lang.Runtime.gc", END}, {END}},
    {"long-gc", "Explicit System.gc() calls", "wall", CP_IRULE_PATTERN, CP_IMETRIC_SHARE, 0.005, 0.02, 0.95,
     "Remove System.gc()/Runtime.gc() calls (each is a full, stop-the-world collection), or run with "
     "-XX:+ExplicitGCInvokesConcurrent / -XX:+DisableExplicitGC.",
     {"java.lang.System.gc", "java.lang.Runtime.gc", END}, {END}},
    {"live-set-growth", "The heap after GC keeps growing", "gc", CP_IRULE_SERIES, CP_IMETRIC_RATE,
     0.05, 0.15, 1.0,
     "The live set grows steadily: a leak (a cache or map without eviction, listeners never removed, "
     "ThreadLocals on pooled threads) or a warming cache. Take two heap histograms (jcmd PID "
     "GC.class_histogram) some minutes apart and compare, or a heap dump.",
     {END}, {END}},
    {"thread-growth", "The number of threads keeps growing", "threads", CP_IRULE_SERIES, CP_IMETRIC_RATE,
     0.10, 0.30, 1.0,
     "Threads are created and not ended: use a bounded pool (one shared ExecutorService) instead of "
     "new Thread()/Executors per request, and shut pools down.",
     {END}, {END}},
    {"profile-quality", "The profile is incomplete", "cpu", CP_IRULE_QUALITY, CP_IMETRIC_SHARE,
     0.05, 0.15, 0.0,
     "Failed or truncated samples and missing inlined frames make every other finding less precise: run "
     "a current agent, keep DebugNonSafepoints on (the agent enables it unless told not to), and look at "
     "/api/v1/instances for the failure kinds.",
     {END}, {END}},
};

const size_t cp_n_irules = sizeof cp_irules / sizeof cp_irules[0];

const char *const cp_irule_library_prefixes[] = {
    "java.", "javax.", "jdk.", "sun.", "com.sun.", "jakarta.",
    "kotlin.", "kotlinx.", "scala.", "groovy.", "org.codehaus.groovy.",
    "org.springframework.", "org.apache.catalina.", "org.apache.coyote.", "org.apache.tomcat.",
    "org.eclipse.jetty.", "io.undertow.", "io.netty.", "reactor.", "io.reactivex.", "rx.",
    "io.micronaut.", "io.quarkus.", "io.vertx.", "org.jboss.", "org.glassfish.", "org.hibernate.",
    "com.fasterxml.jackson.", "com.google.gson.", "com.google.common.", "com.google.protobuf.",
    "org.slf4j.", "ch.qos.logback.", "org.apache.logging.", "org.apache.log4j.", "org.apache.commons.",
    "com.zaxxer.hikari.", "org.postgresql.", "com.mysql.", "oracle.jdbc.", "org.h2.", "org.junit.",
    "net.bytebuddy.", "org.objectweb.asm.", "org.aspectj.", "feign.", "okhttp3.", "retrofit2.",
    "org.apache.http.", "org.apache.hc.", "io.grpc.", "akka.", "org.apache.kafka.", "dev.cprof.",
    NULL,
};

bool cp_irule_name_match(const char *pat, size_t plen, const char *name, size_t nlen)
{
    if (plen && pat[plen - 1] == '*')   /* prefix */
        return nlen >= plen - 1 && !memcmp(name, pat, plen - 1);
    if (plen && pat[0] == '*')          /* suffix */
        return nlen >= plen - 1 && !memcmp(name + nlen - (plen - 1), pat + 1, plen - 1);
    return nlen == plen && !memcmp(name, pat, plen);
}

bool cp_irule_is_user(const char *name, uint8_t kind)
{
    if (kind > CP_FRAME_INLINED)
        return false;   /* native, kernel, synthetic */
    for (const char *const *p = cp_irule_library_prefixes; *p; p++)
        if (!strncmp(name, *p, strlen(*p)))
            return false;
    return true;
}
