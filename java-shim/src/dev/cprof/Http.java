package dev.cprof;

import java.lang.reflect.Method;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Automatic request context for HTTP servers (context.http, on by default).
 *
 * <p>The agent wraps, when they are first loaded, the methods through which
 * a server hands a request to user code (jvmti/httpctx.c): the JDK server's
 * {@code com.sun.net.httpserver.Filter.Chain.doFilter} (every handler, lambdas
 * included) and any class's {@code handle(HttpExchange)}, and
 * {@code HttpServlet.service(ServletRequest, ServletResponse)} of
 * javax.servlet and jakarta.servlet. The wrapper calls {@link #enter} with
 * the exchange or request before the original method and {@link #exit} with
 * what enter returned after it, whether it returned or threw.
 *
 * <p>enter sets the label {@code endpoint} to the method, one space and the
 * path with ids folded ({@link #endpoint}), and, when a W3C
 * {@code traceparent} header came with the request, the trace id and span id
 * (the caller's span, since no tracer here makes a child span). The
 * outermost entry on a thread wins: a filter chain inside a chain, or a
 * servlet calling another, keeps the first endpoint (nested entries return
 * null and exit ignores null).
 *
 * <p>Nothing here may break the server: every failure (an unknown request
 * class, reflection refused) gives a request without context.
 */
public final class Http {
    private Http() {}

    /** Distinct endpoints per JVM; past it, {@code METHOD {other}}. */
    static final int MAX_ENDPOINTS = 500;
    static final String OTHER = "{other}";
    private static final int MAX_PATH = 200;
    private static final int MAX_SEGMENTS = 12;

    private static final ThreadLocal<boolean[]> INSIDE = ThreadLocal.withInitial(() -> new boolean[1]);
    private static final ConcurrentHashMap<String, Boolean> SEEN = new ConcurrentHashMap<>();

    /** Open scopes of one request: closed in reverse order by exit. */
    private static final class Token {
        final boolean[] inside;
        final Cprof.Scope endpoint, trace;

        Token(boolean[] inside, Cprof.Scope endpoint, Cprof.Scope trace) {
            this.inside = inside;
            this.endpoint = endpoint;
            this.trace = trace;
        }
    }

    /** Called by the wrapped entry with the exchange or request; the token for exit. */
    public static Object enter(Object req) {
        if (req == null) return null;
        try {
            boolean[] in = INSIDE.get();
            if (in[0]) return null;
            String[] mpt = Access.read(req);
            if (mpt == null) return null;
            in[0] = true;
            Cprof.Scope e = Cprof.context("endpoint", endpoint(mpt[0], mpt[1]));
            Cprof.Scope t = null;
            String tp = mpt[2];
            if (tp != null && validTraceparent(tp)) t = Cprof.trace(tp.substring(3, 35), tp.substring(36, 52));
            return new Token(in, e, t);
        } catch (Throwable x) {
            return null;
        }
    }

    /** Called by the wrapped entry on return and on throw with enter's result. */
    public static void exit(Object token) {
        if (!(token instanceof Token)) return;
        Token t = (Token) token;
        try {
            if (t.trace != null) t.trace.close();
            t.endpoint.close();
        } catch (Throwable x) {
            // never fail the request
        } finally {
            t.inside[0] = false;
        }
    }

    /**
     * "GET /orders/{n}": the method (upper case; an unknown one is OTHER),
     * one space, the path with each segment that looks like an id folded:
     * only digits -> {n}; a UUID, 16+ hex digits (12+ when one is a decimal
     * digit), or 24+ characters with a digit -> {id}. The query is never part of it.
     * At most {@value #MAX_ENDPOINTS} distinct values per JVM; later new ones
     * are "METHOD {other}".
     */
    public static String endpoint(String method, String path) {
        String m = method(method);
        String p = fold(path);
        String e = m + " " + p;
        if (SEEN.containsKey(e)) return e;
        if (SEEN.size() >= MAX_ENDPOINTS) return m + " " + OTHER;
        SEEN.putIfAbsent(e, Boolean.TRUE);
        return e;
    }

    private static final String[] METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT"};

    static String method(String m) {
        if (m == null) return "OTHER";
        for (String k : METHODS) if (k.equalsIgnoreCase(m)) return k;
        return "OTHER";
    }

    static String fold(String path) {
        if (path == null || path.isEmpty()) return "/";
        int q = path.indexOf('?');
        if (q >= 0) path = path.substring(0, q);
        if (path.length() > MAX_PATH) path = path.substring(0, MAX_PATH);
        StringBuilder b = new StringBuilder(path.length());
        int i = 0, n = path.length(), segs = 0;
        if (path.charAt(0) != '/') b.append('/');
        while (i < n) {
            if (path.charAt(i) == '/') {
                b.append('/');
                i++;
                continue;
            }
            int j = path.indexOf('/', i);
            if (j < 0) j = n;
            if (++segs > MAX_SEGMENTS) {
                b.append("{...}");
                break;
            }
            b.append(segment(path, i, j));
            i = j;
        }
        return b.toString();
    }

    private static String segment(String p, int from, int to) {
        int len = to - from, digits = 0, hex = 0;
        for (int i = from; i < to; i++) {
            char c = p.charAt(i);
            if (c >= '0' && c <= '9') digits++;
            if (Character.digit(c, 16) >= 0) hex++;
        }
        if (digits == len) return "{n}";
        if (isUuid(p, from, to)) return "{id}";
        if (hex == len && (len >= 16 || (len >= 12 && digits > 0))) return "{id}";
        if (digits > 0 && len >= 24) return "{id}";
        return p.substring(from, to);
    }

    private static boolean isUuid(String p, int from, int to) {
        if (to - from != 36) return false;
        for (int i = 0; i < 36; i++) {
            char c = p.charAt(from + i);
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (c != '-') return false;
            } else if (Character.digit(c, 16) < 0) {
                return false;
            }
        }
        return true;
    }

    /** W3C trace-context: "vv-<32 hex>-<16 hex>-ff", lower case, version not ff, ids not all zero. */
    static boolean validTraceparent(String s) {
        s = s.trim();
        if (s.length() < 55 || (s.length() > 55 && s.charAt(55) != '-')) return false;
        if (s.charAt(2) != '-' || s.charAt(35) != '-' || s.charAt(52) != '-') return false;
        if (!lowerHex(s, 0, 2) || s.startsWith("ff") || !lowerHex(s, 3, 35) || !lowerHex(s, 36, 52) || !lowerHex(s, 53, 55))
            return false;
        if (s.startsWith("00") && s.length() != 55) return false;
        return !allZero(s, 3, 35) && !allZero(s, 36, 52);
    }

    private static boolean lowerHex(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        }
        return true;
    }

    private static boolean allZero(String s, int from, int to) {
        for (int i = from; i < to; i++) if (s.charAt(i) != '0') return false;
        return true;
    }

    /**
     * Reads method, raw path and traceparent from a JDK HttpExchange or a
     * (javax|jakarta) HttpServletRequest by reflection, through the public
     * API type (the server's own classes may not be accessible); the shim
     * cannot link against either API. Accessors are cached per class.
     */
    static final class Access {
        final Method method, uri, header, headers;
        final boolean jdk;

        private Access(Method method, Method uri, Method header, Method headers, boolean jdk) {
            this.method = method;
            this.uri = uri;
            this.header = header;
            this.headers = headers;
            this.jdk = jdk;
        }

        private static final Access NONE = new Access(null, null, null, null, false);
        private static final ClassValue<Access> BY_CLASS = new ClassValue<Access>() {
            @Override
            protected Access computeValue(Class<?> c) {
                try {
                    return find(c);
                } catch (Throwable x) {
                    return NONE;
                }
            }
        };

        static String[] read(Object req) throws Exception {
            Access a = BY_CLASS.get(req.getClass());
            if (a == NONE) return null;
            String m = (String) a.method.invoke(req);
            if (a.jdk) {
                java.net.URI u = (java.net.URI) a.uri.invoke(req);
                Object h = a.headers.invoke(req);
                String tp = null;
                if (h instanceof Map) {
                    Object v = ((Map<?, ?>) h).get("traceparent");
                    if (v instanceof List && !((List<?>) v).isEmpty()) tp = String.valueOf(((List<?>) v).get(0));
                }
                return new String[] {m, u == null ? null : u.getRawPath(), tp};
            }
            return new String[] {m, (String) a.uri.invoke(req), (String) a.header.invoke(req, "traceparent")};
        }

        private static Access find(Class<?> c) throws Exception {
            for (Class<?> k = c; k != null; k = k.getSuperclass())
                if (k.getName().equals("com.sun.net.httpserver.HttpExchange"))
                    return new Access(k.getMethod("getRequestMethod"), k.getMethod("getRequestURI"), null,
                            k.getMethod("getRequestHeaders"), true);
            Class<?> i = servletRequest(c);
            if (i == null) return NONE;
            return new Access(i.getMethod("getMethod"), i.getMethod("getRequestURI"),
                    i.getMethod("getHeader", String.class), null, false);
        }

        private static Class<?> servletRequest(Class<?> c) {
            for (Class<?> k = c; k != null; k = k.getSuperclass()) {
                for (Class<?> i : k.getInterfaces()) {
                    String n = i.getName();
                    if (n.equals("javax.servlet.http.HttpServletRequest") || n.equals("jakarta.servlet.http.HttpServletRequest"))
                        return i;
                    Class<?> s = servletRequest(i);
                    if (s != null) return s;
                }
            }
            return null;
        }
    }
}
