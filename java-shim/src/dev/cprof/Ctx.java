package dev.cprof;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The implementation of {@link Cprof#context} and friends (see Cprof's
 * class comment for the rules, docs/context.md for the design).
 *
 * <p>Java side: each thread (virtual threads included) holds its current
 * {@link Cprof.Context} in a ThreadLocal. A label set is interned once by
 * the agent ({@link #define0}: content -> dense id, per JVM) and cached here
 * by (parent set id, the pairs given), so an open on a known set costs a map
 * lookup, two small objects and one JNI call.
 *
 * <p>Agent side: {@link #set0} writes the thread's slot (a double-buffered
 * thread-local record in the agent) that the signal handler copies into each
 * sample; no lock, no allocation there (jvmti/context.h).
 *
 * <p>{@link #on} is false without the agent (its natives do not link): every
 * call then returns {@link #NOOP} and costs a branch. An agent attached
 * after this class was initialised is seen once it calls cp_context_start.
 */
final class Ctx {
    private Ctx() {}

    static final int MAX_PAIRS = 8;
    static final int MAX_LEN = 200;
    static final int MAX_SETS = 65535;
    static final String[] NO_PAIRS = new String[0];

    /** The agent is in this JVM: its natives answer (found by name in the
     *  agent library, whatever loader loaded this class; see jvmti/context.c).
     *  The agent may also set it when it registers the natives itself. */
    static volatile boolean on = probe();
    /** The agent's label-set table is full: new sets fall back to their parent. */
    private static volatile boolean full;

    static final class State {
        Cprof.Context cur = Cprof.Context.EMPTY;
    }

    private static final ThreadLocal<State> TL = ThreadLocal.withInitial(State::new);
    private static final Cprof.Scope NOOP = new Cprof.Scope(null, null);

    /** (parent set, pairs as given): the cache key of a context() call. */
    private static final class Key {
        final int parent;
        final String[] kv;
        final int hash;

        Key(int parent, String[] kv) {
            this.parent = parent;
            this.kv = kv;
            this.hash = parent * 31 + Arrays.hashCode(kv);
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Key)) return false;
            Key k = (Key) o;
            return k.parent == parent && k.hash == hash && Arrays.equals(k.kv, kv);
        }
    }

    /** A label set known to the agent: id and canonical pairs. */
    private static final class Labels {
        final int set;
        final String[] pairs;

        Labels(int set, String[] pairs) {
            this.set = set;
            this.pairs = pairs;
        }
    }

    private static final ConcurrentHashMap<Key, Labels> SETS = new ConcurrentHashMap<>();

    static Cprof.Scope context(String[] kv) {
        if (kv == null) kv = NO_PAIRS;
        if ((kv.length & 1) != 0)
            throw new IllegalArgumentException("Cprof.context: key/value pairs expected, got " + kv.length + " strings");
        if (!on) return NOOP;
        State st = TL.get();
        Cprof.Context prev = st.cur;
        Labels l = labels(prev, kv);
        Cprof.Context c = l.set == prev.set ? prev
                : new Cprof.Context(l.set, l.pairs, prev.traceHi, prev.traceLo, prev.span);
        return install(st, prev, c);
    }

    static Cprof.Scope trace(String traceHex, String spanHex) {
        if (!on || traceHex == null) return NOOP;
        int n = traceHex.length();
        if ((n != 32 && n != 16) || !isHex(traceHex, n)) return NOOP;
        long hi = n == 32 ? parseHex(traceHex, 0) : 0;
        long lo = parseHex(traceHex, n - 16);
        if (hi == 0 && lo == 0) return NOOP;
        long span = spanHex != null && spanHex.length() == 16 && isHex(spanHex, 16) ? parseHex(spanHex, 0) : 0;
        State st = TL.get();
        Cprof.Context prev = st.cur;
        return install(st, prev, new Cprof.Context(prev.set, prev.pairs, hi, lo, span));
    }

    static Cprof.Context current() {
        return on ? TL.get().cur : Cprof.Context.EMPTY;
    }

    static Cprof.Scope attach(Cprof.Context c) {
        if (!on) return NOOP;
        State st = TL.get();
        return install(st, st.cur, c == null ? Cprof.Context.EMPTY : c);
    }

    static void refresh() {
        if (!on) return;
        Cprof.Context c = TL.get().cur;
        set0(c.set, c.traceHi, c.traceLo, c.span);
    }

    /** Scope.close(): back to prev on the closing thread. */
    static void restore(Cprof.Context prev) {
        State st = TL.get();
        st.cur = prev;
        if (on) set0(prev.set, prev.traceHi, prev.traceLo, prev.span);
    }

    private static Cprof.Scope install(State st, Cprof.Context prev, Cprof.Context c) {
        st.cur = c;
        set0(c.set, c.traceHi, c.traceLo, c.span);
        return new Cprof.Scope(st, prev);
    }

    private static Labels labels(Cprof.Context parent, String[] kv) {
        Key k = new Key(parent.set, kv);
        Labels l = SETS.get(k);
        if (l != null) return l;
        String[] pairs = merge(parent.pairs, kv);
        int id = Arrays.equals(pairs, parent.pairs) ? parent.set : -1;
        if (id < 0) {
            if (full) return new Labels(parent.set, parent.pairs);
            id = pairs.length == 0 ? 0 : define0(pairs);
            if (id < 0) {                      // the agent's table is full
                full = true;
                return new Labels(parent.set, parent.pairs);
            }
        }
        l = new Labels(id, pairs);
        SETS.put(new Key(parent.set, kv.clone()), l);   // the caller may reuse its array
        return l;
    }

    /** parent pairs (sorted) + kv: new values win, null removes; sorted by key. */
    static String[] merge(String[] parent, String[] kv) {
        String[] keys = new String[parent.length / 2 + kv.length / 2];
        String[] vals = new String[keys.length];
        int n = 0;
        for (int i = 0; i < parent.length; i += 2) {
            keys[n] = parent[i];
            vals[n++] = parent[i + 1];
        }
        for (int i = 0; i < kv.length; i += 2) {
            String key = cut(kv[i]), val = kv[i + 1] == null ? null : cut(kv[i + 1]);
            if (key == null || key.isEmpty()) continue;
            int j = 0;
            while (j < n && !keys[j].equals(key)) j++;
            if (j < n) vals[j] = val;
            else if (val != null && live(vals, n) < MAX_PAIRS) {
                keys[n] = key;
                vals[n++] = val;
            }
        }
        int m = live(vals, n);
        String[][] sorted = new String[m][];
        for (int i = 0, o = 0; i < n; i++)
            if (vals[i] != null) sorted[o++] = new String[] {keys[i], vals[i]};
        Arrays.sort(sorted, (a, b) -> a[0].compareTo(b[0]));
        String[] out = new String[m * 2];
        for (int i = 0; i < m; i++) {
            out[2 * i] = sorted[i][0];
            out[2 * i + 1] = sorted[i][1];
        }
        return out;
    }

    private static int live(String[] vals, int n) {
        int m = 0;
        for (int i = 0; i < n; i++) if (vals[i] != null) m++;
        return m;
    }

    private static String cut(String s) {
        return s == null || s.length() <= MAX_LEN ? s : s.substring(0, MAX_LEN);
    }

    private static int digit(int c) {
        if (c >= '0' && c <= '9') return c - '0';
        c |= 0x20;                                   // lower case
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    }

    private static boolean isHex(String s, int n) {
        for (int i = 0; i < n; i++) if (digit(s.charAt(i)) < 0) return false;
        return true;
    }

    /** 16 hex digits of s from `from` (checked by isHex). */
    private static long parseHex(String s, int from) {
        long v = 0;
        for (int i = from; i < from + 16; i++) v = (v << 4) | digit(s.charAt(i));
        return v;
    }

    static String hex(long v) {
        String s = Long.toHexString(v);
        return "0000000000000000".substring(s.length()) + s;
    }

    private static boolean probe() {
        try {
            return on0();
        } catch (Throwable t) {          // UnsatisfiedLinkError: no agent
            return false;
        }
    }

    private static native boolean on0();

    /** Interns a label set (k1, v1, ... sorted by key) in the agent; its id
     *  (> 0), or -1 when the agent's table is full. */
    private static native int define0(String[] pairs);

    /** Publishes the calling thread's context to the agent's per-thread slot. */
    private static native void set0(int set, long traceHi, long traceLo, long span);
}
